//! Feeds arbitrary bytes to the PowerDNS remote-backend reply decoder (the reply
//! lines an OpenSVC agent, or anything listening on its socket, sends) and the
//! translation of a `list` result into records: they must return a result,
//! never panic. Each reply is decoded as all three replies a poll reads
//! (`initialize`, `getAllDomains`, `list`); a `list` that decodes is translated
//! for zone `cluster1.` with `10.in-addr.arpa.` as a host zone.
//!
//! Run with `cargo fuzz run pdns_reply --sanitizer none` from the repository
//! root.

#![no_main]

use ferrodns::pdns::protocol::{decode_domains, decode_initialize, decode_list};
use ferrodns::pdns::translate::translate;
use ferrodns_dataplane::name::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_initialize(data);
    let _ = decode_domains(data);
    let Ok(reply) = decode_list(data) else {
        return;
    };
    let (Ok(zone), Ok(host)) = (
        Name::from_ascii("cluster1."),
        Name::from_ascii("10.in-addr.arpa."),
    ) else {
        return;
    };
    let translated = translate(vec![(zone, reply.result)], &[host]);
    let _ = translated.records();
});
