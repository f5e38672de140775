//! A socket standing in for systemd's `NOTIFY_SOCKET`.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// systemd's notification socket, in the abstract namespace (no file to clean
/// up, and a service running as another user may send to it).
pub(crate) struct NotifySocket {
    socket: UnixDatagram,
    /// What `NOTIFY_SOCKET` says: the name with systemd's leading `@`.
    pub(crate) name: String,
}

impl NotifySocket {
    /// A socket named after this test process and `purpose`.
    pub(crate) fn new(purpose: &str) -> NotifySocket {
        let name = format!("ferrodns-{purpose}-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
        let socket = UnixDatagram::bind_addr(&addr).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        NotifySocket {
            socket,
            name: format!("@{name}"),
        }
    }

    /// The next notification holding `what`, within 20 s; those before it
    /// are returned too, in order. `log` is the server's, shown on a failure.
    pub(crate) fn wait_for(&self, what: &str, log: &dyn Fn() -> String) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = message.contains(what);
                seen.push(message);
                if done {
                    return seen;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {what} among {seen:?}: {}",
                log()
            );
        }
    }
}
