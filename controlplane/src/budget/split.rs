//! Splitting the descriptor limit between the classes that hold descriptors on
//! an outsider's behalf, after the headroom the process itself needs.
//!
//! The configured caps are used as they are when they fit. When they do not,
//! each is cut in the same proportion (never below 1) so that together they fit
//! what the limit leaves after the headroom: no class can then take the
//! descriptors another needs, whatever the traffic.

/// Descriptors the process needs for itself whatever the configuration: standard
/// streams, the runtime's epoll and wake-ups, signal pipes, listeners, the store,
/// etcd and log files, and files opened during a reload.
pub const BASE_HEADROOM: usize = 64;
/// Headroom per UDP socket (workers × listen addresses): the socket, its
/// duplicate held by the forwarder's replier, and the worker's wake-up pair.
pub const HEADROOM_PER_UDP_SOCKET: usize = 4;
/// Extra headroom with the DPDK backend: hugepage files, the tap interface, EAL
/// threads' and interrupt descriptors.
pub const DPDK_HEADROOM: usize = 256;

/// What the configuration asks of each class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// `tcp.max_connections`.
    pub tcp: usize,
    /// `api.max_connections`; 0 without the API.
    pub api: usize,
    /// `forward.max_sockets`; 0 without upstreams.
    pub forward: usize,
    /// Descriptors kept for the process itself.
    pub headroom: usize,
}

/// What each class gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub tcp: usize,
    pub api: usize,
    pub forward: usize,
    /// Whether any class got less than it asked.
    pub reduced: bool,
}

impl Wanted {
    /// The headroom of a process with `udp_sockets` kernel UDP sockets, plus
    /// [`DPDK_HEADROOM`] with `dpdk`.
    pub fn headroom_for(udp_sockets: usize, dpdk: bool) -> usize {
        BASE_HEADROOM + HEADROOM_PER_UDP_SOCKET * udp_sockets + if dpdk { DPDK_HEADROOM } else { 0 }
    }

    /// Splits `limit` descriptors.
    pub fn split(&self, limit: u64) -> Split {
        let asked = self.tcp + self.api + self.forward;
        let available = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.headroom);
        if asked <= available {
            return Split {
                tcp: self.tcp,
                api: self.api,
                forward: self.forward,
                reduced: false,
            };
        }
        // asked > available >= 0, so asked > 0; u128 keeps the product exact.
        let share = |wanted: usize| -> usize {
            if wanted == 0 {
                return 0;
            }
            let cut = wanted as u128 * available as u128 / asked as u128;
            usize::try_from(cut).unwrap_or(wanted).max(1)
        };
        Split {
            tcp: share(self.tcp),
            api: share(self.api),
            forward: share(self.forward),
            reduced: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Wanted = Wanted {
        tcp: 1024,
        api: 64,
        forward: 512,
        headroom: 80,
    };

    #[test]
    fn caps_that_fit_are_kept() {
        let split = DEFAULTS.split(1 << 20);
        assert_eq!(
            split,
            Split {
                tcp: 1024,
                api: 64,
                forward: 512,
                reduced: false
            }
        );
        // Exactly enough is enough.
        assert!(!DEFAULTS.split(1024 + 64 + 512 + 80).reduced);
    }

    #[test]
    fn a_1024_descriptor_process_cuts_every_class_in_proportion() {
        let split = DEFAULTS.split(1024);
        assert!(split.reduced);
        assert!(split.tcp + split.api + split.forward + DEFAULTS.headroom <= 1024);
        assert_eq!((split.tcp, split.api, split.forward), (604, 37, 302));
    }

    #[test]
    fn an_absent_class_takes_nothing_and_a_tiny_limit_leaves_one_each() {
        let no_api = Wanted {
            api: 0,
            forward: 0,
            ..DEFAULTS
        };
        assert_eq!(no_api.split(1024).tcp, 944);
        assert_eq!(no_api.split(1024).api, 0);
        let split = DEFAULTS.split(10);
        assert_eq!((split.tcp, split.api, split.forward), (1, 1, 1));
    }

    #[test]
    fn headroom_grows_with_udp_sockets_and_dpdk() {
        assert_eq!(Wanted::headroom_for(4, false), 80);
        assert_eq!(Wanted::headroom_for(4, true), 336);
    }
}
