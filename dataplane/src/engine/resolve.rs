//! Where a name stands in the local zones: found, matched by a wildcard, absent
//! from a zone, or outside every zone.
//!
//! The table holds every name that exists, empty non-terminals included, so the
//! closest encloser (RFC 4592 §3.3.1) is simply the longest suffix of the name that
//! the table holds. A wildcard applies only at the closest encloser: `*.<encloser>`.

use crate::name::MAX_NAME_LEN;
use crate::table::{NodeView, TableVersion};

/// The outcome of looking a lowered wire name up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resolution<'t> {
    /// The name exists (possibly as an empty non-terminal).
    Exact(NodeView<'t>),
    /// The name does not exist; this wildcard node stands in for it.
    Wildcard(NodeView<'t>),
    /// The name does not exist in the zone with this id.
    NxDomain(u16),
    /// No local zone contains the name.
    OutOfZone,
}

pub(crate) fn resolve<'t>(table: &'t TableVersion, name: &[u8]) -> Resolution<'t> {
    if let Some(node) = table.find(name) {
        return Resolution::Exact(node);
    }
    let mut at = 0usize;
    while let Some(&len) = name.get(at) {
        if len == 0 {
            break;
        }
        at += 1 + usize::from(len);
        let Some(suffix) = name.get(at..) else {
            break;
        };
        if let Some(encloser) = table.find(suffix) {
            return match wildcard_of(table, suffix) {
                Some(wildcard) => Resolution::Wildcard(wildcard),
                None => Resolution::NxDomain(encloser.zone()),
            };
        }
    }
    Resolution::OutOfZone
}

fn wildcard_of<'t>(table: &'t TableVersion, encloser: &[u8]) -> Option<NodeView<'t>> {
    let mut wildcard = [0u8; MAX_NAME_LEN];
    let len = 2 + encloser.len();
    let slot = wildcard.get_mut(..len)?;
    let (star, rest) = slot.split_at_mut(2);
    star.copy_from_slice(&[1, b'*']);
    rest.copy_from_slice(encloser);
    table.find(wildcard.get(..len)?)
}
