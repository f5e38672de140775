//! Which checker checks an address: rendezvous (highest random weight) hashing
//! over the live checkers (sans-IO).
//!
//! Every checker lists the same live checkers (the agent keys etcd holds under
//! their leases) and computes, for each address, a score per checker from a
//! hash of both; the highest score owns the address. Nothing is negotiated:
//! checkers that see the same list agree on every owner. When a checker dies,
//! only its own addresses move (each to the runner-up of its scores), and a new
//! checker takes from each of the others about its fair share.
//!
//! The hash is FNV-1a (64 bits) finished by SplitMix64's mixer: fixed, so that
//! checkers built by different compilers agree.

use std::net::IpAddr;

/// The checker among `agents` that owns `ip`; None when there is none.
pub(crate) fn owner(ip: IpAddr, agents: &[String]) -> Option<&str> {
    agents
        .iter()
        .max_by_key(|agent| (score(agent, ip), agent.as_str()))
        .map(String::as_str)
}

/// `agent`'s score for `ip`.
fn score(agent: &str, ip: IpAddr) -> u64 {
    let octets: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let fnv = agent
        .bytes()
        .chain([0xff])
        .chain(octets)
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    mix(fnv)
}

/// SplitMix64's finaliser: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    use super::*;

    fn addresses() -> impl Iterator<Item = IpAddr> {
        (0..3000u32).map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
    }

    fn agents(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn every_address_has_one_owner_and_the_work_is_shared() {
        let live = agents(&["node-1", "node-2", "node-3"]);
        let mut load: BTreeMap<&str, usize> = BTreeMap::new();
        for ip in addresses() {
            *load
                .entry(owner(ip, &live).unwrap_or_default())
                .or_default() += 1;
        }
        assert_eq!(load.len(), 3, "{load:?}");
        assert!(load.values().all(|n| (800..1200).contains(n)), "{load:?}");
        assert_eq!(
            owner(
                addresses()
                    .next()
                    .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                &[]
            ),
            None
        );
    }

    #[test]
    fn the_owner_does_not_depend_on_the_order_of_the_list() {
        let one = agents(&["a", "b", "c"]);
        let other = agents(&["c", "a", "b"]);
        assert!(addresses().all(|ip| owner(ip, &one) == owner(ip, &other)));
    }

    #[test]
    fn when_a_checker_leaves_only_its_addresses_move() {
        let before = agents(&["node-1", "node-2", "node-3"]);
        let after = agents(&["node-1", "node-3"]);
        for ip in addresses() {
            let was = owner(ip, &before);
            let now = owner(ip, &after);
            if was != Some("node-2") {
                assert_eq!(was, now, "{ip} moved without cause");
            } else {
                assert!(now.is_some_and(|n| n != "node-2"));
            }
        }
    }
}
