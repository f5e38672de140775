//! The UDP header (RFC 768): a checked view at named offsets, and the header of
//! an answer turned around from it.

use super::action::DropReason;
use super::checksum::{self, Sum};
use crate::wire::{read_u16, write_u16};

pub(super) const HEADER_LEN: usize = 8;

/// Field offsets of the header (RFC 768).
mod field {
    pub(super) const SOURCE_PORT: usize = 0;
    pub(super) const DESTINATION_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
}

/// A checked UDP header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Udp {
    /// Offset of the header in the frame.
    pub(super) at: usize,
    pub(super) src_port: u16,
    pub(super) dst_port: u16,
    /// Header plus payload, from the length field.
    pub(super) len: usize,
    pub(super) checksum: u16,
}

impl Udp {
    /// Offset of the payload in the frame.
    pub(super) fn payload(&self) -> usize {
        self.at + HEADER_LEN
    }

    /// The datagram, header and payload, in `buf`.
    pub(super) fn datagram<'b>(&self, buf: &'b [u8]) -> Result<&'b [u8], DropReason> {
        buf.get(self.at..self.at + self.len)
            .ok_or(DropReason::Malformed)
    }
}

/// Reads the UDP header at `at`; the datagram must end by `end`.
pub(super) fn parse(buf: &[u8], at: usize, end: usize) -> Result<Udp, DropReason> {
    let header = buf.get(at..at + HEADER_LEN).ok_or(DropReason::Malformed)?;
    let field = |offset| read_u16(header, offset).ok_or(DropReason::Malformed);
    let udp = Udp {
        at,
        src_port: field(field::SOURCE_PORT)?,
        dst_port: field(field::DESTINATION_PORT)?,
        len: usize::from(field(field::LENGTH)?),
        checksum: field(field::CHECKSUM)?,
    };
    if udp.len < HEADER_LEN || at + udp.len > end {
        return Err(DropReason::Malformed);
    }
    Ok(udp)
}

/// Swaps the ports and sets the length of the answer's header, its checksum
/// zeroed for [`write_checksum`].
pub(super) fn reverse(buf: &mut [u8], udp: &Udp, udp_len: usize) -> Option<()> {
    let header = buf.get_mut(udp.at..udp.at + HEADER_LEN)?;
    write_u16(header, field::SOURCE_PORT, udp.dst_port)?;
    write_u16(header, field::DESTINATION_PORT, udp.src_port)?;
    write_u16(header, field::LENGTH, u16::try_from(udp_len).ok()?)?;
    write_u16(header, field::CHECKSUM, 0)
}

/// Fills the checksum of the answer's `udp_len`-byte datagram: the whole
/// checksum, or only the pseudo-header sum for a port that completes it.
pub(super) fn write_checksum(
    buf: &mut [u8],
    udp: &Udp,
    udp_len: usize,
    pseudo: Sum,
    offload: bool,
) -> Option<()> {
    let value = if offload {
        pseudo.folded()
    } else {
        let datagram = buf.get(udp.at..udp.at + udp_len)?;
        checksum::udp_field(pseudo.add(datagram).checksum())
    };
    write_u16(buf, udp.at + field::CHECKSUM, value)
}
