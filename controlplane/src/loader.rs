//! Gathers records from zone files and the embedded store and compiles them into a
//! table version.
//!
//! A zone comes from its zone file, from the store, or from both (their records
//! are merged). Loading is all or nothing: the first bad zone-file line, store
//! error or compile error fails the whole load with a message naming the file and
//! line, the zone, or the record, and the caller keeps serving the table it has.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::AnswerPolicy;
use ferrodns_dataplane::table::{CompileError, TableVersion, ZoneInput, compile};

use crate::config::ZoneConfig;
use crate::store::{Store, StoreError};
use crate::zonefile::{ZoneFileError, parse_zone_file};
use tracing::warn;

/// Why a load failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    ZoneFile(#[from] ZoneFileError),
    #[error("record store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("loading stopped unexpectedly: {0}")]
    Interrupted(String),
}

/// What a successful load produced, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    pub zones: usize,
    pub records: usize,
    pub names: usize,
}

/// Where records come from.
#[derive(Debug, Clone)]
pub struct Loader {
    zones: Vec<ZoneConfig>,
    default_policy: AnswerPolicy,
    store: Option<PathBuf>,
    /// Zones fed by etcd: the loader gives them no records (see [`crate::etcd`]).
    etcd_zones: Vec<Name>,
}

impl Loader {
    /// The store, when given, is opened for each load and closed after it, so that
    /// `ferrodns store` can edit it between reloads.
    pub fn new(
        zones: Vec<ZoneConfig>,
        default_policy: AnswerPolicy,
        store: Option<PathBuf>,
    ) -> Self {
        Loader {
            zones,
            default_policy,
            store,
            etcd_zones: Vec::new(),
        }
    }

    /// Leaves the zones etcd feeds to etcd: [`Loader::inputs`] skips them, and
    /// store records inside them.
    pub fn with_etcd_zones(mut self, etcd_zones: Vec<Name>) -> Self {
        self.etcd_zones = etcd_zones;
        self
    }

    /// Whether the zone `apex` has records from a zone file as well as the store.
    pub fn has_zone_file(&self, apex: &Name) -> bool {
        self.zones
            .iter()
            .any(|z| z.origin == *apex && z.file.is_some())
    }

    /// The answer policy of `name` in zone `apex`: its override, else the
    /// zone's, else the default.
    pub fn policy_of(&self, apex: &Name, name: &Name) -> AnswerPolicy {
        let Some(zone) = self.zones.iter().find(|z| z.origin == *apex) else {
            return self.default_policy;
        };
        zone.name_policies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
            .or(zone.policy)
            .unwrap_or(self.default_policy)
    }

    /// The zone inputs of every zone file and the store, not compiled.
    pub fn inputs(&self) -> Result<Vec<ZoneInput>, LoadError> {
        let mut inputs: BTreeMap<Name, ZoneInput> = BTreeMap::new();
        for zone in &self.zones {
            if self.etcd_zones.contains(&zone.origin) {
                continue;
            }
            let records = match &zone.file {
                Some(path) => parse_zone_file(path, &zone.origin)?,
                None => Vec::new(),
            };
            let mut input = ZoneInput::new(zone.origin.clone(), records);
            input.policy = zone.policy.unwrap_or(self.default_policy);
            input.name_policies = zone.name_policies.clone();
            inputs.insert(zone.origin.clone(), input);
        }
        if let Some(path) = &self.store {
            let stored = Store::open(path)?.all_records()?;
            for (apex, records) in stored {
                if self
                    .etcd_zones
                    .iter()
                    .any(|etcd| apex.is_subdomain_of(etcd))
                {
                    warn!(zone = %apex, "the store's records for this zone are not served: etcd feeds it");
                    continue;
                }
                let default_policy = self.default_policy;
                inputs
                    .entry(apex.clone())
                    .or_insert_with(|| {
                        let mut input = ZoneInput::new(apex, Vec::new());
                        input.policy = default_policy;
                        input
                    })
                    .records
                    .extend(records);
            }
        }
        Ok(inputs.into_values().collect())
    }

    /// Reads every source and compiles a fresh version. `down` holds the addresses
    /// health checks marked DOWN; `seed` keys the table's hash.
    pub fn load(
        &self,
        down: &HashSet<IpAddr>,
        seed: u64,
    ) -> Result<(TableVersion, LoadSummary), LoadError> {
        let inputs = self.inputs()?;
        let records = inputs.iter().map(|z| z.records.len()).sum();
        let version = compile(&inputs, down, seed)?;
        let summary = LoadSummary {
            zones: inputs.len(),
            records,
            names: version.name_count(),
        };
        Ok((version, summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::record::Record;
    use std::io::Write;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap_or_else(|e| unreachable!("{e}"))
    }

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
            ferrodns_dataplane::record::RData::A(std::net::Ipv4Addr::new(10, 0, 0, 2)),
        );
        store
            .put_records(&[api])
            .unwrap_or_else(|e| unreachable!("{e}"));
        drop(store);
        let loader = Loader::new(
            vec![zone("example.", Some(path))],
            AnswerPolicy::RoundRobin,
            Some(store_path),
        );
        let (version, summary) = loader
            .load(&HashSet::new(), 1)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((summary.zones, summary.records), (2, 2));
        for n in ["web.example.", "api.example.", "other."] {
            assert!(version.find(&name(n).to_lowercase_wire()).is_some(), "{n}");
        }
    }

    #[test]
    fn a_bad_line_fails_the_load_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = write_zone(&dir, "$TTL 60\nweb IN A 10.0.0.1\nbad IN A 10.0.0.300\n");
        let loader = Loader::new(
            vec![zone("example.", Some(path.clone()))],
            AnswerPolicy::RoundRobin,
            None,
        );
        let error = loader
            .load(&HashSet::new(), 1)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let message = error.err().unwrap_or_default();
        assert!(
            message.contains(&format!("{}:3", path.display())),
            "{message}"
        );
    }
}
