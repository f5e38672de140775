//! After a store write: rebuild just the names it changed in the answer table.
//!
//! A write to the embedded store changes a few names; recompiling the whole table
//! for it would make every write cost as much as a start-up. Instead
//! [`Republish::gather`] reads, while the store is still open, what the store now
//! holds at each changed name and at its ancestors up to the zone apex, and
//! [`Republish::publish`] edits the published version ([`TableVersion::edit`]):
//!
//! - a name with records gets its node recompiled ([`compile_name`]), and every
//!   missing ancestor an empty node (an empty non-terminal);
//! - a name left without records becomes an empty node when names below it still
//!   own records, else goes, and so does each ancestor left with nothing.
//!
//! The edit is published in one pointer swap. The rebuild of one name is what the
//! full compile would produce only when the store is that name's single source,
//! so a change is rebuilt in full (the [`Loader`] compiling every zone) when the
//! zone also has a zone file, when the change is at a zone apex (the zone's SOA
//! and NS, and the negative-answer SOA), when the table puts the name in another
//! zone than the store does, or when a name fails to compile.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::table::{Table, TableVersion, compile_name};
use tracing::warn;

use crate::loader::Loader;
use crate::store::{NameState, Store, StoreError};

/// How to bring the table up to date after a write.
#[derive(Debug)]
pub(crate) enum Republish {
    /// Nothing changed.
    Nothing,
    /// Recompile every zone.
    Full,
    /// Rebuild these names, from what the store holds at them and at their
    /// ancestors (keyed by name).
    Names {
        changed: BTreeSet<Name>,
        states: BTreeMap<Name, NameState>,
    },
}

impl Republish {
    /// Reads what is needed to rebuild `changed` from the (committed) store.
    pub(crate) fn gather(
        store: &Store,
        loader: &Loader,
        changed: BTreeSet<Name>,
    ) -> Result<Republish, StoreError> {
        if changed.is_empty() {
            return Ok(Republish::Nothing);
        }
        let mut states = BTreeMap::new();
        for name in &changed {
            let Some(state) = store.name_state(name)? else {
                return Ok(Republish::Full);
            };
            if state.zone == *name || loader.has_zone_file(&state.zone) {
                return Ok(Republish::Full);
            }
            let zone = state.zone.clone();
            states.insert(name.clone(), state);
            let mut cursor = name.parent();
            while let Some(parent) = cursor {
                if parent == zone || !parent.is_subdomain_of(&zone) {
                    break;
                }
                if !states.contains_key(&parent) {
                    let Some(state) = store.name_state(&parent)? else {
                        return Ok(Republish::Full);
                    };
                    states.insert(parent.clone(), state);
                }
                cursor = parent.parent();
            }
        }
        Ok(Republish::Names { changed, states })
    }

    /// Brings `table` up to date; falls back to a full compile with `loader`
    /// (which opens the store: call this with the store closed).
    pub(crate) fn publish(self, loader: &Loader, table: &Table) {
        let names = match self {
            Republish::Nothing => return,
            Republish::Full => None,
            Republish::Names { changed, states } => Some((changed, states)),
        };
        if let Some((changed, states)) = names {
            let current = table.current();
            if let Some(version) = edit(&current, loader, &changed, &states) {
                table.publish(version);
                return;
            }
        }
        match loader.load(&HashSet::new(), table.seed()) {
            Ok((version, _)) => table.publish(version),
            Err(error) => {
                warn!("the store was written but the table cannot be rebuilt: {error}");
            }
        }
    }
}

/// The zone the table puts `name` in: the nearest ancestor (or itself) that is
/// a zone apex of `version`.
fn table_zone(version: &TableVersion, name: &Name) -> Option<Name> {
    let mut cursor = Some(name.clone());
    while let Some(candidate) = cursor {
        if version.zone_id(&candidate).is_some() {
            return Some(candidate);
        }
        cursor = candidate.parent();
    }
    None
}

/// `current` with the changed names rebuilt; None when a full compile is needed.
fn edit(
    current: &TableVersion,
    loader: &Loader,
    changed: &BTreeSet<Name>,
    states: &BTreeMap<Name, NameState>,
) -> Option<TableVersion> {
    let no_down = HashSet::new();
    let mut edit = current.edit();
    for name in changed {
        let state = states.get(name)?;
        let apex = &state.zone;
        if table_zone(current, name).as_ref() != Some(apex) {
            return None;
        }
        let id = current.zone_id(apex)?;
        let compile = |owner: &Name, records| {
            let policy = loader.policy_of(apex, owner);
            compile_name(apex, id, owner, records, policy, &no_down).map(|(node, _)| node)
        };
        if !state.records.is_empty() {
            edit.insert(compile(name, &state.records).ok()?);
            let mut cursor = name.parent();
            while let Some(parent) = cursor {
                if parent == *apex || edit.find(&parent.to_lowercase_wire()).is_some() {
                    break;
                }
                edit.insert(compile(&parent, &[]).ok()?);
                cursor = parent.parent();
            }
            continue;
        }
        if state.has_descendants {
            edit.insert(compile(name, &[]).ok()?);
            continue;
        }
        edit.remove(&name.to_lowercase_wire());
        let mut cursor = name.parent();
        while let Some(parent) = cursor {
            if parent == *apex {
                break;
            }
            let parent_state = states.get(&parent)?;
            if !parent_state.records.is_empty() || parent_state.has_descendants {
                break;
            }
            edit.remove(&parent.to_lowercase_wire());
            cursor = parent.parent();
        }
    }
    Some(edit.finish())
}
