//! Feeds arbitrary UTF-8 to the zone-file parser: it must return, never panic.
//!
//! Run with `cargo fuzz run zonefile` from the repository root (nightly).

#![no_main]

use ferrodns::zonefile::{parse_record_line, parse_zone_text};
use ferrodns_dataplane::name::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(origin) = Name::from_ascii("example.com.") else {
        return;
    };
    // `$INCLUDE` in the input reads only regular files, relative to the current
    // directory; a missing one is an error like any other.
    let _ = parse_zone_text(text, &origin, "fuzz.zone");
    let _ = parse_record_line(text, Some(&origin), 3600);
    let _ = parse_record_line(text, None, 0);
});
