//! The same socket receive buffer for every server. ferrodns asks for a 4 MiB
//! buffer on each UDP socket; NSD and Knot keep the kernel's default
//! (`net.core.rmem_default`, 208 KiB on Debian), which a burst of a few hundred
//! queries overflows. Comparing them that way would measure a buffer setting,
//! not the servers, so while the servers open their sockets the default is raised
//! to ferrodns's size (as root), and put back once they have (a socket takes the
//! default when it is created).

use std::fs;

const RMEM_DEFAULT: &str = "/proc/sys/net/core/rmem_default";
/// ferrodns's own buffer size (`dataplane/src/io/udp.rs`).
const BUFFER: u64 = 4 << 20;

/// Holds the raised default; dropping it restores the previous one.
#[derive(Debug)]
pub(crate) struct RaisedDefault {
    previous: String,
}

/// Raises `net.core.rmem_default` to ferrodns's buffer size, or says why it
/// cannot (then the servers keep their own settings and the report says so).
pub(crate) fn raise() -> Result<RaisedDefault, String> {
    let previous = fs::read_to_string(RMEM_DEFAULT).map_err(|e| format!("{RMEM_DEFAULT}: {e}"))?;
    fs::write(RMEM_DEFAULT, BUFFER.to_string()).map_err(|e| format!("{RMEM_DEFAULT}: {e}"))?;
    Ok(RaisedDefault {
        previous: previous.trim().to_owned(),
    })
}

impl RaisedDefault {
    /// The buffer every server's sockets start with, in bytes.
    pub(crate) fn bytes(&self) -> u64 {
        BUFFER
    }
}

impl Drop for RaisedDefault {
    fn drop(&mut self) {
        if let Err(e) = fs::write(RMEM_DEFAULT, &self.previous) {
            eprintln!("cannot restore {RMEM_DEFAULT} to {}: {e}", self.previous);
        }
    }
}
