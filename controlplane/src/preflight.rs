//! What can be checked of a configuration without serving it.
//!
//! `ferrodns serve` runs [`check_environment`] before it loads a record or
//! opens a socket, so a setting that would fail later (the API's token, the
//! store's directory) stops the start at once, every problem named, instead of
//! after the server said it was ready. `ferrodns check-config` runs the same
//! checks and [`check_zone_files`] too, so that it rejects what `serve` would
//! reject, and lists every problem rather than the first.

use std::fmt;
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::Path;

use rustix::fs::{Access, access};

use crate::api;
use crate::config::{ConfigError, Dataplane, ServeConfig};
use crate::zonefile::check_zone_file;

/// Every problem a check found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl Problems {
    /// The errors of a configuration that does not load, one each.
    pub fn of_config(error: ConfigError) -> Problems {
        match error {
            ConfigError::Several(errors) => {
                Problems(errors.iter().map(ToString::to_string).collect())
            }
            error => Problems(vec![error.to_string()]),
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => f.write_str(one),
            many => {
                write!(f, "{} problems:", many.len())?;
                many.iter().try_for_each(|p| write!(f, "\n  {p}"))
            }
        }
    }
}

impl std::error::Error for Problems {}

/// The problems of the files and secrets `config` names that start-up would
/// meet: the REST API's token and TLS files, the store's path, and the DPDK
/// backend's need of root. Empty: none.
pub fn check_environment(config: &ServeConfig) -> Vec<String> {
    let mut problems = Vec::new();
    problems.extend(dpdk_without_root(
        &config.dataplane,
        rustix::process::geteuid().is_root(),
    ));
    if let Some(settings) = &config.api
        && let Err(e) = api::check_settings(settings)
    {
        problems.push(format!("cannot start the REST API: {e}"));
    }
    if let Some(path) = &config.store
        && let Err(problem) = check_store_path(path)
    {
        problems.push(problem);
    }
    problems
}

/// The DPDK backend needs root (hugepages, the NIC, the TAP interface of the
/// exception path); started without it, DPDK fails deep in its start with a
/// bare `Cannot allocate memory`.
fn dpdk_without_root(dataplane: &Dataplane, root: bool) -> Option<String> {
    (matches!(dataplane, Dataplane::Dpdk(_)) && !root).then(|| {
        "the DPDK backend needs root (for hugepages, the NIC and the TAP interface): run \
         ferrodns as root (the systemd unit: a drop-in with User=root), or drop --dpdk \
         (dataplane.backend) to answer on kernel sockets"
            .to_owned()
    })
}

/// Every error of every zone file `config` names, each as `file:line: reason`.
pub fn check_zone_files(config: &ServeConfig) -> Vec<String> {
    config
        .zones
        .iter()
        .filter_map(|zone| Some((zone.file.as_deref()?, &zone.origin)))
        .flat_map(|(path, origin)| check_zone_file(path, origin).1)
        .map(|error| error.to_string())
        .collect()
}

/// Whether the store at `path` can be opened for writing, or created: an
/// existing file must open read-write, a missing one needs a directory the
/// server may write in.
fn check_store_path(path: &Path) -> Result<(), String> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Err(format!(
            "the record store {shown} is a directory: set store.path (--store) to a file in it"
        )),
        Ok(_) => OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(drop)
            .map_err(|e| {
                format!(
                    "cannot open the record store {shown}: {e}; give the server's user \
                     read and write access to it"
                )
            }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let dir = path.parent().unwrap_or(Path::new("/"));
            let dir_shown = dir.display();
            if !dir.is_dir() {
                return Err(format!(
                    "cannot create the record store {shown}: the directory {dir_shown} does \
                     not exist; create it (mkdir -p {dir_shown}) or set store.path (--store) \
                     elsewhere"
                ));
            }
            access(dir, Access::WRITE_OK).map_err(|e| {
                format!(
                    "cannot create the record store {shown}: {dir_shown} is not writable \
                     ({e}); give the server's user write access to it or set store.path \
                     (--store) elsewhere"
                )
            })
        }
        Err(e) => Err(format!("cannot open the record store {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpdk_needs_root_and_kernel_sockets_do_not() {
        let flags = crate::config::Overrides {
            dpdk: Some("-l 0-1 --vdev net_null0".into()),
            listen: vec!["127.0.0.1:5353".into()],
            ..crate::config::Overrides::default()
        };
        let config = crate::config::load(None, &flags).unwrap_or_else(|e| unreachable!("{e}"));
        let dpdk = config.dataplane;
        assert!(dpdk_without_root(&dpdk, false).is_some_and(|p| p.contains("needs root")));
        assert_eq!(dpdk_without_root(&dpdk, true), None);
        assert_eq!(dpdk_without_root(&Dataplane::Kernel, false), None);
    }

    #[test]
    fn a_store_path_needs_an_existing_directory_and_must_not_be_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(check_store_path(&dir.path().join("records.redb")), Ok(()));
        let missing_dir = dir.path().join("nope/records.redb");
        let message = check_store_path(&missing_dir).err().unwrap_or_default();
        assert!(
            message.contains("does not exist") && message.contains("mkdir -p"),
            "{message}"
        );
        let message = check_store_path(dir.path()).err().unwrap_or_default();
        assert!(message.contains("is a directory"), "{message}");
    }
}
