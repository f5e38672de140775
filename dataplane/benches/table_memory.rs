//! Memory and build cost of a 1M-name table: not timings for criterion, so a plain
//! harness. `cargo bench -p ferrodns-dataplane --bench table_memory`.
//!
//! Prints
//! - resident memory (VmRSS) before the inputs, with the inputs, after compiling and
//!   after dropping the inputs; the last minus the first, per A record, is what the
//!   table costs (allocator overhead and heap left fragmented by the compiler's
//!   temporaries included, so it is an upper bound);
//! - the time to compile 1M names;
//! - the time to derive a version that changes one name (`edit`, `insert`, `finish`)
//!   and to publish it, over a chain of such edits;
//! - the heap a retained edited version adds: 1,000 versions each one name apart
//!   kept alive at once cost a few KiB each, not a table each.
//!
//! Live heap is counted by a delegating global allocator (requested sizes, without
//! the allocator's own headers and rounding); VmRSS includes those and the free
//! heap the allocator keeps.

// The one `unsafe` here: a global allocator that delegates to the system
// allocator and counts live bytes, so the table's own heap can be told apart from
// what the allocator keeps resident after the compiler's temporaries are freed.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferrodns_dataplane::table::{Table, TableVersion, ZoneInput, compile};
use ferrodns_dataplane::testkit::name;

const NAMES: usize = 1_000_000;
const EDITS: usize = 10_000;
const RETAINED: usize = 1_000;

/// The system allocator, counting the bytes it has handed out and not taken back.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's own arguments, so
// `System`'s guarantees are ours; the counters touch no allocated memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds the rest.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes allocated and not yet freed (requested sizes, no allocator headers).
fn live() -> u64 {
    LIVE.load(Ordering::Relaxed) as u64
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Resident and live-heap bytes at one point.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    rss: u64,
    live: u64,
}

fn report(label: &str, baseline: Option<Snapshot>) -> Snapshot {
    let (rss, peak) = common::resident_bytes();
    let now = Snapshot { rss, live: live() };
    let base = baseline.unwrap_or(Snapshot { rss: 0, live: 0 });
    println!(
        "{label:<26} VmRSS {:>7.1} MiB (+{:>6.1})  live heap {:>7.1} MiB (+{:>6.1})  VmHWM {:>7.1} MiB",
        mib(rss),
        mib(rss.saturating_sub(base.rss)),
        mib(now.live),
        mib(now.live.saturating_sub(base.live)),
        mib(peak)
    );
    now
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{label:<28} median {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}  mean {:>8.2?}  ({} samples)",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0),
        mean,
        samples.len()
    );
}

fn main() {
    let baseline = report("baseline", None);

    let records = common::service_records(NAMES);
    let zones = [ZoneInput::new(name(common::APEX), records)];
    report("inputs built", Some(baseline));

    let start = Instant::now();
    let table =
        compile(&zones, &HashSet::new(), common::SEED).unwrap_or_else(|e| panic!("compile: {e}"));
    let compile_time = start.elapsed();
    report("compiled (inputs alive)", Some(baseline));
    drop(zones);
    let built = report("inputs dropped", Some(baseline));
    println!(
        "compile: {NAMES} A records ({} names with empty non-terminals and apex) in {compile_time:.2?} = {:.2} µs/record",
        table.name_count(),
        compile_time.as_secs_f64() * 1e6 / NAMES as f64
    );
    let per_record = |bytes: u64| bytes as f64 / NAMES as f64;
    println!(
        "table per A record: {:.0} bytes resident (VmRSS delta), {:.0} bytes live heap",
        per_record(built.rss.saturating_sub(baseline.rss)),
        per_record(built.live.saturating_sub(baseline.live)),
    );

    single_edits(&table);
    retained_versions(&table);
}

/// A chain of one-name edits, each derived from the previous version and published,
/// as the control plane applies updates.
fn single_edits(base: &TableVersion) {
    let zone = base
        .find(&name(&common::service_name(0)).to_lowercase_wire())
        .map(|node| node.zone())
        .unwrap_or_else(|| panic!("service 0 missing"));
    let table = Table::new();
    table.publish(base.clone());
    let mut rng = fastrand::Rng::with_seed(3);
    let (mut encode, mut edit, mut publish) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..EDITS {
        let t0 = Instant::now();
        let node = common::service_node(zone, rng.usize(..NAMES), n as u8 | 1);
        let t1 = Instant::now();
        let current = table.current();
        let mut next = current.edit();
        next.insert(node);
        let next = next.finish();
        let t2 = Instant::now();
        drop(current);
        // Publishing also frees the previous version's private path (no reader
        // holds it here).
        table.publish(next);
        let t3 = Instant::now();
        encode.push(t1 - t0);
        edit.push(t2 - t1);
        publish.push(t3 - t2);
    }
    summary("encode one node", encode);
    summary("edit one name (1M table)", edit);
    summary("publish (and free old)", publish);
}

/// Keeps many versions alive at once, each one name apart from the previous, and
/// shows what each costs.
fn retained_versions(base: &TableVersion) {
    let zone = base
        .find(&name(&common::service_name(0)).to_lowercase_wire())
        .map(|node| node.zone())
        .unwrap_or_else(|| panic!("service 0 missing"));
    let mut rng = fastrand::Rng::with_seed(5);
    let before = live();
    let mut versions: Vec<Arc<TableVersion>> = Vec::with_capacity(RETAINED + 1);
    versions.push(Arc::new(base.clone()));
    for n in 0..RETAINED {
        let node = common::service_node(zone, rng.usize(..NAMES), n as u8 | 1);
        let mut edit = versions[versions.len() - 1].edit();
        edit.insert(node);
        versions.push(Arc::new(edit.finish()));
    }
    println!(
        "{RETAINED} retained one-name versions: {:.0} bytes of heap each",
        live().saturating_sub(before) as f64 / RETAINED as f64,
    );
    drop(versions);
}
