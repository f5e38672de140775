//! Families of samples written with prometheus-client's encoder.
//!
//! Most figures are read at scrape time from atomics the rest of the process
//! keeps (the poll loops' counters, the forwarder's, the budgets'), not from
//! metric objects registered once: a scrape takes a snapshot ([`super::Stats`])
//! and hands it to prometheus-client as a `Collector`, which writes each family
//! through [`Families`]. prometheus-client does the exposition format (names,
//! `# HELP` and `# TYPE` lines, label escaping, number formatting); this file
//! only says which samples each family has.
//!
//! A counter's name is given whole (`ferrodns_queries_total`, as it is queried
//! and documented); the `_total` suffix is taken off for prometheus-client,
//! which adds it back.

use std::fmt;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The labels of one sample, in the order they are written.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// One label.
pub(crate) fn label(name: &'static str, value: impl ToString) -> Labels {
    vec![(name, value.to_string())]
}

/// Writes families into one scrape.
#[derive(Debug)]
pub(crate) struct Families<'a> {
    encoder: DescriptorEncoder<'a>,
}

impl<'a> Families<'a> {
    pub(crate) fn new(encoder: DescriptorEncoder<'a>) -> Families<'a> {
        Families { encoder }
    }

    /// A counter family; `name` ends in `_total`.
    pub(crate) fn counter<N: EncodeCounterValue>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, N)>,
    ) -> fmt::Result {
        let base = name.strip_suffix("_total").unwrap_or(name);
        self.family(
            base,
            help,
            MetricType::Counter,
            samples
                .into_iter()
                .map(|(labels, value)| (labels, ConstCounter::new(value))),
        )
    }

    /// A gauge family.
    pub(crate) fn gauge<N: EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, N)>,
    ) -> fmt::Result {
        self.family(
            name,
            help,
            MetricType::Gauge,
            samples
                .into_iter()
                .map(|(labels, value)| (labels, ConstGauge::new(value))),
        )
    }

    /// A counter without labels.
    pub(crate) fn plain_counter<N: EncodeCounterValue>(
        &mut self,
        name: &str,
        help: &str,
        value: N,
    ) -> fmt::Result {
        self.counter(name, help, [(Labels::new(), value)])
    }

    /// A gauge without labels.
    pub(crate) fn plain_gauge<N: EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        value: N,
    ) -> fmt::Result {
        self.gauge(name, help, [(Labels::new(), value)])
    }

    /// A metric that encodes itself (a histogram family).
    pub(crate) fn metric(
        &mut self,
        name: &str,
        help: &str,
        metric: &impl EncodeMetric,
    ) -> fmt::Result {
        let encoder = self
            .encoder
            .encode_descriptor(name, help, None, metric.metric_type())?;
        metric.encode(encoder)
    }

    fn family<M: EncodeMetric>(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        samples: impl IntoIterator<Item = (Labels, M)>,
    ) -> fmt::Result {
        let mut metric = self.encoder.encode_descriptor(name, help, None, kind)?;
        for (labels, value) in samples {
            value.encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::prometheus_text::encode;
    use prometheus_client::registry::Registry;

    use super::*;

    #[derive(Debug)]
    struct Sample;

    impl Collector for Sample {
        fn encode(&self, encoder: DescriptorEncoder<'_>) -> fmt::Result {
            let mut families = Families::new(encoder);
            families.counter(
                "x_queries_total",
                "Queries.",
                [(label("rcode", "NOERROR"), 3u64)],
            )?;
            families.plain_gauge("x_names", "Names.", 2u64)?;
            families.gauge("x_up", "Up.", [(label("source", "a\"b"), 1.5f64)])
        }
    }

    #[test]
    fn families_are_written_in_the_text_format_with_their_whole_names() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Sample));
        let mut text = String::new();
        assert!(encode(&mut text, &registry).is_ok());
        assert_eq!(
            text,
            "# HELP x_queries_total Queries.\n\
             # TYPE x_queries_total counter\n\
             x_queries_total{rcode=\"NOERROR\"} 3\n\
             # HELP x_names Names.\n\
             # TYPE x_names gauge\n\
             x_names 2\n\
             # HELP x_up Up.\n\
             # TYPE x_up gauge\n\
             x_up{source=\"a\\\"b\"} 1.5\n"
        );
    }
}
