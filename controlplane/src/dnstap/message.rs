//! dnstap messages (`dnstap.proto`, protobuf), encoded by hand: the few fields
//! a client query or response carries, written into a buffer the writer keeps.
//!
//! ```text
//! Dnstap  { identity = 1 (bytes), version = 2 (bytes), message = 14, type = 15 (MESSAGE = 1) }
//! Message { type = 1 (CLIENT_QUERY = 5, CLIENT_RESPONSE = 6),
//!           socket_family = 2 (INET = 1, INET6 = 2), socket_protocol = 3 (UDP = 1, TCP = 2),
//!           query_address = 4, query_port = 6,
//!           query_time_sec = 8, query_time_nsec = 9 (fixed32), query_message = 10,
//!           response_time_sec = 12, response_time_nsec = 13 (fixed32), response_message = 14 }
//! ```
//!
//! Protobuf's wire format: each field is a key (field number << 3 | wire type)
//! then the value: a varint (type 0), 4 bytes little-endian (type 5), or a
//! varint length and the bytes (type 2, also for a nested message).

use std::net::IpAddr;

use ferrodns_dataplane::engine::Transport;
use ferrodns_dataplane::observe::{TapEntry, TapKind};

const VARINT: u8 = 0;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// `Dnstap.Type.MESSAGE`.
const DNSTAP_MESSAGE: u64 = 1;
/// `Message.Type`.
const CLIENT_QUERY: u64 = 5;
const CLIENT_RESPONSE: u64 = 6;
/// `SocketFamily`, `SocketProtocol`.
const INET: u64 = 1;
const INET6: u64 = 2;
const UDP: u64 = 1;
const TCP: u64 = 2;

/// Encodes log entries as dnstap payloads, reusing its buffers.
#[derive(Debug)]
pub(crate) struct Encoder {
    identity: Vec<u8>,
    version: Vec<u8>,
    message: Vec<u8>,
    out: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new(identity: &str, version: &str) -> Encoder {
        Encoder {
            identity: identity.as_bytes().to_vec(),
            version: version.as_bytes().to_vec(),
            message: Vec::with_capacity(2048),
            out: Vec::with_capacity(2048),
        }
    }

    /// The dnstap payload of `entry`.
    pub(crate) fn encode(&mut self, entry: &TapEntry) -> &[u8] {
        let m = &mut self.message;
        m.clear();
        let kind = match entry.kind {
            TapKind::Query => CLIENT_QUERY,
            TapKind::Response => CLIENT_RESPONSE,
        };
        varint_field(m, 1, kind);
        let (family, address): (u64, &[u8]) = match entry.client.ip() {
            IpAddr::V4(v4) => (INET, &v4.octets()),
            IpAddr::V6(v6) => (INET6, &v6.octets()),
        };
        varint_field(m, 2, family);
        let protocol = match entry.transport {
            Transport::Udp => UDP,
            Transport::Tcp => TCP,
        };
        varint_field(m, 3, protocol);
        bytes_field(m, 4, address);
        varint_field(m, 6, u64::from(entry.client.port()));
        varint_field(m, 8, entry.query_time.secs);
        fixed32_field(m, 9, entry.query_time.nanos);
        match entry.kind {
            TapKind::Query => bytes_field(m, 10, entry.message()),
            TapKind::Response => {
                varint_field(m, 12, entry.response_time.secs);
                fixed32_field(m, 13, entry.response_time.nanos);
                bytes_field(m, 14, entry.message());
            }
        }
        let out = &mut self.out;
        out.clear();
        bytes_field(out, 1, &self.identity);
        bytes_field(out, 2, &self.version);
        bytes_field(out, 14, &self.message);
        varint_field(out, 15, DNSTAP_MESSAGE);
        &self.out
    }
}

fn key(out: &mut Vec<u8>, field: u64, wire_type: u8) {
    varint(out, field << 3 | u64::from(wire_type));
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    key(out, field, VARINT);
    varint(out, value);
}

fn fixed32_field(out: &mut Vec<u8>, field: u64, value: u32) {
    key(out, field, FIXED32);
    out.extend_from_slice(&value.to_le_bytes());
}

fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    key(out, field, LENGTH_DELIMITED);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use ferrodns_dataplane::observe::TapTime;

    use super::*;

    #[test]
    fn a_client_query_is_encoded_field_by_field() {
        let mut entry = TapEntry::default();
        entry.kind = TapKind::Query;
        entry.client = SocketAddr::from(([10, 0, 0, 210], 55142));
        entry.query_time = TapTime {
            secs: 1_609_664_398,
            nanos: 355_231_260,
        };
        assert!(entry.set_message(&[0xda, 0xba]));
        let mut encoder = Encoder::new("id", "v");
        let payload = encoder.encode(&entry).to_vec();
        let message: Vec<u8> = [
            &[8, 5, 16, 1, 24, 1, 34, 4, 10, 0, 0, 210, 48, 230, 174, 3][..],
            &[64, 142, 143, 198, 255, 5, 77],
            &355_231_260u32.to_le_bytes(),
            &[82, 2, 0xda, 0xba],
        ]
        .concat();
        let mut expected = vec![10, 2, b'i', b'd', 18, 1, b'v', 114, message.len() as u8];
        expected.extend_from_slice(&message);
        expected.extend_from_slice(&[120, 1]);
        assert_eq!(payload, expected);
    }

    #[test]
    fn varints_take_seven_bits_a_byte() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        varint(&mut out, 0);
        assert_eq!(out, [0]);
    }
}
