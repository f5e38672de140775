//! The SOA each zone is served with, and the serial the publisher keeps for the
//! zones whose sources give none of their own.
//!
//! A secondary server (`knotd` transferring a zone by AXFR) asks for a zone again
//! only when its SOA serial has risen, so a zone that changes must say so in its
//! serial. Zone files do that themselves; a zone without an SOA (a `--domain`
//! zone fed by the store or etcd) gets one made up by the compiler with serial 1
//! forever, and the OpenSVC agent's SOA, polled from its remote backend, says
//! serial 1 forever too. With [`ZoneSerials::starting_at`] the publisher owns a
//! serial per zone, which starts at a given value (the server passes the Unix
//! time, so that a restarted server does not go back below what its secondaries
//! hold) and rises by one with every published change of the zone; it is served
//! in the SOA the publisher makes up for a zone without one (same fields as the
//! compiler's, [`synthetic_soa`]), and in place of the serial of an SOA from a
//! source that keeps none ([`SourceId::keeps_serial`]), unless that source's
//! serial is ahead.
//!
//! The apex SOA is chosen here too. Sources may give several: the agent repeats
//! its SOA once per name server of the cluster (identical records, kept once by
//! the model), and two sources may both give one. One is served: the first
//! source's (in [`SourceId`] order), and of its SOAs the one whose wire rdata
//! sorts first, so the choice does not depend on the order records arrived in.
//! Different SOAs at one apex are logged each time the apex is compiled.
//!
//! What every zone's SOA serial is, as published, is watchable
//! ([`ZoneSerials::watch`]): the NOTIFY sender follows it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};
use ferrodns_dataplane::table::synthetic_soa;
use tokio::sync::watch;
use tracing::warn;

use super::SourceId;
use super::stored::StoredRecords;

/// What [`ZoneSerials::compose`] makes of an apex.
struct ApexView {
    records: Vec<Record>,
    /// The zone's owned serial after this compile, when it uses one.
    owned: Option<u32>,
    /// The serial its SOA is served with.
    served: u32,
}

/// Every zone's served SOA serial, by apex.
pub type SerialMap = Arc<BTreeMap<Name, u32>>;

/// The serial the compiler gives the SOA it makes up.
const COMPILER_SERIAL: u32 = 1;

/// Per-zone serials and the served SOA of each zone.
#[derive(Debug)]
pub(super) struct ZoneSerials {
    /// Where owned serials start; `None`: serials are not owned (SOAs as the
    /// sources give them, the compiler's serial 1 where there is none).
    start: Option<u32>,
    /// The publisher's own serial of each zone it has compiled.
    owned: HashMap<Name, u32>,
    /// The serial each zone's SOA is served with now.
    served: BTreeMap<Name, u32>,
    sender: watch::Sender<SerialMap>,
}

impl Default for ZoneSerials {
    fn default() -> Self {
        ZoneSerials {
            start: None,
            owned: HashMap::new(),
            served: BTreeMap::new(),
            sender: watch::Sender::new(Arc::default()),
        }
    }
}

impl ZoneSerials {
    /// Owned serials, each zone's starting at `start`.
    pub(super) fn starting_at(start: u32) -> Self {
        ZoneSerials {
            start: Some(start),
            ..ZoneSerials::default()
        }
    }

    /// Whether the publisher owns serials.
    pub(super) fn owned(&self) -> bool {
        self.start.is_some()
    }

    /// A published change reached zone `apex`: its owned serial rises (a zone
    /// not compiled yet starts at the start value when it is).
    pub(super) fn bump(&mut self, apex: &Name) {
        if let Some(serial) = self.owned.get_mut(apex) {
            *serial = next(*serial);
        }
    }

    /// Forgets the zones `keep` does not list (they are no longer served).
    pub(super) fn retain(&mut self, keep: impl Fn(&Name) -> bool) {
        self.owned.retain(|apex, _| keep(apex));
        self.served.retain(|apex, _| keep(apex));
    }

    /// The records of `apex` as compiled and transferred: one SOA (with the
    /// owned serial where it applies, made up when owned serials are on and the
    /// sources give none) and the rest of what the sources hold there. Notes the
    /// served serial.
    pub(super) fn apex_records(
        &mut self,
        apex: &Name,
        stored: Option<&StoredRecords>,
    ) -> Vec<Record> {
        let apex_view = self.compose(apex, stored);
        if let Some(owned) = apex_view.owned {
            self.owned.insert(apex.clone(), owned);
        }
        self.served.insert(apex.clone(), apex_view.served);
        apex_view.records
    }

    /// [`ZoneSerials::apex_records`] as last compiled, changing nothing.
    pub(super) fn snapshot_apex_records(
        &self,
        apex: &Name,
        stored: Option<&StoredRecords>,
    ) -> Vec<Record> {
        self.compose(apex, stored).records
    }

    fn compose(&self, apex: &Name, stored: Option<&StoredRecords>) -> ApexView {
        let held = stored
            .map(|s| s.records_by_source(apex))
            .unwrap_or_default();
        let (soas, others): (Vec<_>, Vec<_>) = held
            .into_iter()
            .partition(|(_, record)| record.rtype() == RType::SOA);
        let owned_now = self
            .start
            .map(|start| self.owned.get(apex).copied().unwrap_or(start));
        let (soa, owned) = match (choose_soa(apex, soas), owned_now) {
            (Some((source, mut soa)), Some(mut owned)) if !source.keeps_serial() => {
                if let RData::Soa(fields) = &mut soa.data {
                    if serial_after(fields.serial, owned) {
                        owned = fields.serial;
                    }
                    fields.serial = owned;
                }
                (Some(soa), Some(owned))
            }
            (Some((_, soa)), _) => (Some(soa), None),
            (None, Some(owned)) => (Some(synthetic_soa(apex, owned)), Some(owned)),
            (None, None) => (None, None),
        };
        let served = match soa.as_ref().map(|r| &r.data) {
            Some(RData::Soa(fields)) => fields.serial,
            _ => COMPILER_SERIAL,
        };
        let mut records: Vec<Record> = soa.into_iter().collect();
        records.extend(others.into_iter().map(|(_, record)| record));
        ApexView {
            records,
            owned,
            served,
        }
    }

    /// The served serial of every zone, as last published.
    pub(super) fn watch(&self) -> watch::Receiver<SerialMap> {
        self.sender.subscribe()
    }

    /// Tells the watchers what is served now, when it differs from what they saw.
    pub(super) fn publish(&self) {
        self.sender.send_if_modified(|seen| {
            if **seen == self.served {
                return false;
            }
            *seen = Arc::new(self.served.clone());
            true
        });
    }
}

/// The SOA served at `apex` of those the sources hold there, with its source;
/// different ones are logged.
fn choose_soa(apex: &Name, mut soas: Vec<(SourceId, Record)>) -> Option<(SourceId, Record)> {
    let wire = |record: &Record| {
        let mut bytes = Vec::new();
        record.data.encode(&mut bytes);
        bytes
    };
    // Source order first (stable), then the wire rdata, then the smallest TTL.
    soas.sort_by_cached_key(|(source, record)| (*source, wire(record), record.ttl));
    let (source, chosen) = soas.first()?.clone();
    let others = soas
        .iter()
        .filter(|(_, record)| record.data != chosen.data)
        .count();
    if others > 0 {
        warn!(
            zone = %apex,
            "{} different SOA records at the apex; serving the one of {source}: {chosen}",
            others + 1
        );
    }
    Some((source, chosen))
}

/// The serial after `serial` (0 is skipped: some secondaries take it for "none").
fn next(serial: u32) -> u32 {
    serial.wrapping_add(1).max(1)
}

/// Whether serial `a` is after serial `b` in serial number arithmetic (RFC 1982).
fn serial_after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::record::Soa;
    use ferrodns_dataplane::testkit::name;

    fn soa(serial: u32, mname: &str) -> Record {
        Record::new(
            name("cluster1."),
            60,
            RData::Soa(Soa {
                mname: name(mname),
                rname: name("contact@opensvc.com."),
                serial,
                refresh: 7200,
                retry: 3600,
                expire: 432000,
                minimum: 86400,
            }),
        )
    }

    fn stored(slots: &[(SourceId, Vec<Record>)]) -> Option<StoredRecords> {
        let mut current: Option<StoredRecords> = None;
        for (source, records) in slots {
            current = StoredRecords::with_slot(current.as_ref(), *source, records).0;
        }
        current
    }

    fn serial_of(records: &[Record]) -> Option<u32> {
        records.iter().find_map(|r| match &r.data {
            RData::Soa(fields) => Some(fields.serial),
            _ => None,
        })
    }

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(serial_after(2, 1));
        assert!(!serial_after(1, 2));
        assert!(serial_after(0, u32::MAX));
        assert!(!serial_after(7, 7));
        assert_eq!(next(u32::MAX), 1);
    }

    #[test]
    fn an_soa_repeated_per_name_server_is_served_once() {
        let apex = name("cluster1.");
        let held = stored(&[(
            SourceId::PdnsRemote(0),
            vec![soa(1, "dns.cluster1."), soa(1, "dns.cluster1.")],
        )]);
        let mut serials = ZoneSerials::default();
        let records = serials.apex_records(&apex, held.as_ref());
        assert_eq!(records, [soa(1, "dns.cluster1.")]);
    }

    #[test]
    fn of_different_soas_the_first_source_and_lowest_rdata_win() {
        let apex = name("cluster1.");
        let remote = (
            SourceId::PdnsRemote(0),
            vec![soa(5, "b.cluster1."), soa(5, "a.cluster1.")],
        );
        let files = (SourceId::ZoneFiles, vec![soa(9, "z.cluster1.")]);
        let mut serials = ZoneSerials::default();
        let both = stored(&[remote.clone(), files]);
        assert_eq!(
            serials.apex_records(&apex, both.as_ref()),
            [soa(9, "z.cluster1.")]
        );
        let one = stored(std::slice::from_ref(&remote));
        let reversed = stored(&[(remote.0, remote.1.into_iter().rev().collect())]);
        let expected = [soa(5, "a.cluster1.")];
        assert_eq!(serials.apex_records(&apex, one.as_ref()), expected);
        assert_eq!(serials.apex_records(&apex, reversed.as_ref()), expected);
    }

    #[test]
    fn owned_serials_replace_the_serial_of_sources_that_keep_none() {
        let apex = name("cluster1.");
        let mut serials = ZoneSerials::starting_at(1000);
        let remote = stored(&[(SourceId::PdnsRemote(0), vec![soa(1, "dns.cluster1.")])]);
        let records = serials.apex_records(&apex, remote.as_ref());
        assert_eq!(serial_of(&records), Some(1000));
        serials.bump(&apex);
        assert_eq!(
            serial_of(&serials.apex_records(&apex, remote.as_ref())),
            Some(1001)
        );
        // A source serial ahead of the owned one is taken over.
        let ahead = stored(&[(SourceId::PdnsRemote(0), vec![soa(5000, "dns.cluster1.")])]);
        assert_eq!(
            serial_of(&serials.apex_records(&apex, ahead.as_ref())),
            Some(5000)
        );
        // A zone file's serial is served as written.
        let file = stored(&[(SourceId::ZoneFiles, vec![soa(7, "dns.cluster1.")])]);
        assert_eq!(
            serial_of(&serials.apex_records(&apex, file.as_ref())),
            Some(7)
        );
        // No SOA: one made up with the owned serial.
        let records = serials.apex_records(&name("other."), None);
        assert_eq!(records, [synthetic_soa(&name("other."), 1000)]);
        let mut watch = serials.watch();
        serials.publish();
        assert!(watch.has_changed().unwrap_or(false));
        let seen = watch.borrow_and_update().clone();
        assert_eq!(seen.get(&apex), Some(&7));
        assert_eq!(seen.get(&name("other.")), Some(&1000));
        serials.publish();
        assert!(!watch.has_changed().unwrap_or(true));
    }

    #[test]
    fn without_owned_serials_the_compiler_makes_the_soa_up() {
        let mut serials = ZoneSerials::default();
        assert!(serials.apex_records(&name("other."), None).is_empty());
        serials.publish();
        assert_eq!(serials.watch().borrow().get(&name("other.")), Some(&1));
    }
}
