//! What a run measured, and the two ways it is printed: dnsperf's summary (its
//! line labels, so scripts written for dnsperf read queryperf's output too) and
//! JSON for scripts of our own (`--json`).
//!
//! Each worker thread counts into its own [`Stats`]; they are merged at the end,
//! so the hot path shares nothing. Latency goes into an HDR histogram in
//! nanoseconds with three significant digits: percentiles stay exact to 0.1%
//! whatever the spread, in constant memory.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::query::RCODE_NAMES;
use crate::sockets::Connection;

/// The connections a TCP run made: dnsperf's "Connection Statistics".
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Connections {
    pub(crate) made: u64,
    pub(crate) reconnections: u64,
    /// Time to connect: sum, sum of squares (for the deviation), extremes.
    total: Duration,
    squares: f64,
    min: Option<Duration>,
    max: Duration,
}

impl Connections {
    pub(crate) fn record(&mut self, connection: Connection) {
        let latency = connection.latency;
        self.made += 1;
        self.reconnections += u64::from(connection.reconnect);
        self.total += latency;
        self.squares += latency.as_secs_f64().powi(2);
        self.min = Some(self.min.map_or(latency, |min| min.min(latency)));
        self.max = self.max.max(latency);
    }

    fn merge(&mut self, other: &Connections) {
        self.made += other.made;
        self.reconnections += other.reconnections;
        self.total += other.total;
        self.squares += other.squares;
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = self.max.max(other.max);
    }

    /// Mean time to connect, in seconds.
    fn mean(&self) -> f64 {
        self.total.as_secs_f64() / self.made.max(1) as f64
    }

    /// Sample standard deviation of the time to connect, in seconds.
    fn stdev(&self) -> f64 {
        if self.made < 2 {
            return 0.0;
        }
        let n = self.made as f64;
        let mean = self.total.as_secs_f64() / n;
        ((self.squares - n * mean * mean) / (n - 1.0))
            .max(0.0)
            .sqrt()
    }
}

/// Counts and latencies of (part of) a run.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    pub(crate) sent: u64,
    pub(crate) completed: u64,
    pub(crate) lost: u64,
    /// Replies that matched no outstanding query (a duplicate, one after its
    /// query was given up, or one with another question).
    pub(crate) unexpected: u64,
    pub(crate) connections: Connections,
    pub(crate) rcodes: [u64; 16],
    pub(crate) request_bytes: u64,
    pub(crate) response_bytes: u64,
    pub(crate) latency: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            sent: 0,
            completed: 0,
            lost: 0,
            unexpected: 0,
            connections: Connections::default(),
            rcodes: [0; 16],
            request_bytes: 0,
            response_bytes: 0,
            latency: new_histogram(),
        }
    }
}

/// Nanoseconds from 1 ns to an hour, three significant digits.
fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 3_600_000_000_000, 3) {
        Ok(histogram) => histogram,
        // The bounds are constants that hdrhistogram accepts.
        Err(_) => Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits")),
    }
}

impl Stats {
    pub(crate) fn record_sent(&mut self, bytes: usize) {
        self.sent += 1;
        self.request_bytes += bytes as u64;
    }

    pub(crate) fn record_reply(&mut self, rcode: u8, bytes: usize, latency: Duration) {
        self.completed += 1;
        self.rcodes[usize::from(rcode & 0x0f)] += 1;
        self.response_bytes += bytes as u64;
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency.saturating_record(nanos.max(1));
    }

    pub(crate) fn merge(&mut self, other: &Stats) {
        self.sent += other.sent;
        self.completed += other.completed;
        self.lost += other.lost;
        self.unexpected += other.unexpected;
        self.connections.merge(&other.connections);
        for (mine, theirs) in self.rcodes.iter_mut().zip(other.rcodes) {
            *mine += theirs;
        }
        self.request_bytes += other.request_bytes;
        self.response_bytes += other.response_bytes;
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    /// Lost queries as a fraction of those whose fate is known.
    pub(crate) fn loss(&self) -> f64 {
        let settled = self.completed + self.lost;
        if settled == 0 {
            0.0
        } else {
            self.lost as f64 / settled as f64
        }
    }

    /// Latency at `percentile` (0..=100), in seconds.
    pub(crate) fn latency_at(&self, percentile: f64) -> f64 {
        nanos_to_secs(self.latency.value_at_percentile(percentile))
    }

    /// The progress line for the interval ending `second` seconds into the run:
    /// answers per second, queries sent, loss, p99.
    pub(crate) fn progress_line(&self, second: u64, interval: Duration) -> String {
        format!(
            "[{second:>4}s] {:>10.0} qps  sent {:>9}  loss {:>6.2}%  p99 {:.6} s",
            self.rate(interval),
            self.sent,
            self.loss() * 100.0,
            self.latency_at(99.0)
        )
    }

    /// dnsperf's `-S` line for an interval that ended at `end` (since the Unix
    /// epoch): `<seconds>.<microseconds>: <answers per second>`.
    pub(crate) fn interval_line(&self, end: Duration, interval: Duration) -> String {
        format!(
            "{}.{:06}: {:.6}",
            end.as_secs(),
            end.subsec_micros(),
            self.rate(interval)
        )
    }

    /// Answers per second over `interval`.
    fn rate(&self, interval: Duration) -> f64 {
        self.completed as f64 / interval.as_secs_f64().max(1e-9)
    }
}

fn nanos_to_secs(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The latency percentiles the summary and the JSON report.
const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
    ("p99.99", 99.99),
];

/// A finished run: its totals and how long it took.
#[derive(Debug)]
pub(crate) struct Report<'a> {
    pub(crate) stats: &'a Stats,
    pub(crate) run_time: Duration,
    pub(crate) transport: &'static str,
}

impl Report<'_> {
    fn qps(&self) -> f64 {
        self.stats.completed as f64 / self.run_time.as_secs_f64().max(1e-9)
    }

    /// The summary with dnsperf's labels.
    pub(crate) fn summary(&self) -> String {
        let s = self.stats;
        let mut out = String::new();
        let _ = writeln!(out, "Statistics:\n");
        let _ = writeln!(out, "  Queries sent:         {}", s.sent);
        let _ = writeln!(
            out,
            "  Queries completed:    {} ({:.2}%)",
            s.completed,
            percent(s.completed, s.sent)
        );
        let _ = writeln!(
            out,
            "  Queries lost:         {} ({:.2}%)\n",
            s.lost,
            percent(s.lost, s.sent)
        );
        let rcodes: Vec<String> = s
            .rcodes
            .iter()
            .zip(RCODE_NAMES)
            .filter(|(count, _)| **count > 0)
            .map(|(count, name)| format!("{name} {count} ({:.2}%)", percent(*count, s.completed)))
            .collect();
        let _ = writeln!(out, "  Response codes:       {}", rcodes.join(", "));
        let _ = writeln!(
            out,
            "  Average packet size:  request {}, response {}",
            s.request_bytes.checked_div(s.sent).unwrap_or(0),
            s.response_bytes.checked_div(s.completed).unwrap_or(0)
        );
        let _ = writeln!(
            out,
            "  Run time (s):         {:.6}",
            self.run_time.as_secs_f64()
        );
        let _ = writeln!(out, "  Queries per second:   {:.6}\n", self.qps());
        let _ = writeln!(
            out,
            "  Average Latency (s):  {:.6} (min {:.6}, max {:.6})",
            s.latency.mean() / 1e9,
            nanos_to_secs(s.latency.min()),
            nanos_to_secs(s.latency.max())
        );
        // Like dnsperf, no spread of one answer or none.
        if s.completed > 1 {
            let _ = writeln!(
                out,
                "  Latency StdDev (s):   {:.6}",
                s.latency.stdev() / 1e9
            );
        }
        if s.completed > 0 {
            for (name, percentile) in PERCENTILES {
                let label = format!("Latency {name} (s):");
                let _ = writeln!(out, "  {label:<22}{:.6}", s.latency_at(percentile));
            }
        }
        if self.transport == "tcp" {
            let c = &s.connections;
            let _ = writeln!(out, "\nConnection Statistics:\n");
            let _ = writeln!(out, "  Reconnections:        {}\n", c.reconnections);
            let _ = writeln!(
                out,
                "  Average Latency (s):  {:.6} (min {:.6}, max {:.6})",
                c.mean(),
                c.min.unwrap_or_default().as_secs_f64(),
                c.max.as_secs_f64()
            );
            if c.made > 1 {
                let _ = writeln!(out, "  Latency StdDev (s):   {:.6}", c.stdev());
            }
        }
        out
    }

    /// The same figures as JSON, for scripts.
    pub(crate) fn json(&self) -> String {
        let s = self.stats;
        let rcodes = s
            .rcodes
            .iter()
            .zip(RCODE_NAMES)
            .filter(|(count, _)| **count > 0)
            .map(|(count, name)| (name.to_owned(), *count))
            .collect();
        let percentiles = PERCENTILES
            .iter()
            .map(|(name, p)| ((*name).to_owned(), s.latency_at(*p)))
            .collect();
        let json = JsonReport {
            transport: self.transport,
            queries_sent: s.sent,
            queries_completed: s.completed,
            queries_lost: s.lost,
            unexpected_replies: s.unexpected,
            loss: s.loss(),
            rcodes,
            run_time_s: self.run_time.as_secs_f64(),
            queries_per_second: self.qps(),
            queries_sent_per_second: s.sent as f64 / self.run_time.as_secs_f64().max(1e-9),
            latency_s: JsonLatency {
                avg: s.latency.mean() / 1e9,
                min: nanos_to_secs(s.latency.min()),
                max: nanos_to_secs(s.latency.max()),
                percentiles,
            },
            connections: (self.transport == "tcp").then(|| JsonConnections {
                made: s.connections.made,
                reconnections: s.connections.reconnections,
                latency_avg_s: s.connections.mean(),
            }),
        };
        serde_json::to_string_pretty(&json).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct JsonReport {
    transport: &'static str,
    queries_sent: u64,
    queries_completed: u64,
    queries_lost: u64,
    unexpected_replies: u64,
    loss: f64,
    rcodes: std::collections::BTreeMap<String, u64>,
    run_time_s: f64,
    queries_per_second: f64,
    queries_sent_per_second: f64,
    latency_s: JsonLatency,
    #[serde(skip_serializing_if = "Option::is_none")]
    connections: Option<JsonConnections>,
}

#[derive(Serialize)]
struct JsonConnections {
    made: u64,
    reconnections: u64,
    latency_avg_s: f64,
}

#[derive(Serialize)]
struct JsonLatency {
    avg: f64,
    min: f64,
    max: f64,
    #[serde(flatten)]
    percentiles: std::collections::BTreeMap<String, f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stats {
        let mut stats = Stats::default();
        for i in 0..100u64 {
            stats.record_sent(30);
            let rcode = if i < 90 { 0 } else { 3 };
            stats.record_reply(rcode, 60, Duration::from_micros(100 + i));
        }
        stats.record_sent(30);
        stats.lost = 1;
        stats
    }

    #[test]
    fn the_summary_uses_dnsperfs_labels() {
        let stats = sample();
        let report = Report {
            stats: &stats,
            run_time: Duration::from_secs(2),
            transport: "udp",
        };
        let text = report.summary();
        for line in [
            "  Queries sent:         101\n",
            "  Queries completed:    100 (99.01%)\n",
            "  Queries lost:         1 (0.99%)\n",
            "  Response codes:       NOERROR 90 (90.00%), NXDOMAIN 10 (10.00%)\n",
            "  Queries per second:   50.000000\n",
            "  Average packet size:  request 30, response 60\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("  Average Latency (s):  0.000150"), "{text}");
        assert!(text.contains("  Latency p99 (s):      0.000198"), "{text}");
    }

    #[test]
    fn json_carries_the_same_figures() {
        let stats = sample();
        let report = Report {
            stats: &stats,
            run_time: Duration::from_secs(2),
            transport: "tcp",
        };
        let v: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(v["queries_sent"], 101);
        assert_eq!(v["queries_completed"], 100);
        assert_eq!(v["rcodes"]["NXDOMAIN"], 10);
        assert_eq!(v["transport"], "tcp");
        assert!((v["latency_s"]["p50"].as_f64().unwrap() - 0.000149).abs() < 1e-6);
    }

    #[test]
    fn a_tcp_summary_ends_with_dnsperfs_connection_statistics() {
        let mut stats = sample();
        for (millis, reconnect) in [(2, false), (4, false), (6, true)] {
            stats.connections.record(Connection {
                latency: Duration::from_millis(millis),
                reconnect,
            });
        }
        let report = Report {
            stats: &stats,
            run_time: Duration::from_secs(2),
            transport: "tcp",
        };
        let text = report.summary();
        let tail = text
            .split("\nConnection Statistics:\n\n")
            .nth(1)
            .unwrap_or_default();
        assert_eq!(
            tail,
            "  Reconnections:        1\n\n\
             \x20 Average Latency (s):  0.004000 (min 0.002000, max 0.006000)\n\
             \x20 Latency StdDev (s):   0.002000\n",
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(v["connections"]["made"], 3);
    }

    #[test]
    fn no_spread_is_printed_for_one_answer_or_none() {
        let mut stats = Stats::default();
        stats.record_sent(30);
        let summary = |stats: &Stats| {
            Report {
                stats,
                run_time: Duration::from_secs(1),
                transport: "udp",
            }
            .summary()
        };
        let none = summary(&stats);
        assert!(!none.contains("StdDev") && !none.contains("p50"), "{none}");
        stats.record_reply(0, 60, Duration::from_micros(50));
        let one = summary(&stats);
        assert!(!one.contains("StdDev") && one.contains("p50"), "{one}");
        assert!(!one.contains("Connection"), "UDP has no connections");
    }

    #[test]
    fn merging_adds_counts_and_latencies() {
        let mut total = sample();
        total.merge(&sample());
        assert_eq!(total.sent, 202);
        assert_eq!(total.rcodes[3], 20);
        assert_eq!(total.latency.len(), 200);
        assert!((total.loss() - 2.0 / 202.0).abs() < 1e-12);
    }
}
