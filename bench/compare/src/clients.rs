//! The two load generators, run the same way against every server: one thread on
//! `CLIENT_CPU`, 4 sockets, at most 500 queries outstanding, for a fixed time at a
//! fixed offered rate (or unlimited). Both print dnsperf's summary labels, so one
//! parser reads both; only queryperf prints latency percentiles.

use std::path::Path;

use crate::BenchError;
use crate::servers::command_output;

/// A load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    Dnsperf,
    Queryperf,
}

impl Client {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Client::Dnsperf => "dnsperf",
            Client::Queryperf => "queryperf",
        }
    }
}

/// How one run is driven.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) port: u16,
    pub(crate) seconds: u64,
    /// Offered queries per second; `None` is as fast as the client goes.
    pub(crate) rate: Option<u64>,
    pub(crate) outstanding: u32,
    /// Seconds before an unanswered query counts as lost.
    pub(crate) timeout: f64,
}

/// What one client run reported.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Measurement {
    pub(crate) sent: f64,
    pub(crate) completed: f64,
    pub(crate) lost: f64,
    pub(crate) qps: f64,
    pub(crate) avg_latency: f64,
    pub(crate) p50: Option<f64>,
    pub(crate) p99: Option<f64>,
}

impl Measurement {
    pub(crate) fn loss(&self) -> f64 {
        if self.sent == 0.0 {
            1.0
        } else {
            self.lost / self.sent
        }
    }
}

/// Runs `client` (the `queryperf` binary at `queryperf`) with `load` over the
/// queries in `file`.
pub(crate) fn run(
    client: Client,
    queryperf: &Path,
    file: &Path,
    load: Load,
) -> Result<Measurement, BenchError> {
    let program = match client {
        Client::Dnsperf => "dnsperf".to_owned(),
        Client::Queryperf => queryperf.display().to_string(),
    };
    let port = load.port.to_string();
    let seconds = load.seconds.to_string();
    let outstanding = load.outstanding.to_string();
    let timeout = load.timeout.to_string();
    let file = file.display().to_string();
    let mut args = vec![
        "-c",
        crate::CLIENT_CPU,
        &program,
        "-s",
        "127.0.0.1",
        "-p",
        &port,
        "-d",
        &file,
        "-l",
        &seconds,
        "-c",
        "4",
        "-T",
        "1",
        "-q",
        &outstanding,
        "-t",
        &timeout,
    ];
    if client == Client::Dnsperf {
        // dnsperf prints a line per lost query by default, which costs its one
        // thread dearly exactly when it is busiest.
        args.extend([
            "-O",
            "suppress=timeouts,congestion,sendfailed,sockready,unexpected",
        ]);
    }
    let rate = load.rate.map(|r| r.to_string());
    if let Some(rate) = &rate {
        args.extend(["-Q", rate.as_str()]);
    }
    let output = command_output("taskset", &args)?;
    parse(&output).ok_or_else(|| BenchError::Parse(format!("{program} printed:\n{output}")))
}

/// The first number after `label` in a dnsperf-style summary.
fn figure(summary: &str, label: &str) -> Option<f64> {
    summary
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn parse(summary: &str) -> Option<Measurement> {
    Some(Measurement {
        sent: figure(summary, "Queries sent:")?,
        completed: figure(summary, "Queries completed:")?,
        lost: figure(summary, "Queries lost:")?,
        qps: figure(summary, "Queries per second:")?,
        avg_latency: figure(summary, "Average Latency (s):")?,
        p50: figure(summary, "Latency p50 (s):"),
        p99: figure(summary, "Latency p99 (s):"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dnsperfs_summary() {
        let text = "Statistics:\n\n  Queries sent:         1000\n  Queries completed:    990 (99.00%)\n  \
                    Queries lost:         10 (1.00%)\n\n  Queries per second:   330.5\n\n  \
                    Average Latency (s):  0.000120 (min 0.000010, max 0.002000)\n";
        let m = parse(text).unwrap();
        assert_eq!((m.sent, m.completed, m.lost), (1000.0, 990.0, 10.0));
        assert_eq!(m.qps, 330.5);
        assert_eq!(m.p99, None);
        assert!((m.loss() - 0.01).abs() < 1e-12);
    }
}
