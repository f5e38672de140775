//! The kernel side of the exception path: the TAP interface DPDK's `net_tap`
//! driver creates gets the service addresses, so the kernel's stack (and the DNS
//! over TCP listener bound to those addresses) answers what the dataplane hands
//! it.
//!
//! The interface is configured with `ip(8)` from iproute2: the addresses with the
//! configured prefix lengths (the prefix is what gives the kernel a route back to
//! clients on that network through the interface), IPv6 addresses without
//! duplicate address detection (the dataplane already answers for them, and a
//! tentative address could not be bound). The interface gets no IPv6 link-local
//! address and sends no router solicitations: it speaks only for the service
//! addresses, so the wire sees nothing from the kernel but answers, its address
//! resolution and the MLD reports that keep the service addresses' multicast
//! groups reachable through snooping switches. The interface disappears with its
//! DPDK port when ferrodns stops.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;

use crate::error::DpdkError;

/// Brings `interface` up with every service address.
pub(super) fn configure(
    interface: &str,
    services: &[SocketAddr],
    ipv4_prefix_len: u8,
    ipv6_prefix_len: u8,
) -> Result<(), DpdkError> {
    // The driver brought the interface up already, with a link-local address:
    // take it down (which drops that address), change the settings, bring it up.
    ip(interface, &["link", "set", "dev", interface, "down"])?;
    for (setting, value) in [
        ("addr_gen_mode", "1"),
        ("accept_ra", "0"),
        ("router_solicitations", "0"),
    ] {
        let path = format!("/proc/sys/net/ipv6/conf/{interface}/{setting}");
        // A kernel without IPv6 has no such file; there is nothing to quiet then.
        if Path::new(&path).exists() {
            std::fs::write(&path, value).map_err(|e| DpdkError::KernelInterface {
                interface: interface.to_owned(),
                command: format!("echo {value} > {path}"),
                reason: e.to_string(),
            })?;
        }
    }
    ip(interface, &["link", "set", "dev", interface, "up"])?;
    let addresses: BTreeSet<IpAddr> = services.iter().map(SocketAddr::ip).collect();
    for address in addresses {
        let (prefixed, extra): (String, &[&str]) = match address {
            IpAddr::V4(v4) => (format!("{v4}/{ipv4_prefix_len}"), &[]),
            IpAddr::V6(v6) => (format!("{v6}/{ipv6_prefix_len}"), &["nodad"]),
        };
        let mut args = vec!["addr", "replace", prefixed.as_str(), "dev", interface];
        args.extend_from_slice(extra);
        ip(interface, &args)?;
    }
    Ok(())
}

fn ip(interface: &str, args: &[&str]) -> Result<(), DpdkError> {
    let error = |reason: String| DpdkError::KernelInterface {
        interface: interface.to_owned(),
        command: format!("ip {}", args.join(" ")),
        reason,
    };
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| error(format!("cannot run ip (install iproute2): {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(error(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}
