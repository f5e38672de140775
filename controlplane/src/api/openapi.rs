//! The OpenAPI 3 document of `/v1`, written by hand from docs/api.md and served
//! at `GET /v1/openapi.json` without a token.
//!
//! It is built once as a [`serde_json::Value`]; tests check that every route the
//! router serves under `/v1` is described here.

use axum::Json;
use serde_json::{Value, json};

/// The document.
pub(crate) fn document() -> Value {
    let error = json!({"$ref": "#/components/responses/Error"});
    let written = json!({
        "description": "what the write did",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Written"}}}
    });
    let name_param = json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "description": "absolute owner name"});
    let type_param = json!({"name": "type", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/Type"}});
    let records = json!({
        "description": "records",
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}}
        }}}
    });
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "ferrodns REST API",
            "version": "1",
            "description": "Zones, records, health and statistics of a ferrodns appliance. Writes are durable (etcd or the embedded store) before a 2xx answer; a bad request is 400 naming the field, and nothing of it is written."
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/zones": {
                "get": {"summary": "List zones", "responses": {
                    "200": {"description": "zones", "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {"zones": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}
                    }}}},
                    "default": error
                }},
                "post": {"summary": "Create a zone (embedded store only)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}
                    }}}},
                    "responses": {"201": {"description": "created"}, "200": {"description": "it existed"}, "default": error}
                }
            },
            "/v1/zones/{zone}": {
                "delete": {"summary": "Delete a zone and its records",
                    "parameters": [{"name": "zone", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "{\"removed\":true}"}, "404": error, "default": error}
                }
            },
            "/v1/records": {
                "get": {"summary": "List records",
                    "parameters": [
                        {"name": "zone", "in": "query", "schema": {"type": "string"}},
                        {"name": "name", "in": "query", "schema": {"type": "string"}},
                        {"name": "subtree", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "type", "in": "query", "schema": {"$ref": "#/components/schemas/Type"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "one page", "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {
                            "records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                            "next": {"type": "string", "nullable": true}
                        }
                    }}}}, "default": error}
                },
                "post": {"summary": "Add a record to its RRset",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Record"}}}},
                    "responses": {"201": written, "default": error}
                }
            },
            "/v1/records/bulk": {
                "post": {"summary": "Add many records, all or none",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["records"],
                        "properties": {"records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}}
                    }}}},
                    "responses": {"201": written, "default": error}
                }
            },
            "/v1/records/{name}": {
                "get": {"summary": "Records at a name",
                    "parameters": [name_param, {"name": "type", "in": "query", "schema": {"$ref": "#/components/schemas/Type"}}],
                    "responses": {"200": records, "404": error, "default": error}
                },
                "delete": {"summary": "Delete every record at a name",
                    "parameters": [name_param],
                    "responses": {"200": {"description": "{\"removed\":n}"}, "404": error, "default": error}
                }
            },
            "/v1/records/{name}/{type}": {
                "put": {"summary": "Replace an RRset",
                    "parameters": [name_param, type_param],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["data"],
                        "properties": {"ttl": {"type": "integer"}, "data": {"type": "array", "items": {"type": "string"}}}
                    }}}},
                    "responses": {"200": written, "default": error}
                },
                "delete": {"summary": "Delete an RRset, or one record of it",
                    "parameters": [name_param, type_param, {"name": "data", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "{\"removed\":n}"}, "404": error, "default": error}
                }
            },
            "/v1/health": {
                "get": {"summary": "Backend health", "responses": {"200": {"description": "targets", "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                        "targets": {"type": "array", "items": {"type": "object", "properties": {
                            "ip": {"type": "string"},
                            "status": {"type": "string", "enum": ["UP", "DOWN"]},
                            "ports": {"type": "array", "items": {"type": "integer"}}
                        }}},
                        "up": {"type": "integer"},
                        "down": {"type": "integer"}
                    }
                }}}}, "default": error}}
            },
            "/v1/stats": {
                "get": {"summary": "The figures of /metrics as JSON", "responses": {"200": {"description": "figures"}, "default": error}}
            },
            "/v1/reload": {
                "post": {"summary": "Reload the configuration, zone files and store, as SIGHUP does", "responses": {
                    "200": {"description": "reloaded", "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {
                            "reloaded": {"type": "boolean"},
                            "zones": {"type": "integer"},
                            "changed_names": {"type": "integer"},
                            "upstreams_changed": {"type": "boolean"},
                            "restart_needed": {"type": "array", "items": {"type": "string"}}
                        }
                    }}}},
                    "422": {"description": "the configuration or the records do not load; nothing changed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "default": error
                }}
            },
            "/v1/openapi.json": {
                "get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3 document"}}}
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Type": {"type": "string", "enum": ["A", "AAAA", "CNAME", "SRV", "TXT", "PTR", "MX", "NS", "SOA"]},
                "Record": {
                    "type": "object",
                    "required": ["name", "type", "data"],
                    "properties": {
                        "zone": {"type": "string", "readOnly": true},
                        "name": {"type": "string", "description": "absolute; a trailing dot is added when missing"},
                        "type": {"$ref": "#/components/schemas/Type"},
                        "ttl": {"type": "integer", "minimum": 0, "maximum": 2147483647, "default": 30},
                        "data": {"type": "string", "description": "rdata in zone-file presentation format"}
                    }
                },
                "Written": {"type": "object", "properties": {"written": {"type": "integer"}, "removed": {"type": "integer"}}},
                "Error": {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": "string", "nullable": true}}}
            },
            "responses": {
                "Error": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        }
    })
}

pub(crate) async fn serve() -> Json<Value> {
    Json(document())
}
