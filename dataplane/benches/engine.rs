//! Criterion benches of the answer engine and the record table.
//!
//! `cargo bench -p ferrodns-dataplane --bench engine` (about a minute and a half).
//! Figures and the machine they were taken on: `docs/benchmarks.md`.
//!
//! - `copy/*`: copying the query back into the reused buffer, alone. Every engine
//!   bench includes this copy (a poll loop receives into the buffer the engine then
//!   answers in); subtract it for the engine's own cost.
//! - `engine_1k/*`, `engine_1m/*`: `Engine::respond` on a UDP context, one query per
//!   iteration, on tables of 1k and 1M service names. `one_name` asks the same name
//!   every time (everything in cache); `random_names` cycles through 65,536 queries
//!   for names drawn at random (on the 1M table those miss the CPU caches).
//! - `engine_1m/find/random_names`: `TableVersion::find` alone for those names.
//! - `reader_1m/*`: answering random names through a `TableReader`, loading the
//!   version once per batch of 32 queries as the poll loops do, idle and while a
//!   writer thread publishes a one-name edit every 100 µs (10k updates/s).

mod common;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::QuerySet;
use criterion::{Criterion, criterion_group, criterion_main};
use ferrodns_dataplane::engine::{Engine, QueryContext, Transport, Verdict};
use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::table::{Table, TableReader, TableVersion};
use ferrodns_dataplane::testkit::{name, query};

const SMALL: usize = 1_000;
const LARGE: usize = 1_000_000;
/// Distinct queries cycled through by the `random_names` benches.
const RANDOM_QUERIES: usize = 1 << 16;
/// Queries answered per `TableReader::load`, as in the poll loops.
const BATCH: u64 = 32;
/// One update per period: 10k updates/s.
const UPDATE_PERIOD: Duration = Duration::from_micros(100);
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// 1,000 services plus one SRV name whose three targets are services 0..3.
static SMALL_TABLE: LazyLock<TableVersion> = LazyLock::new(|| {
    let mut records = common::service_records(SMALL);
    records.extend(common::srv_records());
    common::compile_zone(records)
});

/// 1,000,000 services, built once per process whichever bench needs it first.
static LARGE_TABLE: LazyLock<TableVersion> = LazyLock::new(|| {
    let start = Instant::now();
    let table = common::compile_zone(common::service_records(LARGE));
    eprintln!(
        "built the 1M-name table ({} names) in {:.2?}",
        table.name_count(),
        start.elapsed()
    );
    table
});

/// What a poll loop keeps per worker: the engine, one receive buffer reused for
/// every query, and the per-query entropy counter.
struct Responder {
    engine: Engine,
    buf: Vec<u8>,
    entropy: u32,
}

impl Responder {
    fn new() -> Self {
        Responder {
            engine: Engine::default(),
            buf: vec![0; 4096],
            entropy: 0,
        }
    }

    /// Copies `query` into the buffer (as a receive would) and answers it.
    #[inline]
    fn answer(&mut self, table: &TableVersion, query: &[u8]) -> Verdict {
        self.buf[..query.len()].copy_from_slice(query);
        self.entropy = self.entropy.wrapping_add(1);
        let ctx = QueryContext {
            client: CLIENT,
            transport: Transport::Udp,
            entropy: self.entropy,
        };
        self.engine.respond(table, &mut self.buf, query.len(), &ctx)
    }

    /// The copy alone: the part of [`Responder::answer`] that is not the engine.
    #[inline]
    fn copy(&mut self, query: &[u8]) -> usize {
        self.buf[..query.len()].copy_from_slice(query);
        black_box(&mut self.buf[..]);
        query.len()
    }

    /// Answers once and checks the rcode and section counts, so a bench never
    /// measures a wrong answer.
    fn check(&mut self, table: &TableVersion, query: &[u8], rcode: u8, counts: [u16; 3]) {
        let Verdict::Reply(len) = self.answer(table, query) else {
            panic!("no reply");
        };
        let answer = &self.buf[..len];
        let u16_at = |at: usize| u16::from_be_bytes([answer[at], answer[at + 1]]);
        assert_eq!(answer[3] & 0x0F, rcode, "rcode");
        assert_eq!([u16_at(6), u16_at(8), u16_at(10)], counts, "section counts");
    }
}

fn copy(c: &mut Criterion) {
    let mut group = c.benchmark_group("copy");
    let mut r = Responder::new();
    let one = query(&common::service_name(42), RType::A).bytes;
    group.bench_function("one_name", |b| b.iter(|| r.copy(black_box(&one))));
    let random = QuerySet::random_a(LARGE, RANDOM_QUERIES);
    let mut next = 0usize;
    group.bench_function("random_names", |b| {
        b.iter(|| {
            next = next.wrapping_add(1);
            r.copy(random.get(next))
        })
    });
    group.finish();
}

fn engine_small(c: &mut Criterion) {
    let table = &*SMALL_TABLE; // built in milliseconds
    let mut group = c.benchmark_group("engine_1k");
    let mut r = Responder::new();

    let a = query(&common::service_name(42), RType::A).bytes;
    r.check(table, &a, 0, [1, 0, 0]);
    group.bench_function("a/one_name", |b| b.iter(|| r.answer(table, black_box(&a))));

    let random = QuerySet::random_a(SMALL, RANDOM_QUERIES);
    r.check(table, random.get(0), 0, [1, 0, 0]);
    let mut next = 0usize;
    group.bench_function("a/random_names", |b| {
        b.iter(|| {
            next = next.wrapping_add(1);
            r.answer(table, random.get(next))
        })
    });

    let edns = query(&common::service_name(42), RType::A)
        .edns(1232, 0, false)
        .bytes;
    r.check(table, &edns, 0, [1, 0, 1]);
    group.bench_function("a_edns/one_name", |b| {
        b.iter(|| r.answer(table, black_box(&edns)))
    });

    let nx = query("nope.ns-3.svc.cluster.local.", RType::A).bytes;
    r.check(table, &nx, 3, [0, 1, 0]);
    group.bench_function("nxdomain", |b| b.iter(|| r.answer(table, black_box(&nx))));

    let srv = query(common::SRV_NAME, RType::SRV).bytes;
    r.check(table, &srv, 0, [3, 0, 3]);
    group.bench_function("srv_additional", |b| {
        b.iter(|| r.answer(table, black_box(&srv)))
    });
    group.finish();
}

fn engine_large(c: &mut Criterion) {
    // The table is built on first use inside a bench, so a filter that skips these
    // benches skips the build too.
    let mut group = c.benchmark_group("engine_1m");
    let mut r = Responder::new();

    let a = query(&common::service_name(424_242), RType::A).bytes;
    group.bench_function("a/one_name", |b| {
        let table = &*LARGE_TABLE;
        r.check(table, &a, 0, [1, 0, 0]);
        b.iter(|| r.answer(table, black_box(&a)))
    });

    let random = QuerySet::random_a(LARGE, RANDOM_QUERIES);
    let mut next = 0usize;
    group.bench_function("a/random_names", |b| {
        let table = &*LARGE_TABLE;
        r.check(table, random.get(0), 0, [1, 0, 0]);
        b.iter(|| {
            next = next.wrapping_add(1);
            r.answer(table, random.get(next))
        })
    });

    // The table lookup alone, for the same names: how much of the above is
    // waiting for memory.
    group.bench_function("find/random_names", |b| {
        let table = &*LARGE_TABLE;
        assert!(table.find(random.name(0)).is_some());
        b.iter(|| {
            next = next.wrapping_add(1);
            table.find(random.name(next)).map(|node| node.zone())
        })
    });
    group.finish();
}

/// Answers `iters` queries from `queries` through `reader`, loading the newest
/// version once per batch.
fn answer_batches(
    reader: &mut TableReader,
    r: &mut Responder,
    queries: &QuerySet,
    next: &mut usize,
    iters: u64,
) -> Duration {
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        let version = reader.load();
        for _ in 0..batch {
            *next = next.wrapping_add(1);
            black_box(r.answer(version, queries.get(*next)));
        }
        left -= batch;
    }
    start.elapsed()
}

/// A control plane stand-in: every [`UPDATE_PERIOD`] it re-encodes one random
/// service with a new address, derives the next version with `edit()` and
/// publishes it.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(u64, Duration, Duration)>,
}

impl Writer {
    fn start(table: Table) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let zone = table
            .current()
            .find(&name(&common::service_name(0)).to_lowercase_wire())
            .map(|node| node.zone())
            .unwrap_or_else(|| panic!("service 0 missing"));
        let handle = thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(11);
            let started = Instant::now();
            let mut due = started;
            let mut updates = 0u64;
            let mut busy = Duration::ZERO;
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now < due {
                    thread::sleep(due - now);
                } else if now - due > Duration::from_millis(10) {
                    // Descheduled for long: do not burst to catch up.
                    due = now;
                }
                due += UPDATE_PERIOD;
                let work = Instant::now();
                let node = common::service_node(zone, rng.usize(..LARGE), updates as u8 | 1);
                let current = table.current();
                let mut edit = current.edit();
                edit.insert(node);
                drop(current);
                table.publish(edit.finish());
                busy += work.elapsed();
                updates += 1;
            }
            (updates, started.elapsed(), busy)
        });
        Writer { stop, handle }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok((updates, elapsed, busy)) = self.handle.join() {
            eprintln!(
                "writer: {updates} updates in {elapsed:.2?} = {:.0} updates/s, {:.1} µs each",
                updates as f64 / elapsed.as_secs_f64(),
                busy.as_secs_f64() * 1e6 / updates.max(1) as f64
            );
        }
    }
}

fn readers_under_updates(c: &mut Criterion) {
    let table = Table::new();
    let queries = QuerySet::random_a(LARGE, RANDOM_QUERIES);
    let mut reader: Option<TableReader> = None;
    let mut r = Responder::new();
    let mut next = 0usize;
    let ready = |r: &mut Responder| -> TableReader {
        table.publish(LARGE_TABLE.clone());
        let mut reader = table.reader();
        r.check(reader.load(), queries.get(0), 0, [1, 0, 0]);
        reader
    };
    let mut group = c.benchmark_group("reader_1m");

    group.bench_function("a/random_names/idle", |b| {
        let reader = reader.get_or_insert_with(|| ready(&mut r));
        b.iter_custom(|iters| answer_batches(reader, &mut r, &queries, &mut next, iters))
    });

    let mut writer = None;
    group.bench_function("a/random_names/10k_updates_per_s", |b| {
        let reader = reader.get_or_insert_with(|| ready(&mut r));
        writer.get_or_insert_with(|| Writer::start(table.clone()));
        b.iter_custom(|iters| answer_batches(reader, &mut r, &queries, &mut next, iters))
    });
    if let Some(writer) = writer {
        writer.stop();
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .nresamples(20_000)
}

criterion_group! {
    name = benches;
    config = config();
    targets = copy, engine_small, engine_large, readers_under_updates
}
criterion_main!(benches);
