//! `--pid-file PATH`: the file holds the server's process ID while it runs.
//!
//! The file is claimed at start, before any socket opens: opened (created when
//! missing) and locked (`flock`, exclusive) for the life of the process. A
//! second server given the same file finds it locked and refuses to start,
//! naming the process that holds it; a file left behind by a server that died
//! holds no lock and is taken over, so a stale ID can never block a start (nor
//! a recycled ID fake one). The ID is written once the server is ready, and
//! the file removed when it stops.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use tracing::warn;

/// Why the pid file could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error(
        "another ferrodns is running{} and holds the pid file {}: stop it first, \
         or give this one another --pid-file",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
        path.display()
    )]
    Held { path: PathBuf, holder: Option<u32> },
    #[error(
        "cannot open the pid file {}: {source}; create its directory or choose \
         another --pid-file",
        path.display()
    )]
    Open { path: PathBuf, source: io::Error },
}

/// A claimed pid file; removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: File,
}

impl PidFile {
    /// Opens and locks `path`; fails when another process holds it.
    pub fn claim(path: &Path) -> Result<PidFile, PidFileError> {
        let open_error = |source| PidFileError::Open {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(open_error)?;
        match file.try_lock() {
            Ok(()) => Ok(PidFile {
                path: path.to_owned(),
                file,
            }),
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let holder = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                Err(PidFileError::Held {
                    path: path.to_owned(),
                    holder,
                })
            }
            Err(TryLockError::Error(e)) => Err(open_error(e)),
        }
    }

    /// Writes this process's ID into the file (replacing what was there).
    pub fn write_pid(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        writeln!(self.file, "{}", std::process::id())?;
        self.file.sync_all()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            warn!(path = %self.path.display(), "cannot remove the pid file: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_file_is_refused_naming_its_holder_and_a_released_one_is_gone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("ferrodns.pid");
        let mut first = PidFile::claim(&path).unwrap_or_else(|e| unreachable!("{e}"));
        first.write_pid().unwrap_or_else(|e| unreachable!("{e}"));
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(written.trim(), std::process::id().to_string());
        let refused = PidFile::claim(&path).map(|_| ()).map_err(|e| e.to_string());
        let message = refused.err().unwrap_or_default();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        assert!(!path.exists());
    }

    #[test]
    fn a_file_left_by_a_dead_server_is_taken_over() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("ferrodns.pid");
        std::fs::write(&path, "999999999\n").unwrap_or_else(|e| unreachable!("{e}"));
        let mut claimed = PidFile::claim(&path).unwrap_or_else(|e| unreachable!("{e}"));
        claimed.write_pid().unwrap_or_else(|e| unreachable!("{e}"));
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(written.trim(), std::process::id().to_string());
    }
}
