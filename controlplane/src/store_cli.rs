//! `ferrodns store`: offline edits of the embedded record store.
//!
//! The server opens the store only while it loads (at start and on SIGHUP), so
//! these commands can run beside it; `kill -HUP` makes the server pick changes up.
//! A command that fails on a store it created leaves no file behind: a failed
//! first import must not look like an empty store that exists.

use std::fmt::Write;

use ferrodns_dataplane::name::{Name, NameError};
use ferrodns_dataplane::record::{RData, RType, Record};

use crate::cli::{StoreAction, StoreArgs};
use crate::records::Change;
use crate::records::rules::{Brief, quote};
use crate::store::{Store, StoreError};
use crate::zonefile::{ZoneFileError, parse_record_line, parse_zone_file};

/// TTL of an added record line that gives none.
const DEFAULT_TTL: u32 = 30;

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
    #[error("bad name {text:?}: {source}")]
    Name { text: String, source: NameError },
    #[error("bad record type {0:?}")]
    Type(String),
    #[error("bad {rtype} data {:?}: {reason}", quote(data))]
    Data {
        rtype: RType,
        data: String,
        reason: String,
    },
    #[error("record {at}: {source}")]
    Record { at: usize, source: ZoneFileError },
    #[error("record {at} ({}): {source}", Brief(record))]
    Refused {
        at: usize,
        record: Box<Record>,
        source: StoreError,
    },
}

/// Runs one store command and returns what to print.
pub fn run(args: &StoreArgs) -> Result<String, StoreCliError> {
    let existed = args.store.exists();
    let result = run_on_store(args);
    if result.is_err() && !existed {
        // The store is closed by now; what failed created it.
        let _ = std::fs::remove_file(&args.store);
    }
    result
}

fn run_on_store(args: &StoreArgs) -> Result<String, StoreCliError> {
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
        StoreAction::Add { records } => {
            let records = records
                .iter()
                .enumerate()
                .map(|(at, line)| {
                    parse_record_line(line, Some(&Name::root()), DEFAULT_TTL)
                        .map_err(|source| StoreCliError::Record { at: at + 1, source })
                })
                .collect::<Result<Vec<Record>, _>>()?;
            let changes: Vec<Change> = records.iter().cloned().map(Change::Add).collect();
            let applied =
                store.apply(&changes).map_err(|e| match e.change {
                    Some(at) => StoreCliError::Refused {
                        at: at + 1,
                        record: Box::new(records.get(at).cloned().unwrap_or_else(|| {
                            Record::new(Name::root(), 0, RData::Txt(Vec::new()))
                        })),
                        source: e.source,
                    },
                    None => StoreCliError::Store(e.source),
                })?;
            let _ = writeln!(out, "{} records added", applied.written);
        }
        StoreAction::Get { name, rtype } => {
            let name = parse_name(name)?;
            let rtype = rtype.as_deref().map(parse_type).transpose()?;
            let held = store
                .name_state(&name)?
                .map(|state| state.records)
                .unwrap_or_default();
            for record in held.iter().filter(|r| rtype.is_none_or(|t| r.rtype() == t)) {
                let _ = writeln!(out, "{record}");
            }
        }
        StoreAction::Delete { name, rtype, data } => {
            let name = parse_name(name)?;
            let rtype = rtype.as_deref().map(parse_type).transpose()?;
            let data = match (rtype, data) {
                (Some(rtype), Some(text)) => Some(parse_data(&name, rtype, text)?),
                _ => None,
            };
            let removed = store.delete_records(&name, rtype, data.as_ref())?;
            let _ = writeln!(out, "{removed} records removed");
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

fn parse_name(text: &str) -> Result<Name, StoreCliError> {
    Name::from_ascii(text).map_err(|source| StoreCliError::Name {
        text: text.to_owned(),
        source,
    })
}

fn parse_type(text: &str) -> Result<RType, StoreCliError> {
    RType::from_mnemonic(text).ok_or_else(|| StoreCliError::Type(text.to_owned()))
}

/// Rdata of `rtype` in presentation format, read as the zone-file parser reads it.
fn parse_data(name: &Name, rtype: RType, text: &str) -> Result<RData, StoreCliError> {
    let line = format!("{name} 0 IN {rtype} {text}");
    parse_record_line(&line, Some(&Name::root()), 0)
        .map(|record| record.data)
        .map_err(|e| StoreCliError::Data {
            rtype,
            data: text.to_owned(),
            reason: e.kind.to_string(),
        })
}

fn parse_origin(text: &str) -> Result<Name, StoreCliError> {
    Name::from_ascii(text).map_err(|source| StoreCliError::Origin {
        origin: text.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_first_import_leaves_no_store_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let zone = dir.path().join("bad.zone");
        std::fs::write(&zone, "$TTL 30\nweb IN A 10.0.0.300\n")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let args = StoreArgs {
            store: dir.path().join("records.redb"),
            action: StoreAction::Import {
                origin: "svc.example.".into(),
                file: Some(zone.clone()),
            },
        };
        let message = run(&args).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains(&format!("{}:2", zone.display())),
            "{message}"
        );
        assert!(!args.store.exists(), "no empty store left behind");

        std::fs::write(&zone, "$TTL 30\nweb IN A 10.0.0.1\n")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(run(&args).is_ok());
        std::fs::write(&zone, "$TTL 30\nweb IN A nope\n").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(run(&args).is_err());
        assert!(args.store.exists(), "a store that existed stays");
    }
}
