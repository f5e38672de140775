//! `ferrodns hugepages [PAGES]`: makes 2 MiB hugepages available to the DPDK
//! backend, as an installed command (the package's `ferrodns-hugepages`
//! service runs it at boot) rather than a script of the source tree.
//!
//! Reserves at least `PAGES` pages (512, 1 GiB, by default) and mounts
//! hugetlbfs on `/dev/hugepages` when either is missing; never lowers a
//! reservation someone else made, and changes nothing when all is in place,
//! so it can run at every boot and before every start. `--check` only says
//! what is there. Needs root to change anything.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, mount};

/// Pages reserved when no count is given: 1 GiB.
pub const DEFAULT_PAGES: u64 = 512;

/// Where the kernel keeps 2 MiB hugepages' count, where mounts are listed, and
/// where hugetlbfs goes.
#[derive(Debug, Clone)]
pub struct Host {
    pub nr_hugepages: PathBuf,
    pub mounts: PathBuf,
    pub mount_point: PathBuf,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            nr_hugepages: "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages".into(),
            mounts: "/proc/mounts".into(),
            mount_point: "/dev/hugepages".into(),
        }
    }
}

/// Why the hugepages are not in place.
#[derive(Debug, thiserror::Error)]
pub enum HugepagesError {
    #[error("this kernel offers no 2 MiB hugepages ({} is missing)", .0.display())]
    Unsupported(PathBuf),
    #[error("reserving hugepages and mounting hugetlbfs need root: run `sudo ferrodns hugepages`")]
    NotRoot,
    #[error(
        "asked the kernel for {wanted} hugepages of 2 MiB, it gave {got}: free some memory, \
         or ask for fewer (`ferrodns hugepages {got}`)"
    )]
    Short { wanted: u64, got: u64 },
    #[error("cannot {what}: {source}")]
    System { what: String, source: io::Error },
}

/// What is in place: pages reserved and where hugetlbfs is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub pages: u64,
    pub mounted_on: Option<PathBuf>,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} hugepages of 2 MiB reserved", self.pages)?;
        match &self.mounted_on {
            Some(dir) => write!(f, ", hugetlbfs mounted on {}", dir.display()),
            None => write!(f, ", hugetlbfs not mounted"),
        }
    }
}

/// The subcommand: with `check`, what is in place; otherwise makes sure of
/// `pages` pages (or [`DEFAULT_PAGES`]) and a mount, and says what it did.
pub fn run(pages: Option<u64>, check: bool) -> Result<String, HugepagesError> {
    let host = Host::default();
    if check {
        return Ok(format!("{}\n", host.state()?));
    }
    let (done, state) = host.ensure(pages.unwrap_or(DEFAULT_PAGES))?;
    let mut text: String = done.iter().map(|line| format!("{line}\n")).collect();
    text.push_str(&format!("{state}\n"));
    Ok(text)
}

impl Host {
    /// What is in place now.
    pub fn state(&self) -> Result<State, HugepagesError> {
        let pages = self.reserved()?;
        let mounts = std::fs::read_to_string(&self.mounts).unwrap_or_default();
        let mounted_on = mounts.lines().find_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, dir, kind) = (fields.next(), fields.next()?, fields.next()?);
            (kind == "hugetlbfs").then(|| PathBuf::from(dir))
        });
        Ok(State { pages, mounted_on })
    }

    /// Reserves at least `pages` pages and mounts hugetlbfs when missing;
    /// what was done, one line each, and the state after.
    pub fn ensure(&self, pages: u64) -> Result<(Vec<String>, State), HugepagesError> {
        let mut done = Vec::new();
        let before = self.state()?;
        if before.pages < pages {
            std::fs::write(&self.nr_hugepages, format!("{pages}\n"))
                .map_err(|e| self.system_error(e, "reserve hugepages"))?;
            let got = self.reserved()?;
            if got < pages {
                return Err(HugepagesError::Short { wanted: pages, got });
            }
            done.push(format!(
                "reserved {got} hugepages of 2 MiB (had {})",
                before.pages
            ));
        }
        if before.mounted_on.is_none() {
            self.mount()?;
            done.push(format!(
                "mounted hugetlbfs on {}",
                self.mount_point.display()
            ));
        }
        Ok((done, self.state()?))
    }

    fn reserved(&self) -> Result<u64, HugepagesError> {
        let text = std::fs::read_to_string(&self.nr_hugepages).map_err(|e| match e.kind() {
            ErrorKind::NotFound => HugepagesError::Unsupported(self.nr_hugepages.clone()),
            _ => self.system_error(e, "read the hugepage count"),
        })?;
        text.trim().parse().map_err(|_| HugepagesError::System {
            what: format!("read the hugepage count in {}", self.nr_hugepages.display()),
            source: io::Error::new(ErrorKind::InvalidData, format!("{:?}", text.trim())),
        })
    }

    fn mount(&self) -> Result<(), HugepagesError> {
        std::fs::create_dir_all(&self.mount_point)
            .map_err(|e| self.system_error(e, "create the hugetlbfs mount point"))?;
        mount(
            "nodev",
            Path::new(&self.mount_point),
            "hugetlbfs",
            MountFlags::empty(),
            Some(c"pagesize=2M"),
        )
        .map_err(|e| self.system_error(e.into(), "mount hugetlbfs"))
    }

    fn system_error(&self, error: io::Error, what: &str) -> HugepagesError {
        match error.kind() {
            ErrorKind::PermissionDenied => HugepagesError::NotRoot,
            _ => HugepagesError::System {
                what: what.to_owned(),
                source: error,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host whose hugetlbfs is already mounted, with `pages` reserved.
    fn host(dir: &Path, pages: u64) -> Host {
        let host = Host {
            nr_hugepages: dir.join("nr_hugepages"),
            mounts: dir.join("mounts"),
            mount_point: dir.join("hugepages"),
        };
        std::fs::write(&host.nr_hugepages, format!("{pages}\n"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        std::fs::write(
            &host.mounts,
            "proc /proc proc rw 0 0\nnodev /mnt/huge hugetlbfs rw,pagesize=2M 0 0\n",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        host
    }

    #[test]
    fn a_reservation_is_raised_never_lowered_and_the_mount_found() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let host = host(dir.path(), 16);
        let (done, state) = host.ensure(64).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(done, ["reserved 64 hugepages of 2 MiB (had 16)"]);
        assert_eq!(
            state.to_string(),
            "64 hugepages of 2 MiB reserved, hugetlbfs mounted on /mnt/huge"
        );
        let (done, state) = host.ensure(8).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(done.is_empty(), "{done:?}");
        assert_eq!(state.pages, 64);
    }

    #[test]
    fn a_kernel_without_2_mib_pages_is_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let host = Host {
            nr_hugepages: dir.path().join("missing"),
            ..Host::default()
        };
        let message = host.state().map(drop).err().map(|e| e.to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("no 2 MiB hugepages")),
            "{message:?}"
        );
    }
}
