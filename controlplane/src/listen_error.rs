//! What a failed bind of a listening socket says: the system's reason, then
//! what to do about it, in the same sentence. The address is in the message
//! around it.

use std::io::ErrorKind;

/// The advice for a bind that failed with `kind`, on an address set by
/// `setting` (the file key and its flag, e.g. `server.listen (--listen)`);
/// empty for a failure no advice fits. Starts with `; `.
pub(crate) fn advice(kind: ErrorKind, setting: &str) -> String {
    match kind {
        ErrorKind::AddrInUse => format!(
            "; another process holds that address (`ss -lntup` shows which): stop it, or \
             choose another {setting}"
        ),
        ErrorKind::PermissionDenied => format!(
            "; ports below 1024 need root or the capability CAP_NET_BIND_SERVICE (the \
             systemd unit grants it): run ferrodns so, or choose a port above 1023 in {setting}"
        ),
        ErrorKind::AddrNotAvailable => {
            format!("; no interface of this host has that address: choose one it has in {setting}")
        }
        _ => String::new(),
    }
}
