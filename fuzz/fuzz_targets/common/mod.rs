//! The zone the engine and packet targets answer from, built with the
//! dataplane's test kit: an A record, a CNAME to it, a wildcard and an SRV
//! RRset, so that answers take every path that adds records.

use std::sync::OnceLock;

use ferrodns_dataplane::table::TableVersion;
use ferrodns_dataplane::testkit::{a, cname, compile_zone, srv};

/// `example.`, compiled once per process.
pub fn table() -> &'static TableVersion {
    static TABLE: OnceLock<TableVersion> = OnceLock::new();
    TABLE.get_or_init(|| {
        compile_zone(
            "example.",
            vec![
                a("web.example.", 30, [10, 0, 0, 1]),
                cname("www.example.", 30, "web.example."),
                a("*.apps.example.", 30, [10, 0, 0, 2]),
                srv("_http._tcp.example.", 30, 1, 1, 80, "web.example."),
            ],
        )
    })
}
