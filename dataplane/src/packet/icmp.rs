//! ICMP (RFC 792) to a service IPv4 address: echo requests are answered here
//! (operators ping appliances); every other message is the kernel's.

use super::action::{Action, DropReason};
use super::checksum::Sum;
use super::ethernet;
use super::ip::IpHeader;
use super::ipv4::Ipv4;
use super::request::Request;
use crate::wire::write_u16;

const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST: u8 = 8;
const HEADER_LEN: usize = 8;

/// Field offsets of the message (RFC 792).
mod field {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
}

pub(super) fn handle(
    buf: &mut [u8],
    request: &Request<'_>,
    ip: &Ipv4,
) -> Result<Action, DropReason> {
    let message = ip.payload_of(buf)?;
    if message.len() < HEADER_LEN || !Sum::default().add(message).verifies() {
        return Err(DropReason::Malformed);
    }
    let kind = (message.get(field::TYPE), message.get(field::CODE));
    if kind != (Some(&ECHO_REQUEST), Some(&0)) {
        return Ok(Action::ToKernel);
    }
    if !ip.source_is_unicast() {
        return Err(DropReason::BadSource);
    }
    let message_len = message.len();
    let reply = (|| {
        let message = buf.get_mut(ip.payload()..ip.end())?;
        *message.get_mut(field::TYPE)? = ECHO_REPLY;
        write_u16(message, field::CHECKSUM, 0)?;
        let checksum = Sum::default().add(message).checksum();
        write_u16(message, field::CHECKSUM, checksum)?;
        ip.reverse(buf, message_len, true)?;
        ethernet::reply_to_sender(buf, request.services)
    })();
    echo_reply(reply, ip)
}

/// The echo reply written in place over the request, or why it could not be.
pub(super) fn echo_reply<I: IpHeader>(written: Option<()>, ip: &I) -> Result<Action, DropReason> {
    written.ok_or(DropReason::NoRoom)?;
    Ok(Action::Transmit {
        len: ip.end(),
        offload: None,
    })
}
