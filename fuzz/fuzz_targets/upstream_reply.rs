//! Feeds arbitrary upstream replies to the forwarder's reply path (match, parse,
//! bailiwick scrub, answer): it must never panic, and an answer it gives keeps
//! the client's ID, is a response, and fits the client's UDP limit.
//!
//! Half the inputs get a header and question that match the query, so the
//! fuzzer reaches the parser and the scrub instead of stopping at the match.
//! Run with `cargo fuzz run upstream_reply --sanitizer none` from the repository
//! root.

#![no_main]

use ferrodns::forward::answer_from_reply;
use libfuzzer_sys::fuzz_target;

/// `www.example.com. A IN`, ID 0x1234, RD, no EDNS: answers fit 512 bytes.
const QUERY: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
\x03www\x07example\x03com\x00\x00\x01\x00\x01";
const QUESTION: &[u8] = b"\x03www\x07example\x03com\x00\x00\x01\x00\x01";
const UPSTREAM_ID: u16 = 0xbeef;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let reply = if mode & 1 == 0 || rest.len() < 8 {
        rest.to_vec()
    } else {
        // ID, then flags with QR set, QDCOUNT 1, the counts from the input, the
        // question, then whatever follows.
        let mut reply = UPSTREAM_ID.to_be_bytes().to_vec();
        reply.push(rest[0] | 0x80);
        reply.push(rest[1]);
        reply.extend_from_slice(&[0, 1]);
        reply.extend_from_slice(&rest[2..8]);
        reply.extend_from_slice(QUESTION);
        reply.extend_from_slice(&rest[8..]);
        reply
    };
    let zone: &[u8] = if mode & 2 == 0 {
        b"\x00"
    } else {
        b"\x07example\x03com\x00"
    };
    if let Some(answer) = answer_from_reply(QUERY, UPSTREAM_ID, &reply, zone) {
        assert!(
            answer.len() <= 512,
            "an answer of {} bytes over UDP",
            answer.len()
        );
        assert_eq!(answer.get(..2), Some(&QUERY[..2]), "the client's ID");
        assert!(answer.get(2).is_some_and(|flags| flags & 0x80 != 0), "QR");
    }
});
