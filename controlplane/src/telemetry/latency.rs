//! How long answers take, as histograms: DNS over TCP (from a whole query read
//! to its answer handed to the socket) and forwarded answers (from the
//! forwarder taking the query to its answer ready, whether from the cache or
//! from an upstream, for UDP and TCP alike).
//!
//! The UDP poll loops are not timed: they answer in batches, never wait, and
//! reading a clock per query would cost them more than the answer; their
//! latency is the batch's, which `ferrodns_core_*` and load tests show.
//! Observations take prometheus-client's lock per histogram, which the TCP
//! listener and the forwarder (both on tokio) can afford.

use std::time::Duration;

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// Bucket bounds in seconds: 50 µs to about 3.3 s, doubling.
const BUCKETS: [f64; 17] = [
    0.000_05, 0.000_1, 0.000_2, 0.000_4, 0.000_8, 0.001_6, 0.003_2, 0.006_4, 0.012_8, 0.025_6,
    0.051_2, 0.102_4, 0.204_8, 0.409_6, 0.819_2, 1.638_4, 3.276_8,
];

/// Which answers a latency is of.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum LatencyPath {
    /// A local answer over TCP.
    Tcp,
    /// A forwarded answer from the cache.
    ForwardCache,
    /// A forwarded answer that went to an upstream (or failed to: SERVFAIL).
    ForwardUpstream,
}

impl LatencyPath {
    /// The `path` label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyPath::Tcp => "tcp",
            LatencyPath::ForwardCache => "forward_cache",
            LatencyPath::ForwardUpstream => "forward_upstream",
        }
    }
}

impl EncodeLabelValue for LatencyPath {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PathLabel {
    path: LatencyPath,
}

/// The histograms, cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct AnswerLatency {
    family: Family<PathLabel, Histogram, fn() -> Histogram>,
}

impl Default for AnswerLatency {
    fn default() -> Self {
        AnswerLatency {
            family: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
        }
    }
}

impl AnswerLatency {
    /// Notes one answer of `path` that took `took`.
    pub fn observe(&self, path: LatencyPath, took: Duration) {
        self.family
            .get_or_create(&PathLabel { path })
            .observe(took.as_secs_f64());
    }

    /// The histograms, for the exposition.
    pub(crate) fn family(&self) -> &Family<PathLabel, Histogram, fn() -> Histogram> {
        &self.family
    }
}
