//! The record pipeline: every source of records or health speaks to one
//! [`Publisher`], which alone writes the answer table.
//!
//! ```text
//!  zone files ─┐
//!  store ──────┤  Update::Zones / Zone / DropZone / Names      ┌────────────┐
//!  etcd ───────┼──────────────────────────────────────────────>│ Publisher  │── publish (RCU) ──> Table
//!  pdns remote ┤  Update::Health                               │ model      │──> zone snapshots (AXFR)
//!  (AXFR in,   │                                               │ serials    │──> served serials (NOTIFY)
//!   UPDATE …) ─┤                                               │ + compile  │
//!  health ─────┘                                               └────────────┘
//! ```
//!
//! # The vocabulary
//!
//! A source translates whatever it reads (a zone file, redb keys, etcd keys, a
//! PowerDNS remote backend, a zone transfer) into a few [`Update`]s and nothing
//! else:
//!
//! - [`Update::Zones`]: "I hold exactly these zones, with exactly these records"
//!   (a full load: start-up, SIGHUP, an etcd compaction). Zones the source held
//!   before and does not list are dropped.
//! - [`Update::Zone`]: "zone Z is now exactly this" (a zone transfer, a poll of a
//!   remote backend); [`Update::DropZone`]: "I no longer hold Z".
//! - [`Update::Names`]: "these names of zone Z now hold exactly these records" (a
//!   REST write, an etcd event): an empty list means the source holds nothing
//!   there any more.
//! - [`Update::Health`]: "address A is down (or up)".
//! - [`Update::Policies`]: "answer with these policies now" (a configuration
//!   reload): not a source's word but the operator's, in the same batch as
//!   the reloaded zones so that both land in one swap.
//!
//! Each source is named by a [`SourceId`]. A zone exists while at least one source
//! declares it; when several sources hold records at one name (a zone file and the
//! store, say), the name answers with all of them, in [`SourceId`] order.
//!
//! # What the publisher does with it
//!
//! The [`Publisher`] keeps what every source said (the `model`: per zone, per
//! name, each source's records in a compact wire form) and turns each batch of
//! updates into one new table version:
//!
//! - it finds the names whose records changed (a `Zones`/`Zone` update is compared
//!   name by name with what the source said before, so a source that re-sends a
//!   whole zone costs only what changed), and the names that carry an address
//!   whose health changed;
//! - when the set of zones changed it compiles everything afresh (zone ids are
//!   assigned parents first); otherwise it edits the published version: each
//!   changed name is recompiled ([`compile_name`]), and it and its ancestors
//!   become a node, an empty non-terminal or nothing, as the records now say.
//!   One name changed in a million-name table copies a few kilobytes;
//! - addresses marked down are left out of answers unless every address of the
//!   RRset is down (then all are served);
//! - a name that cannot be compiled (a CNAME beside other data, an RRset over
//!   the wire limit) is logged, counted ([`Publisher::uncompilable`]) and served
//!   empty: no record can stop a start or a reload;
//! - the result is published in one pointer swap ([`Table::publish`]).
//!
//! A record a source repeats at a name is kept once, and of several SOAs at an
//! apex one is served (`serials`). With [`Publisher::with_zone_serials`] the
//! publisher owns a serial per zone that rises with every published change of
//! the zone, served where the sources give no serial of their own, so that
//! secondaries can follow by transfer; [`Publisher::zone_snapshot`] copies a zone
//! as served, for a transfer, and [`Publisher::zone_serials`] is watched by the
//! NOTIFY sender.
//!
//! [`PublisherHandle`] shares the publisher between tasks; compilation runs on a
//! blocking thread.
//!
//! [`compile_name`]: ferrodns_dataplane::table::compile_name
//! [`Table::publish`]: ferrodns_dataplane::table::Table::publish

mod model;
mod policies;
mod publisher;
mod serials;
mod snapshot;
mod stored;
#[cfg(test)]
pub(crate) mod tests;

use std::fmt;
use std::net::IpAddr;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::Record;

pub use policies::Policies;
pub use publisher::{Published, Publisher, PublisherHandle, PublisherStatus};
pub use serials::SerialMap;
pub use snapshot::ZoneSnapshot;

/// Who said it. The order is the order in which a name's records from several
/// sources are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceId {
    /// The configured zones and their zone files (a zone without a file is
    /// declared empty).
    ZoneFiles,
    /// The embedded record store.
    Store,
    /// etcd (containerdns and CoreDNS/skydns layouts).
    Etcd,
    /// The n-th PowerDNS remote backend (`--pdns-remote`, from 0), such as an
    /// OpenSVC agent's socket.
    PdnsRemote(u8),
}

impl SourceId {
    /// One byte, for the model's compact form.
    fn tag(self) -> u8 {
        match self {
            SourceId::ZoneFiles => 0,
            SourceId::Store => 1,
            SourceId::Etcd => 2,
            SourceId::PdnsRemote(n) => PDNS_REMOTE_TAG.saturating_add(n),
        }
    }

    /// The source of a [`SourceId::tag`].
    fn from_tag(tag: u8) -> Option<SourceId> {
        Some(match tag {
            0 => SourceId::ZoneFiles,
            1 => SourceId::Store,
            2 => SourceId::Etcd,
            n => SourceId::PdnsRemote(n.checked_sub(PDNS_REMOTE_TAG)?),
        })
    }

    /// Whether an SOA from this source carries a serial that changes with its
    /// zone. A remote backend is polled for its zone's whole content and has no
    /// notion of a change (the OpenSVC agent always says serial 1): the
    /// publisher serves its own serial there (see [`Publisher::with_zone_serials`]).
    fn keeps_serial(self) -> bool {
        !matches!(self, SourceId::PdnsRemote(_))
    }
}

/// The first tag of [`SourceId::PdnsRemote`]; the configuration allows far
/// fewer remote backends than the 252 tags left.
const PDNS_REMOTE_TAG: u8 = 3;

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceId::ZoneFiles => f.write_str("zone files"),
            SourceId::Store => f.write_str("embedded store"),
            SourceId::Etcd => f.write_str("etcd"),
            SourceId::PdnsRemote(n) => write!(f, "PowerDNS remote backend {n}"),
        }
    }
}

/// One zone's records as a source holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneContent {
    pub apex: Name,
    pub records: Vec<Record>,
}

impl ZoneContent {
    pub fn new(apex: Name, records: Vec<Record>) -> Self {
        ZoneContent { apex, records }
    }
}

/// What a source tells the publisher. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// `source` holds exactly `zones` now; its other zones are dropped.
    Zones {
        source: SourceId,
        zones: Vec<ZoneContent>,
    },
    /// Zone `content.apex` of `source` is now exactly `content.records`.
    Zone {
        source: SourceId,
        content: ZoneContent,
    },
    /// `source` no longer holds zone `apex`.
    DropZone { source: SourceId, apex: Name },
    /// In zone `apex` of `source`, each name now holds exactly its records
    /// (none: nothing). Names not listed keep theirs.
    Names {
        source: SourceId,
        apex: Name,
        names: Vec<(Name, Vec<Record>)>,
    },
    /// Address `ip` is down (left out of answers) or not.
    Health { ip: IpAddr, down: bool },
    /// The configured answer policies are now these (a reload); when they
    /// differ from those in force, every zone is compiled again.
    Policies(Policies),
}
