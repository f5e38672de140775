//! The record sources read from files at start and on SIGHUP: the configured
//! zones with their zone files, and the embedded store.
//!
//! Each is one translation into the [pipeline](crate::pipeline)'s vocabulary: a
//! full reading becomes an [`Update::Zones`] ("this source holds exactly these
//! zones"), and the publisher works out which names changed. Reading is all or
//! nothing per call: the first bad zone-file line or store error fails it with a
//! message naming the file and line, and the caller keeps serving what it has.
//!
//! A configured zone without a zone file is declared empty by the zone-file
//! source, so it exists (with a synthesised SOA and NS) even before a record is
//! written to it. Zones fed by etcd are left to the etcd source, and so are the
//! store's records inside them.

use std::path::PathBuf;

use ferrodns_dataplane::name::Name;
use tracing::warn;

use crate::config::{ServeConfig, ZoneConfig};
use crate::pipeline::{SourceId, Update, ZoneContent};
use crate::store::{Store, StoreError};
use crate::zonefile::{ZoneFileError, parse_zone_file};

/// Why reading a source failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    ZoneFile(#[from] ZoneFileError),
    #[error("record store: {0}")]
    Store(#[from] StoreError),
    #[error("loading stopped unexpectedly: {0}")]
    Interrupted(String),
}

/// The zone files and the store of a configuration.
#[derive(Debug, Clone)]
pub struct FileSources {
    zones: Vec<ZoneConfig>,
    store: Option<PathBuf>,
    /// Zones fed by etcd: neither source gives them records.
    etcd_zones: Vec<Name>,
}

impl FileSources {
    /// The configured `zones` (less those of `etcd_zones`) and the store at `store`.
    pub fn new(zones: Vec<ZoneConfig>, store: Option<PathBuf>, etcd_zones: Vec<Name>) -> Self {
        FileSources {
            zones,
            store,
            etcd_zones,
        }
    }

    pub fn from_config(config: &ServeConfig) -> Self {
        FileSources::new(
            config.zones.clone(),
            config.store.clone(),
            config.etcd_zones(),
        )
    }

    /// Whether etcd feeds `apex` (or a zone around it): the store's records there
    /// are not served.
    pub fn is_etcd_zone(&self, apex: &Name) -> bool {
        self.etcd_zones
            .iter()
            .any(|etcd| apex.is_subdomain_of(etcd))
    }

    /// Reads every zone file and the store. The store is opened for the read and
    /// closed after it, so that `ferrodns store` can edit it between reloads.
    pub fn read(&self) -> Result<Vec<Update>, LoadError> {
        let mut updates = vec![self.read_zone_files()?];
        if let Some(path) = &self.store {
            updates.push(self.read_store(path)?);
        }
        Ok(updates)
    }

    fn read_zone_files(&self) -> Result<Update, LoadError> {
        let mut zones = Vec::new();
        for zone in &self.zones {
            if self.etcd_zones.contains(&zone.origin) {
                continue;
            }
            let records = match &zone.file {
                Some(path) => parse_zone_file(path, &zone.origin)?,
                None => Vec::new(),
            };
            zones.push(ZoneContent::new(zone.origin.clone(), records));
        }
        Ok(Update::Zones {
            source: SourceId::ZoneFiles,
            zones,
        })
    }

    fn read_store(&self, path: &std::path::Path) -> Result<Update, LoadError> {
        let mut zones = Vec::new();
        for (apex, records) in Store::open(path)?.all_records()? {
            if self.is_etcd_zone(&apex) {
                warn!(zone = %apex, "the store's records for this zone are not served: etcd feeds it");
                continue;
            }
            zones.push(ZoneContent::new(apex, records));
        }
        Ok(Update::Zones {
            source: SourceId::Store,
            zones,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Policies, Publisher};
    use ferrodns_dataplane::record::{RData, Record};
    use ferrodns_dataplane::table::Table;
    use ferrodns_dataplane::testkit::name;
    use std::io::Write;

    fn zone(origin: &str, file: Option<PathBuf>) -> ZoneConfig {
        ZoneConfig {
            origin: name(origin),
            file,
            policy: None,
            name_policies: Vec::new(),
        }
    }

    fn write_zone(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("zone");
        let mut file = std::fs::File::create(&path).unwrap_or_else(|e| unreachable!("{e}"));
        file.write_all(text.as_bytes())
            .unwrap_or_else(|e| unreachable!("{e}"));
        path
    }

    #[test]
    fn merges_zone_files_and_the_store() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = write_zone(&dir, "$TTL 60\nweb IN A 10.0.0.1\n");
        let store_path = dir.path().join("records.redb");
        let store = Store::open(&store_path).unwrap_or_else(|e| unreachable!("{e}"));
        store
            .add_zone(&name("example."))
            .unwrap_or_else(|e| unreachable!("{e}"));
        store
            .add_zone(&name("other."))
            .unwrap_or_else(|e| unreachable!("{e}"));
        let api: Record = Record::new(
            name("api.example."),
            30,
            RData::A(std::net::Ipv4Addr::new(10, 0, 0, 2)),
        );
        store
            .put_records(&[api])
            .unwrap_or_else(|e| unreachable!("{e}"));
        drop(store);
        let sources = FileSources::new(
            vec![zone("example.", Some(path))],
            Some(store_path),
            Vec::new(),
        );
        let mut publisher = Publisher::new(Table::new(), Policies::default());
        publisher.apply(sources.read().unwrap_or_else(|e| unreachable!("{e}")));
        assert_eq!((publisher.zones().len(), publisher.record_count()), (2, 2));
        let version = publisher.table().current();
        for n in ["web.example.", "api.example.", "other."] {
            assert!(version.find(&name(n).to_lowercase_wire()).is_some(), "{n}");
        }
    }

    #[test]
    fn a_bad_line_fails_the_load_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = write_zone(&dir, "$TTL 60\nweb IN A 10.0.0.1\nbad IN A 10.0.0.300\n");
        let sources =
            FileSources::new(vec![zone("example.", Some(path.clone()))], None, Vec::new());
        let error = sources.read().map(|_| ()).map_err(|e| e.to_string());
        let message = error.err().unwrap_or_default();
        assert!(
            message.contains(&format!("{}:3", path.display())),
            "{message}"
        );
    }

    #[test]
    fn zones_etcd_feeds_are_left_to_etcd() {
        let sources = FileSources::new(
            vec![zone("etcd.test.", None), zone("files.test.", None)],
            None,
            vec![name("etcd.test.")],
        );
        let updates = sources.read().unwrap_or_else(|e| unreachable!("{e}"));
        let Some(Update::Zones { zones, .. }) = updates.first() else {
            unreachable!("{updates:?}")
        };
        let apexes: Vec<&Name> = zones.iter().map(|z| &z.apex).collect();
        assert_eq!(apexes, [&name("files.test.")]);
        assert!(sources.is_etcd_zone(&name("sub.etcd.test.")));
    }
}
