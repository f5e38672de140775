//! ICMP (RFC 792) to a service IPv4 address: echo requests are answered here
//! (operators ping appliances); every other message is the kernel's.

use super::checksum::Sum;
use super::ipv4::{self, Ipv4};
use super::{Action, DropReason, Request, ethernet};
use crate::wire::write_u16;

const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST: u8 = 8;
const HEADER_LEN: usize = 8;

pub(super) fn handle(
    buf: &mut [u8],
    request: &Request<'_>,
    ip: &Ipv4,
) -> Result<Action, DropReason> {
    let message = buf
        .get(ip.payload()..ip.end())
        .ok_or(DropReason::Malformed)?;
    if message.len() < HEADER_LEN || !Sum::default().add(message).verifies() {
        return Err(DropReason::Malformed);
    }
    if (message.first(), message.get(1)) != (Some(&ECHO_REQUEST), Some(&0)) {
        return Ok(Action::ToKernel);
    }
    if !ip.source_is_unicast() {
        return Err(DropReason::BadSource);
    }
    let message_len = message.len();
    let reply = (|| {
        let message = buf.get_mut(ip.payload()..ip.end())?;
        *message.first_mut()? = ECHO_REPLY;
        write_u16(message, 2, 0)?;
        let checksum = Sum::default().add(message).checksum();
        write_u16(message, 2, checksum)?;
        ipv4::reverse(buf, ip, message_len, true)?;
        let sender = ethernet::source(buf)?;
        ethernet::address_reply(buf, sender, request.services)
    })();
    reply.ok_or(DropReason::NoRoom)?;
    Ok(Action::Transmit {
        len: ip.end(),
        offload: None,
    })
}
