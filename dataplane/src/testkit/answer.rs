//! Frames answered the way the DPDK backend's workers answer them: the packet
//! layer, with the engine behind it answering the DNS payload as a UDP query.

use std::net::IpAddr;

use crate::engine::{Engine, QueryContext, Transport};
use crate::packet::{self, Action, ChecksumMode, Services};
use crate::table::TableVersion;

/// What a query from `client` over UDP comes with; entropy 0, so that answers
/// (round-robin rotation, 0x20 case) repeat.
#[inline]
pub fn udp_context(client: IpAddr) -> QueryContext {
    QueryContext {
        client,
        transport: Transport::Udp,
        entropy: 0,
    }
}

/// [`packet::handle`] on the frame in `buf[..len]` for `services`, its DNS
/// answered by `engine` from `table`. Inlined where the benches call it, so that
/// they measure `packet::handle` and the engine alone.
#[inline]
pub fn handle_frame(
    engine: &Engine,
    table: &TableVersion,
    buf: &mut [u8],
    len: usize,
    services: &Services,
    mode: ChecksumMode,
) -> Action {
    packet::handle(buf, len, services, mode, |room, len, client| {
        engine.respond(table, room, len, &udp_context(client.ip()))
    })
}
