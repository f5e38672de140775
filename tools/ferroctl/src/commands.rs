//! Each command as requests to the `/v1` API and what to print of the answers.
//!
//! A command returns its JSON (what `--json` prints) and the table people read;
//! `main` picks one. Listing follows the API's `next` cursor until the last page,
//! so `records list` shows everything that matched, and `--json` gets one
//! `{"records":[...]}` with all of it.

use serde_json::{Value, json};

use crate::cli::{Command, HealthCommand, RecordsCommand, ZonesCommand};
use crate::client::{ApiClient, ClientError, Method, path_segment};
use crate::table;

/// Largest page the API hands out (docs/api.md).
const PAGE: &str = "1000";

/// What a command produced.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) json: Value,
    pub(crate) table: String,
}

pub(crate) fn run(client: &ApiClient, command: &Command) -> Result<Output, ClientError> {
    match command {
        Command::Records(records) => run_records(client, records),
        Command::Zones(ZonesCommand::List) => {
            let json = client.call(Method::Get, "/v1/zones", &[], None)?;
            let rows = items(&json, "zones")
                .map(|zone| vec![text(zone, "name")])
                .collect::<Vec<_>>();
            Ok(Output {
                table: table::render(&["ZONE"], &rows),
                json,
            })
        }
        Command::Health(HealthCommand::List) => Ok(health_output(client.call(
            Method::Get,
            "/v1/health",
            &[],
            None,
        )?)),
        Command::Stats => {
            let json = client.call(Method::Get, "/v1/stats", &[], None)?;
            let mut rows = Vec::new();
            flatten("", &json, &mut rows);
            rows.sort();
            Ok(Output {
                table: table::render(&["FIGURE", "VALUE"], &rows),
                json,
            })
        }
        Command::Reload => {
            let json = client.call(Method::Post, "/v1/reload", &[], None)?;
            Ok(Output {
                table: reload_summary(&json),
                json,
            })
        }
    }
}

/// What a reload did, in a sentence or two.
fn reload_summary(json: &Value) -> String {
    let count = |key: &str| json.get(key).and_then(Value::as_u64).unwrap_or(0);
    let mut text = format!(
        "reloaded: {} zones served, {} names changed{}\n",
        count("zones"),
        count("changed_names"),
        if json.get("upstreams_changed") == Some(&Value::Bool(true)) {
            ", new upstreams"
        } else {
            ""
        }
    );
    let restart: Vec<&str> = items(json, "restart_needed")
        .filter_map(Value::as_str)
        .collect();
    if !restart.is_empty() {
        text.push_str(&format!(
            "changed but applied only by a restart: {}\n",
            restart.join(", ")
        ));
    }
    text
}

fn run_records(client: &ApiClient, command: &RecordsCommand) -> Result<Output, ClientError> {
    match command {
        RecordsCommand::List {
            zone,
            name,
            subtree,
            rtype,
        } => {
            let mut query: Vec<(&str, String)> = vec![("limit", PAGE.to_owned())];
            for (key, value) in [("zone", zone), ("name", name), ("type", rtype)] {
                if let Some(value) = value {
                    query.push((key, value.clone()));
                }
            }
            if *subtree {
                query.push(("subtree", "true".to_owned()));
            }
            let mut records = Vec::new();
            loop {
                let page = client.call(Method::Get, "/v1/records", &query, None)?;
                records.extend(items(&page, "records").cloned());
                match page.get("next").and_then(Value::as_str) {
                    Some(next) => {
                        query.retain(|(key, _)| *key != "cursor");
                        query.push(("cursor", next.to_owned()));
                    }
                    None => break,
                }
            }
            Ok(records_output(json!({ "records": records })))
        }
        RecordsCommand::Get { name, rtype } => {
            let query: Vec<(&str, String)> = rtype.iter().map(|t| ("type", t.clone())).collect();
            let path = format!("/v1/records/{}", path_segment(name));
            Ok(records_output(client.call(
                Method::Get,
                &path,
                &query,
                None,
            )?))
        }
        RecordsCommand::Add {
            name,
            rtype,
            data,
            ttl,
        } => {
            let mut record = json!({ "name": name, "type": rtype, "data": data });
            if let Some(ttl) = ttl {
                record["ttl"] = json!(ttl);
            }
            let json = client.call(Method::Post, "/v1/records", &[], Some(&record))?;
            Ok(write_output(json))
        }
        RecordsCommand::Update {
            name,
            rtype,
            data,
            ttl,
        } => {
            let mut body = json!({ "data": data });
            if let Some(ttl) = ttl {
                body["ttl"] = json!(ttl);
            }
            let path = format!("/v1/records/{}/{}", path_segment(name), path_segment(rtype));
            let json = client.call(Method::Put, &path, &[], Some(&body))?;
            Ok(write_output(json))
        }
        RecordsCommand::Delete { name, rtype, data } => {
            let mut path = format!("/v1/records/{}", path_segment(name));
            if let Some(rtype) = rtype {
                path.push('/');
                path.push_str(&path_segment(rtype));
            }
            let query: Vec<(&str, String)> = data.iter().map(|d| ("data", d.clone())).collect();
            let json = client.call(Method::Delete, &path, &query, None)?;
            Ok(write_output(json))
        }
    }
}

/// A table of records: name, type, TTL, data.
fn records_output(json: Value) -> Output {
    let rows = items(&json, "records")
        .map(|r| {
            vec![
                text(r, "name"),
                text(r, "type"),
                number(r, "ttl"),
                text(r, "data"),
            ]
        })
        .collect::<Vec<_>>();
    Output {
        table: table::render(&["NAME", "TYPE", "TTL", "DATA"], &rows),
        json,
    }
}

/// What a write did: `written N, removed M`.
fn write_output(json: Value) -> Output {
    let mut parts = Vec::new();
    for key in ["written", "removed"] {
        if json.get(key).is_some() {
            parts.push(format!("{key} {}", number(&json, key)));
        }
    }
    Output {
        table: format!("{}\n", parts.join(", ")),
        json,
    }
}

/// The elements of the array `key` of `json` (none when it is missing).
/// `health list`: each address, its state and who checked it last.
fn health_output(json: Value) -> Output {
    let rows = items(&json, "targets")
        .map(|t| {
            let ports = t
                .get("ports")
                .and_then(Value::as_array)
                .map(|p| p.iter().map(scalar).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            vec![
                text(t, "ip"),
                text(t, "status"),
                ports,
                text(t, "source"),
                text(t, "checker"),
                text(t, "checked"),
            ]
        })
        .collect::<Vec<_>>();
    let headers = ["IP", "STATUS", "PORTS", "SOURCE", "CHECKED BY", "AT"];
    let mut table = table::render(&headers, &rows);
    table.push_str(&format!(
        "{} up, {} down\n",
        number(&json, "up"),
        number(&json, "down")
    ));
    Output { table, json }
}

fn items<'a>(json: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    json.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter())
        .into_iter()
        .flatten()
}

fn text(json: &Value, key: &str) -> String {
    json.get(key).map(scalar).unwrap_or_default()
}

fn number(json: &Value, key: &str) -> String {
    json.get(key).map_or_else(|| "-".to_owned(), scalar)
}

/// A JSON scalar as people write it: strings without quotes.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Every leaf of `json` as a row `dotted.path value`; array elements are
/// numbered, or named by their `core` field when they have one.
fn flatten(prefix: &str, json: &Value, rows: &mut Vec<Vec<String>>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match json {
        Value::Object(map) => {
            for (key, value) in map {
                flatten(&join(key), value, rows);
            }
        }
        Value::Array(list) => {
            for (i, value) in list.iter().enumerate() {
                let label = value
                    .get("core")
                    .map_or_else(|| i.to_string(), |c| format!("core{}", scalar(c)));
                let inner = match value {
                    Value::Object(map) => Value::Object(
                        map.iter()
                            .filter(|(key, _)| key.as_str() != "core")
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ),
                    other => other.clone(),
                };
                flatten(&join(&label), &inner, rows);
            }
        }
        leaf => rows.push(vec![prefix.to_owned(), scalar(leaf)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_print_as_a_table() {
        let output = records_output(json!({"records": [
            {"zone": "svc.example.", "name": "web.svc.example.", "type": "A", "ttl": 30, "data": "10.0.0.1"},
            {"zone": "svc.example.", "name": "web.svc.example.", "type": "TXT", "ttl": 300, "data": "\"hi there\""},
        ]}));
        assert_eq!(
            output.table,
            "NAME              TYPE  TTL  DATA\n\
             web.svc.example.  A     30   10.0.0.1\n\
             web.svc.example.  TXT   300  \"hi there\"\n"
        );
    }

    #[test]
    fn health_shows_each_address_and_who_checked_it() {
        let output = health_output(json!({"targets": [
            {"ip": "10.0.0.1", "status": "UP", "ports": [80], "source": "etcd",
             "checker": "node-1", "checked": "2026-12-08T10:00:00Z"},
            {"ip": "10.0.0.2", "status": "DOWN", "ports": [], "source": "etcd",
             "checker": null, "checked": null},
        ], "up": 1, "down": 1}));
        assert_eq!(
            output.table,
            "IP        STATUS  PORTS  SOURCE  CHECKED BY  AT\n\
             10.0.0.1  UP      80     etcd    node-1      2026-12-08T10:00:00Z\n\
             10.0.0.2  DOWN           etcd    -           -\n\
             1 up, 1 down\n"
        );
    }

    #[test]
    fn writes_say_what_they_did() {
        assert_eq!(
            write_output(json!({"written": 2, "removed": 1})).table,
            "written 2, removed 1\n"
        );
        assert_eq!(write_output(json!({"removed": 3})).table, "removed 3\n");
    }

    #[test]
    fn stats_flatten_to_dotted_figures_with_cores_named() {
        let mut rows = Vec::new();
        flatten(
            "",
            &json!({
                "table": {"names": 120},
                "cores": [{"core": 0, "rx": 5}, {"core": 1, "rx": 7}],
                "etcd": null,
            }),
            &mut rows,
        );
        let mut rows: Vec<String> = rows.iter().map(|r| r.join(" ")).collect();
        rows.sort();
        assert_eq!(
            rows,
            [
                "cores.core0.rx 5",
                "cores.core1.rx 7",
                "etcd -",
                "table.names 120"
            ]
        );
    }
}
