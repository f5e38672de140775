//! `[dataplane]` and `--dpdk`: which I/O backend answers UDP, and the settings of
//! the DPDK one. Those settings are the `ferrodns_dpdk` crate's own
//! [`DpdkSettings`], validated here.

use std::net::SocketAddr;
use std::time::Duration;

pub use ferrodns_dpdk::DpdkSettings;

use super::error::{ConfigError, Location};
use super::file::{RawDataplane, Text};
use super::merge::{Merge, flag_error};

/// Default `dataplane.kernel_interface`.
pub const DEFAULT_KERNEL_INTERFACE: &str = "ferrodns0";
/// Default `dataplane.ipv4_prefix_len`.
pub const DEFAULT_IPV4_PREFIX_LEN: u8 = 24;
/// Default `dataplane.ipv6_prefix_len`.
pub const DEFAULT_IPV6_PREFIX_LEN: u8 = 64;
/// Default `dataplane.mbufs`.
pub const DEFAULT_MBUFS: u32 = 16383;
/// Default `dataplane.descriptors`.
pub const DEFAULT_DESCRIPTORS: u16 = 1024;
/// Longest Linux interface name (IFNAMSIZ less the terminating NUL).
const MAX_INTERFACE_NAME: usize = 15;

/// The I/O backend of the dataplane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Dataplane {
    /// Kernel UDP sockets, one pinned worker thread each (`server.workers`).
    #[default]
    Kernel,
    /// DPDK owns a NIC; the listen addresses become the appliance's service
    /// addresses. See docs/dpdk.md.
    Dpdk(DpdkSettings),
}

impl Merge<'_> {
    /// `[dataplane]` and `--dpdk`. The DPDK backend answers for the listen
    /// addresses itself, so each must be a concrete address and port.
    pub(super) fn dataplane(
        &self,
        raw: &RawDataplane,
        listen: &[SocketAddr],
    ) -> Result<Dataplane, ConfigError> {
        if !self.wants_dpdk(raw.backend.as_ref())? {
            return Ok(Dataplane::Kernel);
        }
        let eal_args = self.flag_or_key(
            ("--dpdk", self.flags.dpdk.as_deref()),
            ("dataplane.eal", raw.eal.as_ref()),
            split_eal,
        )?;
        let Some(eal_args) = eal_args else {
            let reason = "the DPDK backend needs dataplane.eal (the EAL arguments) or --dpdk";
            return Err(match &raw.backend {
                Some(backend) => self.invalid(backend, "dataplane.backend", reason.into()),
                None => flag_error("--dpdk", "", reason.into()),
            });
        };
        if let Some(addr) = listen
            .iter()
            .find(|addr| addr.ip().is_unspecified() || addr.port() == 0)
        {
            let reason = "the DPDK backend answers for each listen address itself: give a \
                          concrete IP address and port";
            return Err(ConfigError::Invalid {
                at: Location::CommandLine,
                key: "--listen/server.listen".into(),
                value: format!("{addr:?}"),
                reason: reason.into(),
            });
        }
        let kernel_interface = self.kernel_interface(raw.kernel_interface.as_ref())?;
        let ipv4_prefix_len = self.bounded(
            raw.ipv4_prefix_len.as_ref(),
            "dataplane.ipv4_prefix_len",
            1..=32,
        )?;
        let ipv6_prefix_len = self.bounded(
            raw.ipv6_prefix_len.as_ref(),
            "dataplane.ipv6_prefix_len",
            1..=128,
        )?;
        let mbufs = self.bounded(raw.mbufs.as_ref(), "dataplane.mbufs", 1023..)?;
        let descriptors =
            self.bounded(raw.descriptors.as_ref(), "dataplane.descriptors", 64..=4096)?;
        let idle_sleep = raw
            .idle_sleep_us
            .as_ref()
            .map(|us| Duration::from_micros(*us.get_ref()))
            .filter(|d| !d.is_zero());
        Ok(Dataplane::Dpdk(DpdkSettings {
            eal_args,
            port: raw.port.as_ref().map(|port| port.get_ref().clone()),
            kernel_interface,
            ipv4_prefix_len: ipv4_prefix_len.unwrap_or(DEFAULT_IPV4_PREFIX_LEN),
            ipv6_prefix_len: ipv6_prefix_len.unwrap_or(DEFAULT_IPV6_PREFIX_LEN),
            mbufs: mbufs.unwrap_or(DEFAULT_MBUFS),
            descriptors: descriptors.unwrap_or(DEFAULT_DESCRIPTORS),
            idle_sleep,
        }))
    }

    /// Whether `--dpdk` or `dataplane.backend` asks for the DPDK backend.
    fn wants_dpdk(&self, backend: Option<&Text>) -> Result<bool, ConfigError> {
        if self.flags.dpdk.is_some() {
            return Ok(true);
        }
        let Some(backend) = backend else {
            return Ok(false);
        };
        match backend.get_ref().as_str() {
            "kernel" => Ok(false),
            "dpdk" => Ok(true),
            _ => {
                let reason = "expected \"kernel\" or \"dpdk\"".to_owned();
                Err(self.invalid(backend, "dataplane.backend", reason))
            }
        }
    }

    /// `dataplane.kernel_interface`: a Linux interface name.
    fn kernel_interface(&self, value: Option<&Text>) -> Result<String, ConfigError> {
        let Some(value) = value else {
            return Ok(DEFAULT_KERNEL_INTERFACE.to_owned());
        };
        let name = value.get_ref();
        let valid = !name.is_empty()
            && name.len() <= MAX_INTERFACE_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !valid {
            let reason = format!(
                "an interface name: 1 to {MAX_INTERFACE_NAME} letters, digits, '-', '_' or '.'"
            );
            return Err(self.invalid(value, "dataplane.kernel_interface", reason));
        }
        Ok(name.clone())
    }
}

/// EAL arguments as one string, split on whitespace (no shell quoting); at least
/// one.
fn split_eal(text: &str) -> Result<Vec<String>, String> {
    let args: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    if args.is_empty() {
        return Err("needs the EAL arguments".into());
    }
    Ok(args)
}
