//! The checks themselves: a TCP connect to an address's ports, or an ICMP echo.
//!
//! A TCP check passes when one of the ports accepts a connection within the
//! timeout (the connection is closed at once), as containerdns's scanner
//! decides; it fails when every port refuses, is unreachable or stays silent. An
//! address with no port at all, or any address with `method = "icmp"`, is sent
//! one echo request instead. Errors that are this host's own (no descriptor or
//! local port left) make the check [`Outcome::Unknown`]: they say nothing about
//! the address.
//!
//! A round of checks runs as tokio tasks on the control plane's runtime, never
//! on a poll-loop core, with at most `max_concurrent` in flight.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::pinger::{Pinger, unreachable};
use super::verdict::Outcome;
use crate::config::CheckMethod;

/// How every address of a checker is checked.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub(crate) method: CheckMethod,
    pub(crate) timeout: Duration,
    pub(crate) pinger: Arc<Pinger>,
    /// Checks in flight at once.
    pub(crate) limit: Arc<Semaphore>,
}

impl Probe {
    /// Checks every `(address, ports)` at once (within the limit); the
    /// outcomes come back in the order given.
    pub(crate) async fn round(&self, targets: Vec<(IpAddr, Vec<u16>)>) -> Vec<(IpAddr, Outcome)> {
        let mut checks = JoinSet::new();
        for (index, (ip, ports)) in targets.into_iter().enumerate() {
            let probe = self.clone();
            checks.spawn(async move {
                let _permit = probe.limit.acquire().await;
                (index, ip, probe.check(ip, &ports).await)
            });
        }
        let mut outcomes: Vec<(usize, IpAddr, Outcome)> =
            checks.join_all().await.into_iter().collect();
        outcomes.sort_by_key(|(index, _, _)| *index);
        outcomes
            .into_iter()
            .map(|(_, ip, outcome)| (ip, outcome))
            .collect()
    }

    /// One check of `ip`.
    pub(crate) async fn check(&self, ip: IpAddr, ports: &[u16]) -> Outcome {
        if self.method == CheckMethod::Icmp || ports.is_empty() {
            return self.pinger.echo(ip, self.timeout).await;
        }
        if let [port] = ports {
            return connect(SocketAddr::new(ip, *port), self.timeout).await;
        }
        let mut connects = JoinSet::new();
        for port in ports {
            connects.spawn(connect(SocketAddr::new(ip, *port), self.timeout));
        }
        let mut failed = false;
        while let Some(outcome) = connects.join_next().await {
            match outcome {
                Ok(Outcome::Passed) => return Outcome::Passed,
                Ok(Outcome::Failed) => failed = true,
                Ok(Outcome::Unknown) | Err(_) => {}
            }
        }
        if failed {
            Outcome::Failed
        } else {
            Outcome::Unknown
        }
    }
}

/// One TCP connect to `addr`, closed as soon as it is made.
async fn connect(addr: SocketAddr, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(_connected)) => Outcome::Passed,
        Ok(Err(e)) if unreachable(&e) => Outcome::Failed,
        Ok(Err(_)) => Outcome::Unknown,
        Err(_) => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        Probe {
            method: CheckMethod::Tcp,
            timeout: Duration::from_millis(500),
            pinger: Arc::new(Pinger::new()),
            limit: Arc::new(Semaphore::new(4)),
        }
    }

    #[tokio::test]
    async fn a_listening_port_passes_a_closed_one_fails() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await;
        let Ok(listener) = listener else {
            return;
        };
        let open = listener.local_addr().map_or(0, |a| a.port());
        // A port just released: nothing listens there.
        let closed = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(socket) => socket.local_addr().map_or(1, |a| a.port()),
            Err(_) => return,
        };
        let ip = IpAddr::from([127, 0, 0, 1]);
        let probe = probe();
        assert_eq!(probe.check(ip, &[open]).await, Outcome::Passed);
        assert_eq!(probe.check(ip, &[closed]).await, Outcome::Failed);
        assert_eq!(
            probe.check(ip, &[closed, open]).await,
            Outcome::Passed,
            "any port will do"
        );
        let round = probe
            .round(vec![
                (ip, vec![closed]),
                (ip, vec![open]),
                (ip, vec![closed]),
            ])
            .await;
        let outcomes: Vec<Outcome> = round.into_iter().map(|(_, o)| o).collect();
        assert_eq!(
            outcomes,
            [Outcome::Failed, Outcome::Passed, Outcome::Failed]
        );
    }
}
