//! systemd's notification protocol (`sd_notify(3)`): datagrams of
//! `KEY=VALUE` lines sent to the unix socket `NOTIFY_SOCKET` names (a path, or
//! `@name` for an abstract socket). Without `NOTIFY_SOCKET` (not started by
//! systemd with `Type=notify`) every call does nothing.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use tracing::debug;

/// Where the service manager listens for our state, if it does.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// The manager `NOTIFY_SOCKET` names; one that cannot be reached is
    /// logged at debug level and ignored (the server runs the same without).
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let path = path.to_string_lossy().into_owned();
            let addr = match path.strip_prefix('@') {
                Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
                None => SocketAddr::from_pathname(&path),
            };
            match (addr, UnixDatagram::unbound()) {
                (Ok(addr), Ok(socket)) => Some((socket, addr)),
                (Err(e), _) | (_, Err(e)) => {
                    debug!("NOTIFY_SOCKET {path}: {e}; not notifying the service manager");
                    None
                }
            }
        });
        Notifier { target }
    }

    /// The first table is published and every listener is bound.
    pub fn ready(&self) {
        self.send(&format!(
            "READY=1\nSTATUS=answering\nMAINPID={}",
            std::process::id()
        ));
    }

    /// A reload has started; [`Notifier::reloaded`] says when it ends.
    pub fn reloading(&self) {
        self.send("RELOADING=1\nSTATUS=reloading");
    }

    /// A reload has ended; `outcome` is shown by `systemctl status`.
    pub fn reloaded(&self, outcome: &str) {
        self.send(&format!("READY=1\nSTATUS={outcome}"));
    }

    /// The server is stopping.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    fn send(&self, state: &str) {
        if let Some((socket, addr)) = &self.target
            && let Err(e) = socket.send_to_addr(state.as_bytes(), addr)
        {
            debug!("cannot notify the service manager: {e}");
        }
    }
}
