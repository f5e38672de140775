//! The destination address of a datagram received on a wildcard socket, and the
//! control message that makes its reply leave from that same address.
//!
//! A socket bound to `0.0.0.0` or `[::]` receives queries sent to any local
//! address, but a plain `sendmsg` lets routing pick the reply's source address,
//! which on a host with several addresses may differ from the one the client asked:
//! the client then drops the reply as coming from a stranger. With `IP_PKTINFO` /
//! `IPV6_RECVPKTINFO` the kernel tells us each query's destination address, and
//! passing it back as `IP_PKTINFO` / `IPV6_PKTINFO` on the reply makes the reply
//! leave from it.
//!
//! Control messages are read and written here as bytes, at the offsets of the
//! `libc` structures, so this needs no `unsafe`.

use std::mem::{offset_of, size_of};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::io::punt::Dest;

/// Room for one control message per datagram: an `in6_pktinfo` needs 40 bytes on
/// 64-bit Linux; any other message the kernel might add is ignored.
pub(super) const CONTROL_LEN: usize = 64;

/// One datagram's control buffer, aligned for `cmsghdr` as the kernel expects.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub(super) struct Control(pub(super) [u8; CONTROL_LEN]);

impl Default for Control {
    fn default() -> Self {
        Control([0; CONTROL_LEN])
    }
}

const HDR_LEN: usize = size_of::<libc::cmsghdr>();
const LEN_OFF: usize = offset_of!(libc::cmsghdr, cmsg_len);
const LEVEL_OFF: usize = offset_of!(libc::cmsghdr, cmsg_level);
const TYPE_OFF: usize = offset_of!(libc::cmsghdr, cmsg_type);
const IN_PKTINFO_LEN: usize = size_of::<libc::in_pktinfo>();
const IN6_PKTINFO_LEN: usize = size_of::<libc::in6_pktinfo>();

// `cmsg_len` is a `size_t`, read and written here as a `usize`.
const _: () = assert!(size_of::<libc::size_t>() == size_of::<usize>());
const _: () = assert!(space(IN6_PKTINFO_LEN) <= CONTROL_LEN);

/// `CMSG_ALIGN`: control messages are padded to the size of `size_t`.
const fn align(len: usize) -> usize {
    let word = size_of::<usize>();
    (len + word - 1) & !(word - 1)
}

/// `CMSG_LEN`: header plus data, without trailing padding.
const fn cmsg_len(data: usize) -> usize {
    align(HDR_LEN) + data
}

/// `CMSG_SPACE`: header plus data, with trailing padding.
pub(super) const fn space(data: usize) -> usize {
    align(HDR_LEN) + align(data)
}

fn read_usize(bytes: &[u8], at: usize) -> Option<usize> {
    let raw = bytes.get(at..at.checked_add(size_of::<usize>())?)?;
    Some(usize::from_ne_bytes(raw.try_into().ok()?))
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    Some(i32::from_ne_bytes(raw.try_into().ok()?))
}

fn read_array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn write_at(bytes: &mut [u8], at: usize, value: &[u8]) -> Option<()> {
    bytes
        .get_mut(at..at.checked_add(value.len())?)?
        .copy_from_slice(value);
    Some(())
}

/// Finds the query's destination in the control messages `recvmsg` returned.
/// Multicast and broadcast destinations give `None`: a reply never comes from
/// them, routing picks a unicast source instead.
pub(super) fn parse(control: &[u8]) -> Option<Dest> {
    let mut at = 0;
    while let Some(len) = read_usize(control, at + LEN_OFF) {
        if len < HDR_LEN {
            return None;
        }
        let level = read_i32(control, at + LEVEL_OFF)?;
        let kind = read_i32(control, at + TYPE_OFF)?;
        let data = control.get(at + align(HDR_LEN)..at.checked_add(len)?)?;
        match (level, kind) {
            (libc::IPPROTO_IP, libc::IP_PKTINFO) if data.len() >= IN_PKTINFO_LEN => {
                let addr = Ipv4Addr::from(read_array::<4>(
                    data,
                    offset_of!(libc::in_pktinfo, ipi_addr),
                )?);
                if addr.is_multicast() || addr.is_broadcast() {
                    return None;
                }
                return Some(Dest::V4(addr));
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if data.len() >= IN6_PKTINFO_LEN => {
                let addr = Ipv6Addr::from(read_array::<16>(
                    data,
                    offset_of!(libc::in6_pktinfo, ipi6_addr),
                )?);
                let ifindex = u32::from_ne_bytes(read_array::<4>(
                    data,
                    offset_of!(libc::in6_pktinfo, ipi6_ifindex),
                )?);
                if addr.is_multicast() {
                    return None;
                }
                return Some(Dest::V6 { addr, ifindex });
            }
            _ => at = at.checked_add(align(len))?,
        }
    }
    None
}

/// Writes the control message that makes a reply leave from `dest` and returns its
/// length (the `msg_controllen` to send with), or 0 if `control` is too small.
///
/// IPv4 sets only the source address (`ipi_spec_dst`) and leaves the interface to
/// routing. IPv6 sets the source address, and the interface only for a link-local
/// source, whose scope needs it; otherwise routing picks the interface.
pub(super) fn write(control: &mut [u8], dest: Dest) -> usize {
    let (level, kind, data_len) = match dest {
        Dest::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO, IN_PKTINFO_LEN),
        Dest::V6 { .. } => (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, IN6_PKTINFO_LEN),
    };
    let total = space(data_len);
    let Some(out) = control.get_mut(..total) else {
        return 0;
    };
    out.fill(0);
    let data = align(HDR_LEN);
    let written = write_at(out, LEN_OFF, &cmsg_len(data_len).to_ne_bytes())
        .and_then(|()| write_at(out, LEVEL_OFF, &level.to_ne_bytes()))
        .and_then(|()| write_at(out, TYPE_OFF, &kind.to_ne_bytes()))
        .and_then(|()| match dest {
            Dest::V4(addr) => write_at(
                out,
                data + offset_of!(libc::in_pktinfo, ipi_spec_dst),
                &addr.octets(),
            ),
            Dest::V6 { addr, ifindex } => {
                let ifindex = if addr.is_unicast_link_local() {
                    ifindex
                } else {
                    0
                };
                write_at(
                    out,
                    data + offset_of!(libc::in6_pktinfo, ipi6_addr),
                    &addr.octets(),
                )
                .and_then(|()| {
                    write_at(
                        out,
                        data + offset_of!(libc::in6_pktinfo, ipi6_ifindex),
                        &ifindex.to_ne_bytes(),
                    )
                })
            }
        });
    if written.is_some() { total } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernel hands back for an IPv4 query: `ipi_addr` is the header's
    /// destination, `ipi_spec_dst` the address routing would choose.
    fn received_v4(dest: Ipv4Addr, spec_dst: Ipv4Addr) -> Control {
        let mut control = Control::default();
        let c = &mut control.0;
        write_at(c, LEN_OFF, &cmsg_len(IN_PKTINFO_LEN).to_ne_bytes()).unwrap();
        write_at(c, LEVEL_OFF, &libc::IPPROTO_IP.to_ne_bytes()).unwrap();
        write_at(c, TYPE_OFF, &libc::IP_PKTINFO.to_ne_bytes()).unwrap();
        let data = align(HDR_LEN);
        write_at(
            c,
            data + offset_of!(libc::in_pktinfo, ipi_spec_dst),
            &spec_dst.octets(),
        )
        .unwrap();
        write_at(
            c,
            data + offset_of!(libc::in_pktinfo, ipi_addr),
            &dest.octets(),
        )
        .unwrap();
        control
    }

    #[test]
    fn reads_the_ipv4_destination_not_the_routing_choice() {
        let control = received_v4(Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::LOCALHOST);
        let len = space(IN_PKTINFO_LEN);
        assert_eq!(
            parse(&control.0[..len]),
            Some(Dest::V4(Ipv4Addr::new(127, 0, 0, 2)))
        );
    }

    #[test]
    fn broadcast_and_multicast_destinations_are_not_sources() {
        let len = space(IN_PKTINFO_LEN);
        for dest in [Ipv4Addr::BROADCAST, Ipv4Addr::new(224, 0, 0, 251)] {
            let control = received_v4(dest, Ipv4Addr::LOCALHOST);
            assert_eq!(parse(&control.0[..len]), None);
        }
    }

    #[test]
    fn written_messages_parse_back() {
        for dest in [
            Dest::V6 {
                addr: Ipv6Addr::LOCALHOST,
                ifindex: 0,
            },
            Dest::V6 {
                addr: "fe80::1".parse().unwrap(),
                ifindex: 7,
            },
        ] {
            let mut control = Control::default();
            let len = write(&mut control.0, dest);
            assert_eq!(len, space(IN6_PKTINFO_LEN));
            assert_eq!(parse(&control.0[..len]), Some(dest));
        }
        // A global IPv6 source leaves the interface to routing.
        let mut control = Control::default();
        let global = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
        let len = write(
            &mut control.0,
            Dest::V6 {
                addr: global,
                ifindex: 3,
            },
        );
        assert_eq!(
            parse(&control.0[..len]),
            Some(Dest::V6 {
                addr: global,
                ifindex: 0
            })
        );
        // IPv4 replies carry the source in `ipi_spec_dst`.
        let mut control = Control::default();
        let len = write(&mut control.0, Dest::V4(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(len, space(IN_PKTINFO_LEN));
        let data = align(HDR_LEN) + offset_of!(libc::in_pktinfo, ipi_spec_dst);
        assert_eq!(control.0[data..data + 4], [127, 0, 0, 2]);
    }

    #[test]
    fn garbage_never_panics() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0xff; 7]), None);
        assert_eq!(parse(&[0xff; CONTROL_LEN]), None);
        let mut zero_len = [0u8; CONTROL_LEN];
        zero_len[..8].copy_from_slice(&0usize.to_ne_bytes());
        assert_eq!(parse(&zero_len), None);
        assert_eq!(write(&mut [0u8; 8], Dest::V4(Ipv4Addr::LOCALHOST)), 0);
    }
}
