//! etcd benchmarks: how fast a write to etcd becomes an answer, and what loading a
//! million records costs. Prints figures; asserts nothing.
//!
//! ```sh
//! cargo build --release -p ferrodns --example etcd_bench
//! target/release/examples/etcd_bench latency 1000
//! target/release/examples/etcd_bench load 1000000
//! target/release/examples/etcd_bench throughput 5000
//! cargo build --release -p queryperf
//! target/release/examples/etcd_bench throughput 5000 isolated
//! ```
//!
//! Both start a real etcd (Debian's `etcd-server`) on free loopback ports with a
//! temporary data directory, and the etcd half of ferrodns in this process: the
//! same [`EtcdSource`] and UDP poll loop `ferrodns serve` runs.
//!
//! - `latency N`: N writes of a new address for one name (a put through the
//!   etcd client), each timed from the put until a DNS query over UDP answers the
//!   new address; then N health flips (a DOWN status written for one of a name's
//!   two addresses, then UP again), each timed until the answers change.
//! - `load N`: writes N containerdns A records (one name each) into etcd, then
//!   runs a fresh process that starts the etcd source and reports the full load's
//!   time and the process's resident memory.
//! - `throughput RATE`: 10k names in etcd; `dnsperf` (one client thread) asks
//!   for them as fast as the appliance answers, first with etcd idle, then while
//!   RATE updates a second stream in (puts of new addresses for 25 neighbouring
//!   names from a random start, one transaction every 25/RATE seconds); prints
//!   both query rates, the update rate achieved and the change in percent.
//!   Everything shares both cores, as the scheduler likes.
//! - `throughput RATE isolated`: the same updates, laid out as an appliance
//!   runs: the poll loop alone on CPU 1; etcd, the update writer, the control
//!   plane (the etcd source decoding watch events and publishing table edits)
//!   and the client on CPU 0. No client here can saturate the poll loop from a
//!   core it shares with etcd, so the client (`queryperf`, one thread) offers a
//!   fixed 100k queries/s and the bench reads the poll loop thread's own CPU
//!   time: answers per second of poll-loop CPU is the rate the loop would reach
//!   on its core, idle and while the updates stream in.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, Txn, TxnOp};
use ferrodns::config::Overrides;
use ferrodns::etcd::EtcdSource;
use ferrodns::pipeline::{Policies, Publisher, PublisherHandle};
use ferrodns::sources::FileSources;
use ferrodns_dataplane::engine::{Engine, EngineConfig};
use ferrodns_dataplane::io::udp::{UdpConfig, UdpWorkers};
use ferrodns_dataplane::record::RType;
use ferrodns_dataplane::table::Table;
use ferrodns_dataplane::testkit::query;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let count = |default: usize| args.get(2).and_then(|n| n.parse().ok()).unwrap_or(default);
    match args.get(1).map(String::as_str) {
        Some("latency") => latency(count(1000)),
        Some("load") => load(count(1_000_000)),
        Some("measure-load") => measure_load(args.get(2).cloned().unwrap_or_default()),
        Some("throughput") => {
            let layout = match args.get(3).map(String::as_str) {
                None => Layout::Shared,
                Some("isolated") => Layout::Isolated,
                Some(other) => return Err(format!("unknown layout {other:?}").into()),
            };
            throughput(count(5000), layout)
        }
        _ => {
            eprintln!(
                "usage: etcd_bench latency [N] | load [N] | throughput [UPDATES_PER_S [isolated]]"
            );
            std::process::exit(2);
        }
    }
}

/// A throw-away etcd on loopback.
struct Etcd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    fn start() -> Result<Etcd, Error> {
        let dir = tempfile::tempdir()?;
        let client = free_port()?;
        let peer = free_port()?;
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--name", "bench", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &format!("bench={peer_url}")])
            .args(["--quota-backend-bytes", &(8u64 << 30).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let etcd = Etcd {
            child,
            url,
            _dir: dir,
        };
        let started = Instant::now();
        while !etcd.healthy() {
            if started.elapsed() > Duration::from_secs(20) {
                return Err("etcd did not start".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(etcd)
    }

    fn healthy(&self) -> bool {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.url, "endpoint", "health"])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The etcd half of ferrodns plus one UDP poll loop, in this process.
struct Appliance {
    _udp: UdpWorkers,
    addr: SocketAddr,
    source_started: Duration,
}

/// Where the throughput bench's parts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Unpinned: the poll loop is pinned to a core the scheduler also gives to
    /// etcd, the writer and dnsperf.
    Shared,
    /// The poll loop alone on [`DATAPLANE_CPU`], everything else on
    /// [`CONTROL_CPU`]; queryperf as the client.
    Isolated,
}

/// The core of the poll loop in [`Layout::Isolated`].
const DATAPLANE_CPU: usize = 1;
/// The core of everything else in [`Layout::Isolated`].
const CONTROL_CPU: usize = 0;

/// The etcd source and one UDP poll loop, pinned to `poll_loop_core` if given.
async fn appliance(
    url: &str,
    runtime_stop: tokio::sync::watch::Receiver<bool>,
    poll_loop_core: Option<usize>,
) -> Result<Appliance, Error> {
    let config = ferrodns::config::load(
        None,
        &Overrides {
            etcd: vec![url.to_owned()],
            domains: vec!["bench.test".into()],
            ..Overrides::default()
        },
    )?;
    let settings = config.etcd.clone().ok_or("no etcd settings")?;
    let table = Table::new();
    let publisher = PublisherHandle::new(Publisher::new(
        table.clone(),
        Policies::new(config.default_policy, &config.zones),
    ));
    let started = Instant::now();
    publisher
        .apply(FileSources::from_config(&config).read()?)
        .await;
    let source = EtcdSource::start(&config, &settings, publisher).await?;
    let source_started = started.elapsed();
    tokio::spawn(source.run(runtime_stop));
    let udp = UdpWorkers::spawn(
        UdpConfig {
            listen: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))],
            workers: 1,
            cores: poll_loop_core.map(|core| vec![core]),
            batch: 64,
        },
        Arc::new(Engine::new(EngineConfig::default())),
        table,
    )?;
    let addr = *udp.local_addrs().first().ok_or("no UDP address")?;
    Ok(Appliance {
        _udp: udp,
        addr,
        source_started,
    })
}

/// A queries for one name over UDP, answers read back as addresses.
struct Resolver {
    socket: UdpSocket,
    query: Vec<u8>,
    id: u16,
}

impl Resolver {
    fn new(server: SocketAddr, name: &str) -> Result<Resolver, Error> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.connect(server)?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let query = query(name, RType::A).id(0).flags(0).bytes;
        Ok(Resolver {
            socket,
            query,
            id: 0,
        })
    }

    /// The A addresses in the answer, sorted.
    fn ask(&mut self) -> Vec<[u8; 4]> {
        self.id = self.id.wrapping_add(1);
        self.query[..2].copy_from_slice(&self.id.to_be_bytes());
        if self.socket.send(&self.query).is_err() {
            return Vec::new();
        }
        let mut buf = [0u8; 1500];
        loop {
            let Ok(len) = self.socket.recv(&mut buf) else {
                return Vec::new();
            };
            if buf[..2] == self.id.to_be_bytes() {
                let mut out = answers(&buf[..len]);
                out.sort();
                return out;
            }
        }
    }
}

/// A rdata of the answer section (a deliberately small parser).
fn answers(msg: &[u8]) -> Vec<[u8; 4]> {
    let count = |at: usize| {
        msg.get(at..at + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (qd, an) = (count(4), count(6));
    let skip_name = |mut at: usize| -> usize {
        while let Some(&len) = msg.get(at) {
            if len == 0 {
                return at + 1;
            }
            if len & 0xc0 == 0xc0 {
                return at + 2;
            }
            at += 1 + usize::from(len);
        }
        at
    };
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(at) + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        at = skip_name(at);
        let (rtype, rdlen) = (count(at), usize::from(count(at + 8)));
        at += 10;
        if rtype == 1
            && rdlen == 4
            && let Some(rdata) = msg.get(at..at + 4)
        {
            out.push([rdata[0], rdata[1], rdata[2], rdata[3]]);
        }
        at += rdlen;
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn summary(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.90)),
        ms(percentile(&samples, 0.99)),
        ms(percentile(&samples, 1.0)),
    );
}

/// Polls until `done` holds for the answer; the time it took.
fn until(
    resolver: &mut Resolver,
    started: Instant,
    done: impl Fn(&[[u8; 4]]) -> bool,
) -> Result<Duration, Error> {
    loop {
        if done(&resolver.ask()) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(5) {
            return Err("the answer did not change within 5 s".into());
        }
    }
}

fn latency(n: usize) -> Result<(), Error> {
    let etcd = Etcd::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let appliance = runtime.block_on(appliance(&etcd.url, stopped, None))?;
    let mut client = runtime.block_on(Client::connect([etcd.url.as_str()], None))?;
    let mut resolver = Resolver::new(appliance.addr, "web.bench.test")?;

    let mut visible = Vec::with_capacity(n);
    let mut acked = Vec::with_capacity(n);
    for i in 0..n {
        let ip = [10, 1, (i >> 8) as u8, i as u8];
        let value = format!(
            r#"{{"type":"A","host":"{}.{}.{}.{}"}}"#,
            ip[0], ip[1], ip[2], ip[3]
        );
        let started = Instant::now();
        runtime.block_on(client.put("/containerdns/test/bench/web/x/", value, None))?;
        acked.push(started.elapsed());
        visible.push(until(&mut resolver, started, |a| a == [ip])?);
    }
    summary("etcd put acknowledged", acked);
    summary("etcd write -> answer visible", visible);

    runtime.block_on(async {
        client
            .put(
                "/containerdns/test/bench/web/x/",
                r#"{"type":"A","host":"10.2.0.1"}"#,
                None,
            )
            .await?;
        client
            .put(
                "/containerdns/test/bench/web/y/",
                r#"{"type":"A","host":"10.2.0.2"}"#,
                None,
            )
            .await
    })?;
    until(&mut resolver, Instant::now(), |a| a.len() == 2)?;
    let mut flips = Vec::with_capacity(n);
    for i in 0..n {
        let down = i % 2 == 0;
        let status = if down { "DOWN" } else { "UP" };
        let value = format!(r#"{{"status":"{status}","ports":["80"]}}"#);
        let started = Instant::now();
        runtime.block_on(client.put("/containerdns/monitor/status/10.2.0.1", value, None))?;
        flips.push(until(&mut resolver, started, |a| {
            if down {
                a == [[10, 2, 0, 2]]
            } else {
                a.len() == 2
            }
        })?);
    }
    summary("health DOWN/UP write -> answers change", flips);
    Ok(())
}

fn load(n: usize) -> Result<(), Error> {
    let etcd = Etcd::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    runtime.block_on(async {
        let client = Client::connect([etcd.url.as_str()], None).await?;
        let mut tasks = Vec::new();
        let workers = 16;
        for w in 0..workers {
            let mut client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = w * 128;
                while i < n {
                    let ops: Vec<TxnOp> = (i..(i + 128).min(n))
                        .map(|k| {
                            let key = format!("/containerdns/test/bench/h{k}/a/");
                            let value = format!(
                                r#"{{"host":"10.{}.{}.{}","type":"A","ttl":30}}"#,
                                (k >> 16) & 255,
                                (k >> 8) & 255,
                                k & 255
                            );
                            TxnOp::put(key, value, None)
                        })
                        .collect();
                    client.txn(Txn::new().and_then(ops)).await?;
                    i += workers * 128;
                }
                Ok::<(), etcd_client::Error>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok::<(), Error>(())
    })?;
    println!(
        "wrote {n} records to etcd in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let me = std::env::current_exe()?;
    let status = Command::new(me)
        .args(["measure-load", &etcd.url])
        .status()?;
    if !status.success() {
        return Err("the load measurement failed".into());
    }
    Ok(())
}

/// Runs in a fresh process: starts the etcd source and reports.
fn measure_load(url: String) -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::stderr)
        .init();
    let before = memory();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let appliance = runtime.block_on(appliance(&url, stopped, None))?;
    let after = memory();
    let mut resolver = Resolver::new(appliance.addr, "h12345.bench.test")?;
    let answered = resolver.ask();
    println!(
        "full load from etcd: {:.2} s; resident memory {} MiB (peak {} MiB, {} MiB before); h12345 -> {:?}",
        appliance.source_started.as_secs_f64(),
        after.0 >> 10,
        after.1 >> 10,
        before.0 >> 10,
        answered
    );
    Ok(())
}

/// Names the throughput run serves and updates.
const THROUGHPUT_NAMES: usize = 10_000;

/// The containerdns key and value of name `k` with address generation `g`.
fn bench_record(k: usize, g: usize) -> (String, String) {
    (
        format!("/containerdns/test/bench/h{k}/a/"),
        format!(
            r#"{{"host":"10.{}.{}.{}","type":"A","ttl":30}}"#,
            g & 255,
            (k >> 8) & 255,
            k & 255
        ),
    )
}

/// `dnsperf` for `seconds` against `server` with `queries`: its queries per second.
fn dnsperf(server: SocketAddr, queries: &Path, seconds: u32) -> Result<f64, Error> {
    client_qps(
        Path::new("dnsperf"),
        server,
        queries,
        seconds,
        &["-q", "200"],
    )
}

/// What the client offers in [`Layout::Isolated`], in queries per second.
const ISOLATED_OFFERED: u32 = 100_000;

/// `queryperf` (next to this example's directory in the target directory) for
/// `seconds` against `server` at `rate` queries per second, 500 queries
/// outstanding: its answered queries per second.
fn queryperf(server: SocketAddr, queries: &Path, seconds: u32, rate: u32) -> Result<f64, Error> {
    let exe = std::env::current_exe()?;
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("queryperf"))
        .filter(|path| path.exists())
        .ok_or("no queryperf beside the examples: cargo build --release -p queryperf")?;
    let rate = rate.to_string();
    let extra = ["-q", "500", "-t", "1", "-Q", rate.as_str()];
    client_qps(&binary, server, queries, seconds, &extra)
}

/// Runs the dnsperf-style `client` (dnsperf or queryperf: same flags, same
/// summary) against `server` with `queries` for `seconds`, one thread and 4
/// sockets, plus `extra` flags: the "Queries per second:" of its report.
fn client_qps(
    client: &Path,
    server: SocketAddr,
    queries: &Path,
    seconds: u32,
    extra: &[&str],
) -> Result<f64, Error> {
    let output = Command::new(client)
        .args(["-s", &server.ip().to_string()])
        .args(["-p", &server.port().to_string()])
        .arg("-d")
        .arg(queries)
        .args(["-l", &seconds.to_string(), "-c", "4", "-T", "1"])
        .args(extra)
        .output()?;
    let report = String::from_utf8_lossy(&output.stdout);
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Queries per second:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no rate in {}'s report: {report}", client.display()).into())
}

/// CPU seconds the UDP poll loop thread (`ferrodns-udp-0`) of this process has
/// used.
fn poll_loop_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim() == "ferrodns-udp-0")
        })
        .map_or(0.0, |task| stat_cpu_seconds(&task.path().join("stat")))
}

fn throughput(rate: usize, layout: Layout) -> Result<(), Error> {
    if layout == Layout::Isolated {
        // Threads and processes started from here on inherit this core: the
        // runtime, etcd, the writer and the client. The poll loop pins itself.
        if !core_affinity::set_for_current(core_affinity::CoreId { id: CONTROL_CPU }) {
            return Err(format!("cannot pin to CPU {CONTROL_CPU}").into());
        }
    }
    let client_rate = |server, queries: &Path, seconds| match layout {
        Layout::Shared => dnsperf(server, queries, seconds),
        Layout::Isolated => queryperf(server, queries, seconds, ISOLATED_OFFERED),
    };
    let etcd = Etcd::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let client = runtime.block_on(Client::connect([etcd.url.as_str()], None))?;
    runtime.block_on(async {
        let mut client = client.clone();
        for chunk in (0..THROUGHPUT_NAMES).collect::<Vec<_>>().chunks(128) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|&k| {
                    let (key, value) = bench_record(k, 0);
                    TxnOp::put(key, value, None)
                })
                .collect();
            client.txn(Txn::new().and_then(ops)).await?;
        }
        Ok::<(), etcd_client::Error>(())
    })?;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let poll_loop_core = (layout == Layout::Isolated).then_some(DATAPLANE_CPU);
    let appliance = runtime.block_on(appliance(&etcd.url, stopped, poll_loop_core))?;
    let dir = tempfile::tempdir()?;
    let queries = dir.path().join("queries");
    let mut text = String::new();
    for k in 0..THROUGHPUT_NAMES {
        text.push_str(&format!("h{k}.bench.test A\n"));
    }
    std::fs::write(&queries, text)?;

    let seconds = 5;
    // Answers per second, and answers per second of the poll loop's CPU.
    let measure = || -> Result<(f64, f64), Error> {
        let cpu = poll_loop_cpu_seconds();
        let qps = client_rate(appliance.addr, &queries, seconds)?;
        let spent = poll_loop_cpu_seconds() - cpu;
        Ok((qps, qps * f64::from(seconds) / spent.max(1e-9)))
    };
    let (idle, idle_capacity) = measure()?;
    let updates = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (stop_writer, mut writer_stopped) = tokio::sync::watch::channel(false);
    let writer = {
        let (mut client, updates) = (client.clone(), Arc::clone(&updates));
        runtime.spawn(async move {
            let batch = 25;
            let every = Duration::from_secs_f64(batch as f64 / rate.max(1) as f64);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut generation = 1;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = writer_stopped.changed() => return Ok::<(), etcd_client::Error>(()),
                }
                // Neighbouring names from a random start: etcd refuses a
                // transaction that names a key twice.
                let start = fastrand::usize(..THROUGHPUT_NAMES);
                let ops: Vec<TxnOp> = (0..batch)
                    .map(|i| {
                        let (key, value) = bench_record((start + i) % THROUGHPUT_NAMES, generation);
                        TxnOp::put(key, value, None)
                    })
                    .collect();
                generation += 1;
                client.txn(Txn::new().and_then(ops)).await?;
                updates.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let before = updates.load(std::sync::atomic::Ordering::Relaxed);
    let etcd_cpu = cpu_seconds(etcd.child.id());
    let started = Instant::now();
    let (busy, busy_capacity) = measure()?;
    let elapsed = started.elapsed().as_secs_f64();
    let applied = updates.load(std::sync::atomic::Ordering::Relaxed) - before;
    let achieved = applied as f64 / elapsed;
    let etcd_share = (cpu_seconds(etcd.child.id()) - etcd_cpu) / elapsed;
    // The writer only drops its end when it failed; its error says why.
    let _ = stop_writer.send(true);
    runtime.block_on(writer)??;
    println!(
        "queries/s idle {idle:.0}; while {achieved:.0} etcd updates/s stream in {busy:.0} \
         ({:+.1}%); etcd itself used {:.0}% of a core meanwhile",
        (busy / idle - 1.0) * 100.0,
        etcd_share * 100.0
    );
    println!(
        "answers per poll-loop CPU second: idle {idle_capacity:.0}; during the updates \
         {busy_capacity:.0} ({:+.1}%)",
        (busy_capacity / idle_capacity - 1.0) * 100.0
    );
    Ok(())
}

/// CPU time (user + system) process `pid` has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(Path::new(&format!("/proc/{pid}/stat")))
}

/// utime + stime from a `/proc/.../stat` file, in seconds.
fn stat_cpu_seconds(path: &Path) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, so
    // utime and stime (fields 14 and 15) are the 12th and 13th after it.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // Linux reports CPU time in USER_HZ ticks, 100 per second.
    ticks as f64 / 100.0
}

/// (VmRSS, VmHWM) in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
