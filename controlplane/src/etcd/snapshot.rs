//! A local copy of what etcd held, so that a restart while etcd is down serves the
//! last known records instead of empty zones.
//!
//! The snapshot keeps the raw key/value pairs (they go through the same decoder as
//! live ones), the revision they reflect, when it was written, and a fingerprint of
//! the settings that chose the keys (prefixes and zones): after a restart with
//! other settings the snapshot still serves, but the first connection does a full
//! load instead of resuming the watch from the snapshot's revision, which would
//! miss keys the old settings left out.
//!
//! Layout (integers big-endian):
//!
//! ```text
//! magic        "ferrodns etcd snapshot\n"
//! version      u32 (1)
//! saved_at_ms  u64   Unix time
//! revision     i64
//! fingerprint  u32 length, bytes
//! count        u64
//! count ×      u32 key length, key, u32 value length, value
//! checksum     u64   FNV-1a of everything before it
//! ```
//!
//! It is written to `PATH.tmp`, fsync'd and renamed over `PATH`, so a crash leaves
//! the old snapshot or the new one; a torn or foreign file is refused whole by the
//! checksum and the magic.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8] = b"ferrodns etcd snapshot\n";
const VERSION: u32 = 1;

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub saved_at: SystemTime,
    pub revision: i64,
    pub fingerprint: String,
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Why a snapshot could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read etcd snapshot {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a usable etcd snapshot: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: &'static str },
}

/// Serialises a snapshot (cheap; done while the records are at hand).
pub fn encode<'a>(
    saved_at: SystemTime,
    revision: i64,
    fingerprint: &str,
    pairs: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + pairs.len() * 96);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    let ms = saved_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    out.extend_from_slice(&ms.to_be_bytes());
    out.extend_from_slice(&revision.to_be_bytes());
    put_bytes(&mut out, fingerprint.as_bytes());
    out.extend_from_slice(&(pairs.len() as u64).to_be_bytes());
    for (key, value) in pairs {
        put_bytes(&mut out, key);
        put_bytes(&mut out, value);
    }
    let checksum = fnv1a(&out);
    out.extend_from_slice(&checksum.to_be_bytes());
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Writes `bytes` (from [`encode`]) to `path` atomically and durably.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads and checks the snapshot at `path`.
pub fn read(path: &Path) -> Result<Snapshot, SnapshotError> {
    let bytes = fs::read(path).map_err(|source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode(&bytes).map_err(|reason| SnapshotError::Corrupt {
        path: path.to_owned(),
        reason,
    })
}

fn decode(bytes: &[u8]) -> Result<Snapshot, &'static str> {
    let body_len = bytes.len().checked_sub(8).ok_or("too short")?;
    let (body, sum) = bytes.split_at(body_len);
    let mut reader = Reader { bytes: body };
    if reader.take(MAGIC.len())? != MAGIC {
        return Err("not a ferrodns etcd snapshot");
    }
    if u64::from_be_bytes(sum.try_into().map_err(|_| "too short")?) != fnv1a(body) {
        return Err("checksum mismatch (torn or altered file)");
    }
    if reader.u32()? != VERSION {
        return Err("written by another snapshot format version");
    }
    let saved_at = UNIX_EPOCH + Duration::from_millis(reader.u64()?);
    let revision = reader.u64()? as i64;
    let fingerprint = String::from_utf8(reader.bytes()?.to_vec()).map_err(|_| "bad fingerprint")?;
    let count = reader.u64()?;
    let mut pairs = Vec::with_capacity(usize::try_from(count.min(1 << 24)).unwrap_or(0));
    for _ in 0..count {
        let key = reader.bytes()?.to_vec();
        let value = reader.bytes()?.to_vec();
        pairs.push((key, value));
    }
    if !reader.bytes.is_empty() {
        return Err("trailing bytes");
    }
    Ok(Snapshot {
        saved_at,
        revision,
        fingerprint,
        pairs,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.bytes.len() < n {
            return Err("truncated");
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let head = self.take(4)?;
        Ok(u32::from_be_bytes(
            head.try_into().map_err(|_| "truncated")?,
        ))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let head = self.take(8)?;
        Ok(u64::from_be_bytes(
            head.try_into().map_err(|_| "truncated")?,
        ))
    }

    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

/// FNV-1a, 64-bit: a stable checksum (not a defence against tampering).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let pairs: Vec<(&[u8], &[u8])> = vec![
            (b"/skydns/org/example/web/1", br#"{"host":"10.0.0.1"}"#),
            (
                b"/containerdns/monitor/status/10.0.0.1",
                br#"{"status":"UP"}"#,
            ),
        ];
        encode(
            UNIX_EPOCH + Duration::from_millis(1234),
            42,
            "zones=a.",
            pairs.into_iter(),
        )
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("etcd.snapshot");
        write(&path, &sample()).unwrap_or_else(|e| unreachable!("{e}"));
        let snapshot = read(&path).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(snapshot.revision, 42);
        assert_eq!(snapshot.fingerprint, "zones=a.");
        assert_eq!(snapshot.saved_at, UNIX_EPOCH + Duration::from_millis(1234));
        assert_eq!(snapshot.pairs.len(), 2);
        assert_eq!(snapshot.pairs[1].1, br#"{"status":"UP"}"#);
        assert!(!dir.path().join("etcd.snapshot.tmp").exists());
    }

    #[test]
    fn torn_or_foreign_files_are_refused() {
        let bytes = sample();
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        assert_eq!(
            decode(&flipped),
            Err("checksum mismatch (torn or altered file)")
        );
        assert_eq!(
            decode(b"hello, this is not a snapshot at all"),
            Err("not a ferrodns etcd snapshot")
        );
        let missing = read(Path::new("/nonexistent/etcd.snapshot"))
            .err()
            .map(|e| e.to_string());
        assert!(missing.is_some_and(|m| m.contains("/nonexistent/etcd.snapshot")));
    }
}
