//! `ferrodns store`: offline edits of the embedded record store.
//!
//! The server opens the store only while it loads (at start and on SIGHUP), so
//! these commands can run beside it; `kill -HUP` makes the server pick changes up.

use std::fmt::Write;

use ferrodns_dataplane::name::{Name, NameError};

use crate::cli::{StoreAction, StoreArgs};
use crate::store::{Store, StoreError};
use crate::zonefile::{ZoneFileError, parse_zone_file};

/// Why a store command failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreCliError {
    #[error("bad zone origin {origin:?}: {source}")]
    Origin { origin: String, source: NameError },
    #[error(transparent)]
    ZoneFile(#[from] ZoneFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no zone {0} in the store")]
    NoSuchZone(Name),
}

/// Runs one store command and returns what to print.
pub fn run(args: &StoreArgs) -> Result<String, StoreCliError> {
    let store = Store::open(&args.store)?;
    let mut out = String::new();
    match &args.action {
        StoreAction::Import { origin, file } => {
            let origin = parse_origin(origin)?;
            let records = match file {
                Some(path) => parse_zone_file(path, &origin)?,
                None => Vec::new(),
            };
            let existed = store.zones()?.contains(&origin);
            store.add_zone(&origin)?;
            if let Err(error) = store.put_records(&records) {
                if !existed {
                    store.remove_zone(&origin)?;
                }
                return Err(error.into());
            }
            let _ = writeln!(out, "zone {origin}: {} records imported", records.len());
        }
        StoreAction::List { origin: None } => {
            for zone in store.zones()? {
                let _ = writeln!(out, "{zone}");
            }
        }
        StoreAction::List {
            origin: Some(origin),
        } => {
            for record in store.records(&parse_origin(origin)?)? {
                let _ = writeln!(out, "{record}");
            }
        }
        StoreAction::RemoveZone { origin } => {
            let origin = parse_origin(origin)?;
            if !store.remove_zone(&origin)? {
                return Err(StoreCliError::NoSuchZone(origin));
            }
            let _ = writeln!(out, "zone {origin} removed");
        }
    }
    Ok(out)
}

fn parse_origin(text: &str) -> Result<Name, StoreCliError> {
    Name::from_ascii(text).map_err(|source| StoreCliError::Origin {
        origin: text.to_owned(),
        source,
    })
}
