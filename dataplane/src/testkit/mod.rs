//! The test kit: the fixtures every crate's tests, benches and fuzz targets
//! build their inputs with, written once.
//!
//! - Names, records and compiled zones written the short way: [`name`],
//!   [`a`], [`cname`], [`soa`], [`compile_zone`] ...
//! - DNS queries in wire format: [`query`] and its [`Query`] builder (ID, flags,
//!   class, EDNS, TCP framing).
//! - Ethernet / VLAN / IPv4 / IPv6 / UDP frames: [`Ethernet`], [`Ipv4`],
//!   [`Ipv6`], [`udp_frame`], with checksums the kit computes itself
//!   ([`checksum`]), and the addresses the frame tests use.
//! - A frame answered as the DPDK backend answers it, packet layer and engine
//!   ([`handle_frame`]).
//! - Capture files in the pcap format DPDK's pcap driver reads and writes:
//!   [`write_pcap`], [`read_pcap`].
//!
//! It is compiled into this crate's own tests and, for other crates, behind the
//! `testkit` feature, which they enable in `[dev-dependencies]` only, so a
//! release build never holds it (`docs/testing.md` says why it lives here).

mod answer;
mod frame;
mod pcap;
mod query;
mod records;

pub use answer::{handle_frame, udp_context};
pub use frame::{
    CLIENT_MAC, CLIENT_PORT, CLIENT_V4, CLIENT_V6, ETHERTYPE_IPV4, ETHERTYPE_IPV6, Ethernet,
    IpHeader, Ipv4, Ipv6, PCAP_PORT_MAC, SERVER_MAC, SERVICE_V4, SERVICE_V6, UDP, checksum, udp,
    udp_frame,
};
pub use pcap::{pcap_file, pcap_frames, read_pcap, write_pcap};
pub use query::{QUERY_ID, Query, query};
pub use records::{a, aaaa, cname, compile_zone, name, record, soa, srv, txt};
