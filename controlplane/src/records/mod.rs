//! The seam between the REST API and wherever records live.
//!
//! The API never talks to a store or to etcd directly: it turns every request into
//! calls on one [`RecordWriter`], chosen at start-up. The embedded store
//! ([`embedded::EmbeddedWriter`]) is one implementation; etcd is another. Each
//! promises the same three things:
//!
//! 0. **The same rules.** Which changes are accepted, and what they do at their
//!    name, is [`rules`]: one pure function both backends call.
//! 1. **Atomic batches.** [`RecordWriter::apply`] applies its [`Change`]s in order,
//!    all or none. A batch that fails leaves nothing behind, and the error says
//!    which change failed ([`WriteError::Rejected`]).
//! 2. **Durable before `Ok`.** When `apply` returns `Ok` the batch is on disk (the
//!    store's fsync'd commit) or in the cluster (etcd's quorum commit); the API
//!    answers 2xx only then.
//! 3. **Names, not keys.** Callers speak DNS: names, types and [`Record`]s. How a
//!    backend lays them out (redb keys, containerdns or skydns etcd keys) is its
//!    own business, and so is how the change reaches the answer table (the embedded
//!    store republishes the changed names before `apply` returns; etcd lets its
//!    watch do it).
//!
//! Reads ([`RecordWriter::zones`], [`RecordWriter::records`]) go through the same
//! trait so the API lists what the backend holds, not what one appliance's table
//! happens to contain. Listing is paginated by an opaque cursor: the backend puts
//! whatever lets it resume (a key) in [`RecordPage::next`] and gets it back in
//! [`RecordQuery::after`].
//!
//! The trait is object-safe (the API holds an `Arc<dyn RecordWriter>`), so its
//! methods return boxed futures ([`WriteFuture`]) rather than being `async fn`s.
//! Blocking backends run their work on `tokio::task::spawn_blocking` inside the
//! future.

pub mod embedded;
pub mod rules;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record};

/// Largest page [`RecordWriter::records`] returns, whatever the query asks.
pub const MAX_PAGE: usize = 1000;

/// What a [`RecordWriter`] method returns: a boxed, sendable future.
pub type WriteFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, WriteError>> + Send + 'a>>;

/// One edit in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Adds a record to its RRset; an equal record (same name, type and rdata) has
    /// its TTL updated instead. A CNAME (or SOA) replaces the one at its name.
    Add(Record),
    /// Makes `records` the whole RRset `(name, rtype)`; an empty list deletes the
    /// RRset. Every record must have that name and type.
    Replace {
        name: Name,
        rtype: RType,
        records: Vec<Record>,
    },
    /// Deletes records at `name` (not below it): every type when `rtype` is None,
    /// one type otherwise, and only the record with equal rdata when `data` is Some.
    Delete {
        name: Name,
        rtype: Option<RType>,
        data: Option<RData>,
    },
}

impl Change {
    /// The owner name the change is about.
    pub fn name(&self) -> &Name {
        match self {
            Change::Add(record) => &record.name,
            Change::Replace { name, .. } | Change::Delete { name, .. } => name,
        }
    }
}

/// What an applied batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Records written (added, or replaced with new TTL or spelling).
    pub written: usize,
    /// Records removed, by deletes and by replaced RRsets.
    pub removed: usize,
}

/// Which names a listing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameFilter {
    /// Records owned by exactly this name.
    Exact(Name),
    /// Records owned by this name or any name below it.
    Subtree(Name),
}

/// A listing request. Results come in canonical DNS order (RFC 4034 §6.1) by
/// owner, then by type and rdata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    /// Only this zone's records.
    pub zone: Option<Name>,
    pub name: Option<NameFilter>,
    pub rtype: Option<RType>,
    /// Resume after this cursor (a previous page's [`RecordPage::next`]).
    pub after: Option<String>,
    /// Page size; 0 or anything above [`MAX_PAGE`] means [`MAX_PAGE`].
    pub limit: usize,
}

impl RecordQuery {
    /// The page size to use.
    pub fn page_size(&self) -> usize {
        if self.limit == 0 {
            MAX_PAGE
        } else {
            self.limit.min(MAX_PAGE)
        }
    }
}

/// One listed record and the zone that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonedRecord {
    pub zone: Name,
    pub record: Record,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordPage {
    pub records: Vec<ZonedRecord>,
    /// Cursor for the next page; None on the last page.
    pub next: Option<String>,
}

/// Why a write or read failed. The API maps each variant to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// Change number `change` (0-based, in the batch) cannot be applied: its name
    /// lies outside every writable zone, its record is invalid. Nothing was
    /// written.
    #[error("{reason}")]
    Rejected { change: usize, reason: String },
    /// Change number `change` clashes with what is stored (a CNAME beside other
    /// data). Nothing was written.
    #[error("{reason}")]
    Conflict { change: usize, reason: String },
    /// The zone asked for does not exist.
    #[error("zone {0} does not exist")]
    NoSuchZone(Name),
    /// A listing cursor this backend did not hand out.
    #[error("bad cursor {0:?}")]
    BadCursor(String),
    /// This backend cannot do that (zones of an etcd source come from the
    /// configuration, for example).
    #[error("{0}")]
    Unsupported(String),
    /// The backend cannot be reached now (etcd down); nothing was written.
    #[error("record source unavailable: {0}")]
    Unavailable(String),
    /// The backend failed (disk error, corrupt store); nothing was written.
    #[error("record source failed: {0}")]
    Storage(String),
}

/// Where the REST API reads and writes records. See the [module docs](self).
pub trait RecordWriter: Send + Sync + fmt::Debug {
    /// A short name for logs and the health view: `"embedded store"`, `"etcd"`.
    fn backend(&self) -> &'static str;

    /// Applies `changes` in order, atomically and durably (see the module docs).
    fn apply(&self, changes: Vec<Change>) -> WriteFuture<'_, Applied>;

    /// [`RecordWriter::apply`], the records written marked as `user`'s where the
    /// backend keeps an owner (containerdns's `user` field in etcd). Backends
    /// that keep none keep this default, which ignores `user`.
    fn apply_owned(&self, user: String, changes: Vec<Change>) -> WriteFuture<'_, Applied> {
        let _ = user;
        self.apply(changes)
    }

    /// The zones records can be written to, in canonical order.
    fn zones(&self) -> WriteFuture<'_, Vec<Name>>;

    /// One page of records matching `query`.
    fn records(&self, query: RecordQuery) -> WriteFuture<'_, RecordPage>;

    /// Creates a zone; true when it was new. Backends whose zones come from the
    /// configuration keep this default, which refuses.
    fn add_zone(&self, apex: Name) -> WriteFuture<'_, bool> {
        let _ = apex;
        Box::pin(async {
            Err(WriteError::Unsupported(
                "zones of this record source are set in the configuration".into(),
            ))
        })
    }

    /// Removes a zone and its records; false when it did not exist. Refused by
    /// default, as [`RecordWriter::add_zone`].
    fn remove_zone(&self, apex: Name) -> WriteFuture<'_, bool> {
        let _ = apex;
        Box::pin(async {
            Err(WriteError::Unsupported(
                "zones of this record source are set in the configuration".into(),
            ))
        })
    }
}
