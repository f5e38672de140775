//! Feeds arbitrary etcd keys and values to the decoder of every layout
//! (containerdns, CoreDNS/skydns, health): it must return a result, never panic.
//! A value in etcd is whatever anyone wrote there.
//!
//! The first byte picks a key prefix (so the fuzzer reaches each layout); the
//! key runs to the first newline, the value is the rest. Run with
//! `cargo fuzz run etcd_value --sanitizer none` from the repository root.

#![no_main]

use ferrodns::config::Layouts;
use ferrodns::etcd::decode::{Decoder, Zones};
use ferrodns_dataplane::name::Name;
use libfuzzer_sys::fuzz_target;

const PREFIXES: [&str; 4] = [
    "/containerdns/",
    "/skydns/",
    "/containerdns/monitor/status/",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (key_tail, value) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let mut key = PREFIXES[usize::from(pick) % PREFIXES.len()]
        .as_bytes()
        .to_vec();
    key.extend_from_slice(key_tail);
    let (Ok(a), Ok(b)) = (
        Name::from_ascii("example.com."),
        Name::from_ascii("svc.cluster.local."),
    ) else {
        return;
    };
    let decoder = Decoder::new(Layouts::default(), Zones::new(&[a, b], &[]));
    let _ = decoder.decode(&key, value);
    let _ = decoder.health_ip(&key);
});
