//! Filling the sections of an answer for a name inside the local zones.
//!
//! The question name is the first owner; every record written for it starts with a
//! pointer to offset 12. Following a CNAME, the next owner is the target name as it
//! stands uncompressed in the CNAME's rdata, so a pointer to it is exact. Chains are
//! followed at most [`MAX_CNAME_LINKS`] links and stop at the first repeated name.
//!
//! Negative answers carry the zone's SOA in the authority section (RFC 2308),
//! pointing at the zone apex as a suffix of the name that was missing. SRV, MX and NS
//! answers pull the A and AAAA records of in-zone targets into the additional
//! section, as far as they fit (no TC for additional data).

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::QueryContext;
use super::resolve::{Resolution, resolve};
use super::response::{Full, MAX_POINTER, Owner, Response, Section};
use crate::name::{MAX_NAME_LEN, suffix_offset};
use crate::record::{AnswerPolicy, RType};
use crate::table::node::RECORD_FIXED_LEN;
use crate::table::{NodeView, RRsetView, RecordView, TableVersion};
use crate::wire::{HEADER_LEN, Rcode};

/// Longest CNAME chain followed inside the local zones.
pub(crate) const MAX_CNAME_LINKS: usize = 8;
/// Most distinct targets whose addresses go in the additional section.
const MAX_TARGETS: usize = 8;
/// Key of the rendezvous hash behind `hone-one`; fixed so every core and every
/// restart picks the same target for a client.
const HONE_ONE_SEED: u64 = 0x6665_7272_6f64_6e73;

/// Offsets in the response of target names whose addresses belong in the
/// additional section.
#[derive(Debug, Default)]
struct Targets {
    offsets: [usize; MAX_TARGETS],
    len: usize,
}

impl Targets {
    fn push(&mut self, at: usize) {
        if let Some(slot) = self.offsets.get_mut(self.len) {
            *slot = at;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[usize] {
        self.offsets.get(..self.len).unwrap_or_default()
    }
}

/// Writes answer, authority and additional records for `qname` (lowered), whose
/// resolution is `first`. Returns the rcode, or [`Full`] when the answer or
/// authority section does not fit.
pub(crate) fn write_answer(
    table: &TableVersion,
    response: &mut Response<'_>,
    qname: &[u8],
    qtype: u16,
    first: Resolution<'_>,
    ctx: &QueryContext,
) -> Result<Rcode, Full> {
    // Most answers: the name itself holds the RRset asked for. This is the first
    // step of `follow_chain` without its bookkeeping for CNAME chains.
    if let Resolution::Exact(node) | Resolution::Wildcard(node) = first
        && let Some(set) = wanted_set(node, qtype)
    {
        let mut targets = Targets::default();
        write_set(
            response,
            set,
            owner_at(HEADER_LEN, qname),
            ctx,
            &mut targets,
        )?;
        write_additional(table, response, &targets);
        return Ok(Rcode::NoError);
    }
    follow_chain(table, response, qname, qtype, first, ctx)
}

/// The RRset of `node` that answers `qtype`: any one for ANY (RFC 8482).
fn wanted_set(node: NodeView<'_>, qtype: u16) -> Option<RRsetView<'_>> {
    if qtype == RType::ANY.0 {
        node.rrsets().next()
    } else {
        node.rrset(qtype)
    }
}

/// [`write_answer`] in full: follows CNAMEs inside the local zones and writes
/// negative answers.
fn follow_chain(
    table: &TableVersion,
    response: &mut Response<'_>,
    qname: &[u8],
    qtype: u16,
    first: Resolution<'_>,
    ctx: &QueryContext,
) -> Result<Rcode, Full> {
    let mut name = [0u8; MAX_NAME_LEN];
    let mut name_len = copy_lowered(qname, &mut name).ok_or(Full)?;
    let mut name_at = HEADER_LEN;
    let mut visited = [(name_at, name_len); MAX_CNAME_LINKS + 1];
    let mut targets = Targets::default();
    let mut resolution = first;
    for link in 0..=MAX_CNAME_LINKS {
        let current = name.get(..name_len).unwrap_or_default();
        let owner = owner_at(name_at, current);
        let node = match resolution {
            Resolution::Exact(node) | Resolution::Wildcard(node) => node,
            Resolution::NxDomain(zone) => {
                authority_soa(table, response, zone, current, name_at)?;
                return Ok(Rcode::NxDomain);
            }
            Resolution::OutOfZone => return Ok(Rcode::NoError),
        };
        if let Some(set) = wanted_set(node, qtype) {
            write_set(response, set, owner, ctx, &mut targets)?;
            write_additional(table, response, &targets);
            return Ok(Rcode::NoError);
        }
        let cname = node.rrset(RType::CNAME.0).and_then(|set| set.record(0));
        let Some(cname) = cname.filter(|_| qtype != RType::CNAME.0) else {
            authority_soa(table, response, node.zone(), current, name_at)?;
            return Ok(Rcode::NoError);
        };
        let start = response.add(Section::Answer, owner, cname.bytes)?;
        let Some(len) = copy_lowered_name(cname.rdata(), 0, &mut name) else {
            return Ok(Rcode::NoError);
        };
        name_len = len;
        name_at = start + RECORD_FIXED_LEN;
        let target = name.get(..name_len).unwrap_or_default();
        let seen = visited.get(..=link).unwrap_or_default();
        if link == MAX_CNAME_LINKS
            || seen
                .iter()
                .any(|&(at, len)| same_name(response.bytes(), at, len, target))
        {
            return Ok(Rcode::NoError);
        }
        if let Some(slot) = visited.get_mut(link + 1) {
            *slot = (name_at, name_len);
        }
        resolution = resolve(table, target);
    }
    Ok(Rcode::NoError)
}

fn owner_at(at: usize, name: &[u8]) -> Owner<'_> {
    if at <= MAX_POINTER {
        Owner::Pointer(at)
    } else {
        Owner::Name(name)
    }
}

/// Writes an RRset as its policy says.
fn write_set(
    response: &mut Response<'_>,
    set: RRsetView<'_>,
    owner: Owner<'_>,
    ctx: &QueryContext,
    targets: &mut Targets,
) -> Result<(), Full> {
    let count = usize::from(set.count);
    // No division for the common single-record set.
    let pick = if count > 1 {
        ctx.entropy as usize % count
    } else {
        0
    };
    let target_in_rdata = match RType(set.rtype) {
        RType::SRV => Some(6),
        RType::MX => Some(2),
        RType::NS => Some(0),
        _ => None,
    };
    let mut add = |record: RecordView<'_>| -> Result<(), Full> {
        let start = response.add(Section::Answer, owner, record.bytes)?;
        if let Some(offset) = target_in_rdata {
            targets.push(start + RECORD_FIXED_LEN + offset);
        }
        Ok(())
    };
    match set.policy {
        AnswerPolicy::RoundRobin => {
            // From `pick` to the end, then the records before it (two plain loops
            // compile to less than one chained iterator).
            for record in set.records().skip(pick) {
                add(record)?;
            }
            for record in set.records().take(pick) {
                add(record)?;
            }
        }
        AnswerPolicy::RandomOne => {
            if let Some(record) = set.record(pick) {
                add(record)?;
            }
        }
        AnswerPolicy::HoneOne => {
            let hasher = FixedState::with_seed(HONE_ONE_SEED);
            let best = set
                .records()
                .max_by_key(|record| hasher.hash_one((ctx.client, record.rdata())));
            if let Some(record) = best {
                add(record)?;
            }
        }
    }
    Ok(())
}

/// The SOA of `zone` in the authority section of a negative answer.
fn authority_soa(
    table: &TableVersion,
    response: &mut Response<'_>,
    zone: u16,
    name: &[u8],
    name_at: usize,
) -> Result<(), Full> {
    let Some(info) = table.zone(zone).filter(|z| !z.negative_soa.is_empty()) else {
        return Ok(());
    };
    let owner = match suffix_offset(name, &info.apex) {
        Some(offset) if name_at + offset <= MAX_POINTER => Owner::Pointer(name_at + offset),
        _ => Owner::Name(&info.apex),
    };
    response
        .add(Section::Authority, owner, &info.negative_soa)
        .map(|_| ())
}

/// A and AAAA records of the targets, each target once, as far as they fit.
fn write_additional(table: &TableVersion, response: &mut Response<'_>, targets: &Targets) {
    if targets.len == 0 {
        return;
    }
    let mut lowered = [0u8; MAX_NAME_LEN];
    for (index, &at) in targets.as_slice().iter().enumerate() {
        let Some(len) = copy_lowered_name(response.bytes(), at, &mut lowered) else {
            continue;
        };
        let target = lowered.get(..len).unwrap_or_default();
        let earlier = targets.as_slice().get(..index).unwrap_or_default();
        if earlier
            .iter()
            .any(|&prev| same_name(response.bytes(), prev, len, target))
        {
            continue;
        }
        let Some(node) = table.find(target) else {
            continue;
        };
        for rtype in [RType::A, RType::AAAA] {
            let Some(set) = node.rrset(rtype.0) else {
                continue;
            };
            let mark = response.mark();
            for record in set.records() {
                if response
                    .add(Section::Additional, owner_at(at, target), record.bytes)
                    .is_err()
                {
                    response.reset(mark);
                    return;
                }
            }
        }
    }
}

/// True when the uncompressed name at `at` in `bytes` is `len` long and equals
/// `lowered` ignoring case.
fn same_name(bytes: &[u8], at: usize, len: usize, lowered: &[u8]) -> bool {
    len == lowered.len()
        && bytes
            .get(at..at + len)
            .is_some_and(|name| name.eq_ignore_ascii_case(lowered))
}

/// Copies a lowered wire name (already checked) into `out`.
fn copy_lowered(name: &[u8], out: &mut [u8; MAX_NAME_LEN]) -> Option<usize> {
    let slot = out.get_mut(..name.len())?;
    slot.copy_from_slice(name);
    Some(name.len())
}

/// Copies the uncompressed name at `at` in `bytes`, lowered, into `out`, checking
/// every length. `None` for a compressed or broken name.
fn copy_lowered_name(bytes: &[u8], at: usize, out: &mut [u8; MAX_NAME_LEN]) -> Option<usize> {
    let mut len = 0usize;
    loop {
        let label = usize::from(*bytes.get(at + len)?);
        if label > 63 {
            return None;
        }
        let part = bytes.get(at + len..at + len + 1 + label)?;
        let slot = out.get_mut(len..len + part.len())?;
        for (o, b) in slot.iter_mut().zip(part) {
            *o = b.to_ascii_lowercase();
        }
        len += part.len();
        if label == 0 {
            return Some(len);
        }
    }
}
