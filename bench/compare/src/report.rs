//! The figures of a benchmark, as a markdown table (with the ratios of ferrodns
//! to each peer) and as a hand-written SVG bar chart: no plotting dependency for
//! two panels of bars.
//!
//! A benchmark is `--runs` runs of the same measurements. Each figure is shown
//! as the median over the runs with the lowest and highest in parentheses (the
//! bars of the chart at the median, a whisker from lowest to highest), and both
//! the table and the chart say when, from which commit, with which versions and
//! over how many runs they were taken.

use std::fmt::Write as _;

use crate::clients::Measurement;
use crate::provenance::Provenance;

/// Everything a benchmark measured.
#[derive(Debug)]
pub(crate) struct Results {
    pub(crate) machine: String,
    pub(crate) provenance: Provenance,
    pub(crate) services: usize,
    pub(crate) step_seconds: u64,
    pub(crate) fixed_seconds: u64,
    /// The servers' names, ferrodns first.
    pub(crate) names: Vec<&'static str>,
    /// The fixed offered rate used with each client (dnsperf, queryperf).
    pub(crate) fixed_rates: [u64; 2],
    /// One entry per run.
    pub(crate) runs: Vec<Run>,
    /// The DPDK backend against testpmd, when it was measured.
    pub(crate) dpdk: Option<crate::dpdk::DpdkFigure>,
    /// The receive buffer every server's sockets started with, when the harness
    /// could set it.
    pub(crate) rcvbuf: Option<u64>,
}

/// What one run measured.
#[derive(Debug, Default)]
pub(crate) struct Run {
    /// By server (in [`Results::names`]' order), by client: dnsperf, queryperf.
    pub(crate) servers: Vec<[ClientResult; 2]>,
    pub(crate) offered: Vec<Offered>,
}

#[derive(Debug, Default)]
pub(crate) struct ClientResult {
    /// The highest step passed.
    pub(crate) max_qps: Option<u64>,
    /// True when that was the last step: the server may go higher.
    pub(crate) at_top: bool,
    /// What the client managed to send per second in the failed step.
    pub(crate) sent_rate_at_fail: Option<f64>,
    pub(crate) fixed: Option<Measurement>,
    pub(crate) cpu_us: Option<f64>,
}

/// The rate one client core offers without a limit.
#[derive(Debug)]
pub(crate) struct Offered {
    pub(crate) client: &'static str,
    pub(crate) target: &'static str,
    pub(crate) sent_per_second: f64,
    pub(crate) answered_per_second: f64,
    pub(crate) sent_per_client_cpu_second: f64,
}

/// CPU model, core count and kernel.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, Linux {}", kernel.trim())
}

/// One figure's values over the runs it was taken in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spread(Vec<f64>);

impl Spread {
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        values.sort_by(f64::total_cmp);
        Spread(values)
    }

    /// The middle value (the mean of the two middle ones for an even count).
    pub(crate) fn median(&self) -> Option<f64> {
        let n = self.0.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.0[n / 2]),
            _ => Some((self.0[n / 2 - 1] + self.0[n / 2]) / 2.0),
        }
    }

    pub(crate) fn min(&self) -> Option<f64> {
        self.0.first().copied()
    }

    pub(crate) fn max(&self) -> Option<f64> {
        self.0.last().copied()
    }

    /// `median (lowest–highest)` written by `show`; the median alone when the
    /// runs agree; a dash without values.
    pub(crate) fn show(&self, show: impl Fn(f64) -> String) -> String {
        match (self.median(), self.min(), self.max()) {
            (Some(median), Some(min), Some(max)) if show(min) != show(max) => {
                format!("{} ({}–{})", show(median), show(min), show(max))
            }
            (Some(median), _, _) => show(median),
            _ => "–".to_owned(),
        }
    }
}

impl Results {
    /// One figure of server `server` and client `client` over the runs.
    fn spread(
        &self,
        server: usize,
        client: usize,
        f: impl Fn(&ClientResult) -> Option<f64>,
    ) -> Spread {
        Spread::of(
            self.runs
                .iter()
                .filter_map(|run| run.servers.get(server))
                .filter_map(|clients| f(&clients[client])),
        )
    }

    /// Max qps of server `server` with client `client`: a step that nothing
    /// passed counts as zero.
    fn max_qps(&self, server: usize, client: usize) -> Spread {
        self.spread(server, client, |r| Some(r.max_qps.unwrap_or(0) as f64))
    }

    /// Whether every run passed the last step.
    fn always_at_top(&self, server: usize, client: usize) -> bool {
        self.runs
            .iter()
            .filter_map(|run| run.servers.get(server))
            .all(|clients| clients[client].at_top)
    }

    /// The unlimited-rate figures of `client` into `target` over the runs.
    fn offered(&self, client: &str, target: &str, f: impl Fn(&Offered) -> f64) -> Spread {
        Spread::of(
            self.runs
                .iter()
                .flat_map(|run| &run.offered)
                .filter(|o| o.client == client && o.target == target)
                .map(f),
        )
    }

    /// Date, commit, versions, machine and runs, in one sentence.
    fn provenance_line(&self) -> String {
        let runs = self.runs.len();
        format!(
            "{} ({} run{}; figures are medians, lowest–highest over the runs in parentheses)",
            self.provenance.line(),
            runs,
            if runs == 1 { "" } else { "s" }
        )
    }
}

fn kqps(value: f64) -> String {
    if value <= 0.0 {
        "< 50k".to_owned()
    } else {
        format!("{:.0}k", value / 1000.0)
    }
}

fn micros(seconds: f64) -> String {
    format!("{:.0}", seconds * 1e6)
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".to_owned(),
    }
}

/// A share as a percentage with two decimals.
fn percent(share: f64) -> String {
    format!("{:.2}%", share * 100.0)
}

/// The results as markdown.
pub(crate) fn markdown(r: &Results) -> String {
    let [dr, qr] = r.fixed_rates;
    let mut out = String::new();
    let _ = writeln!(out, "{}.\n", r.provenance_line());
    let _ = writeln!(
        out,
        "Machine: {}. Zone: {} services (2 A + 1 SRV each, a CNAME for every tenth), \
         query mix 55% A, 25% SRV, 10% CNAME→A, 10% NXDOMAIN. Servers pinned to CPU 1 \
         with one worker each, clients to CPU 0 with one thread and 4 sockets, at most \
         500 queries outstanding. Max qps: offered rate stepped (50k, 100k, …, 500k), \
         {} s per step, highest step with loss < 0.1% and ≥ 97% answered. Latency and \
         CPU: {} s at a fixed offered rate of {}k qps (dnsperf) and {}k qps (queryperf). {}\n",
        r.machine,
        r.services,
        r.step_seconds,
        r.fixed_seconds,
        dr / 1000,
        qr / 1000,
        r.rcvbuf.map_or(
            "NSD and Knot kept the kernel's default socket receive buffer (the harness could not raise it).".to_owned(),
            |b| format!("Every server's UDP sockets started with a {} MiB receive buffer.", b >> 20)
        )
    );
    let _ = writeln!(
        out,
        "| server | max qps (dnsperf) | max qps (queryperf) | p50 / p99 µs at {}k (queryperf) | \
         mean µs at {}k (dnsperf) | loss at {}k (dnsperf / queryperf) | \
         server CPU µs/answer at {}k (dnsperf) | server CPU µs/answer at {}k (queryperf) |",
        qr / 1000,
        dr / 1000,
        dr / 1000,
        dr / 1000,
        qr / 1000
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for (s, name) in r.names.iter().enumerate() {
        let max = |c: usize| {
            let cell = r.max_qps(s, c).show(kqps);
            if r.always_at_top(s, c) {
                format!("≥ {cell}")
            } else {
                cell
            }
        };
        let fixed = |c: usize, f: fn(&Measurement) -> Option<f64>| {
            r.spread(s, c, |res| res.fixed.as_ref().and_then(f))
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} / {} | {} | {} / {} | {} | {} |",
            max(0),
            max(1),
            fixed(1, |m| m.p50).show(micros),
            fixed(1, |m| m.p99).show(micros),
            fixed(0, |m| Some(m.avg_latency)).show(micros),
            fixed(0, |m| Some(m.loss())).show(percent),
            fixed(1, |m| Some(m.loss())).show(percent),
            r.spread(s, 0, |res| res.cpu_us).show(|c| format!("{c:.2}")),
            r.spread(s, 1, |res| res.cpu_us).show(|c| format!("{c:.2}")),
        );
    }
    let _ = writeln!(out);
    for (peer, name) in r.names.iter().enumerate().skip(1) {
        let max = |s: usize, c: usize| r.max_qps(s, c).median();
        let cpu = |s: usize, c: usize| r.spread(s, c, |res| res.cpu_us).median();
        let _ = writeln!(
            out,
            "- {}/{name}: max qps ×{} (dnsperf), ×{} (queryperf); CPU per answer ×{} (dnsperf), ×{} (queryperf)",
            r.names[0],
            ratio(max(0, 0), max(peer, 0)),
            ratio(max(0, 1), max(peer, 1)),
            ratio(cpu(0, 0), cpu(peer, 0)),
            ratio(cpu(0, 1), cpu(peer, 1)),
        );
    }
    for (s, name) in r.names.iter().enumerate() {
        for (c, client) in ["dnsperf", "queryperf"].iter().enumerate() {
            let sent = r.spread(s, c, |res| res.sent_rate_at_fail).median();
            let max = r.max_qps(s, c).median();
            if let (Some(sent), Some(max)) = (sent, max) {
                let step = crate::STEPS
                    .iter()
                    .find(|&&x| x as f64 > max)
                    .copied()
                    .unwrap_or(max as u64);
                if sent < 0.97 * step as f64 {
                    // With at most 500 queries outstanding the client sends as fast
                    // as answers free slots, up to what it can send at all: the
                    // most it sent in the unlimited runs says which bound this was.
                    let own_limit = r
                        .runs
                        .iter()
                        .flat_map(|run| &run.offered)
                        .filter(|o| o.client == *client)
                        .map(|o| o.sent_per_second)
                        .fold(0.0, f64::max);
                    let limit = if own_limit < 0.97 * step as f64 {
                        "the client's own limit"
                    } else {
                        "the server's answer rate"
                    };
                    let _ = writeln!(
                        out,
                        "- {name} with {client}: at the failed {}k step only {:.0}k/s were sent; {client} \
                         sends at most {:.0}k/s unlimited, so {limit} held it back",
                        step / 1000,
                        sent / 1000.0,
                        own_limit / 1000.0
                    );
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\nOne client thread, no rate limit ({} s):\n\n| client | target | sent/s | answered/s | sent per client CPU second |\n|---|---|---|---|---|",
        r.step_seconds
    );
    let thousands = |v: f64| format!("{:.0}k", v / 1000.0);
    if let Some(first) = r.runs.first() {
        for o in &first.offered {
            let spread = |f: fn(&Offered) -> f64| r.offered(o.client, o.target, f).show(thousands);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                o.client,
                o.target,
                spread(|o| o.sent_per_second),
                spread(|o| o.answered_per_second),
                spread(|o| o.sent_per_client_cpu_second),
            );
        }
    }
    if let Some(d) = &r.dpdk {
        let _ = writeln!(
            out,
            "\nDPDK backend, one polling core, pcap replay (`net_pcap0,rx_pcap=<queries>,infinite_rx=1`, \
             transmitted frames dropped; bench/dpdk; one run):\n\n| program | Mpps | ns per packet |\n|---|---|---|\n\
             | `dpdk-testpmd --forward-mode=macswap` | {:.2} | {:.1} |\n\
             | ferrodns answering every query | {:.2} | {:.1} |\n\n- ferrodns/testpmd: ×{:.2}",
            d.testpmd_mpps,
            1e3 / d.testpmd_mpps,
            d.ferrodns_mpps,
            1e3 / d.ferrodns_mpps,
            d.ferrodns_mpps / d.testpmd_mpps
        );
    }
    out
}

const COLORS: [&str; 3] = ["#d9480f", "#1971c2", "#2f9e44"];

/// `text` with XML's special characters escaped, for SVG text content.
fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One panel of grouped bars: `groups` of (label, one spread per server), each
/// a bar at its median with a whisker from its lowest to its highest value.
fn panel(x0: f64, title: &str, unit: &str, groups: &[(&str, Vec<Spread>)]) -> String {
    let (width, top, bottom) = (400.0, 70.0, 280.0);
    let max = groups
        .iter()
        .flat_map(|(_, v)| v.iter().filter_map(Spread::max))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let y = |value: f64| bottom - (bottom - top) * value / max;
    let mut svg = format!(
        "<text x=\"{:.0}\" y=\"48\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n\
         <line x1=\"{:.0}\" y1=\"{bottom}\" x2=\"{:.0}\" y2=\"{bottom}\" stroke=\"#333\"/>\n",
        x0 + width / 2.0,
        x0 + 20.0,
        x0 + width - 10.0,
        title = xml_text(title)
    );
    let group_width = (width - 40.0) / groups.len().max(1) as f64;
    for (g, (label, spreads)) in groups.iter().enumerate() {
        let gx = x0 + 30.0 + g as f64 * group_width;
        let bar = (group_width - 20.0) / spreads.len().max(1) as f64;
        for (i, spread) in spreads.iter().enumerate() {
            let v = spread.median().unwrap_or(0.0);
            let x = gx + i as f64 * bar;
            let middle = x + (bar - 4.0) / 2.0;
            let high = spread.max().unwrap_or(v);
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>\n\
                 <line x1=\"{middle:.1}\" y1=\"{:.1}\" x2=\"{middle:.1}\" y2=\"{:.1}\" stroke=\"#222\"/>\n\
                 <text x=\"{middle:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
                y(v),
                bar - 4.0,
                bottom - y(v),
                COLORS[i % COLORS.len()],
                y(spread.min().unwrap_or(v)),
                y(high),
                y(high) - 4.0,
                if v >= 100.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.2}")
                }
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.0}\" text-anchor=\"middle\" font-size=\"12\">{label}</text>",
            gx + (group_width - 20.0) / 2.0,
            bottom + 18.0,
            label = xml_text(label)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555\">{unit}</text>",
        x0 + width / 2.0,
        bottom + 38.0,
        unit = xml_text(unit)
    );
    svg
}

/// Max qps and CPU per answer as an SVG chart, headed by when, from what and
/// over how many runs.
pub(crate) fn svg(r: &Results) -> String {
    let by_client = |c: usize, f: &dyn Fn(&ClientResult) -> Option<f64>| -> Vec<Spread> {
        (0..r.names.len()).map(|s| r.spread(s, c, f)).collect()
    };
    let kqps = |c: &ClientResult| Some(c.max_qps.unwrap_or(0) as f64 / 1000.0);
    let cpu = |c: &ClientResult| c.cpu_us;
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"360\" \
         font-family=\"sans-serif\">\n<rect width=\"820\" height=\"360\" fill=\"white\"/>\n",
    );
    let runs = r.runs.len();
    let _ = writeln!(
        svg,
        "<text x=\"410\" y=\"16\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">{}</text>\n\
         <text x=\"410\" y=\"30\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">{}; \
         {runs} run{}: bars at the median, whiskers from lowest to highest</text>",
        xml_text(&r.provenance.line()),
        xml_text(&r.machine),
        if runs == 1 { "" } else { "s" }
    );
    svg.push_str(&panel(
        0.0,
        "max qps, loss < 0.1% (k)",
        "thousand queries/s, higher is better",
        &[
            ("dnsperf", by_client(0, &kqps)),
            ("queryperf", by_client(1, &kqps)),
        ],
    ));
    let [dr, qr] = r.fixed_rates;
    let dnsperf_label = format!("dnsperf @{}k", dr / 1000);
    let queryperf_label = format!("queryperf @{}k", qr / 1000);
    svg.push_str(&panel(
        410.0,
        "server CPU per answer (µs)",
        "µs of server CPU per answered query, lower is better",
        &[
            (&dnsperf_label, by_client(0, &cpu)),
            (&queryperf_label, by_client(1, &cpu)),
        ],
    ));
    for (i, name) in r.names.iter().enumerate() {
        let x = 300 + i * 90;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"338\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"347\" font-size=\"12\">{}</text>",
            COLORS[i % COLORS.len()],
            x + 14,
            xml_text(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two servers measured in `runs` runs; ferrodns's max qps rises by 50k
    /// and its CPU per answer by 0.2 µs from one run to the next.
    fn results_over(runs: u64) -> Results {
        let server = |qps: u64, cpu: f64| {
            [
                ClientResult {
                    max_qps: Some(qps),
                    cpu_us: Some(cpu),
                    ..ClientResult::default()
                },
                ClientResult::default(),
            ]
        };
        Results {
            machine: "test".to_owned(),
            provenance: Provenance {
                date: "2026-12-08".to_owned(),
                commit: "1a2b3c4".to_owned(),
                versions: vec![
                    ("ferrodns", "0.1.0".to_owned()),
                    ("NSD", "4.6.1".to_owned()),
                ],
            },
            services: 10,
            step_seconds: 1,
            fixed_seconds: 1,
            names: vec!["ferrodns", "NSD"],
            fixed_rates: [100_000, 100_000],
            runs: (0..runs)
                .map(|i| Run {
                    servers: vec![
                        server(300_000 + 50_000 * i, 4.4 + 0.2 * i as f64),
                        server(250_000, 5.0),
                    ],
                    offered: Vec::new(),
                })
                .collect(),
            dpdk: None,
            rcvbuf: None,
        }
    }

    fn results() -> Results {
        results_over(1)
    }

    #[test]
    fn figures_show_the_median_and_the_spread_of_the_runs() {
        let markdown = markdown(&results_over(3));
        assert!(
            markdown.starts_with(
                "2026-12-08, commit 1a2b3c4; ferrodns 0.1.0, NSD 4.6.1 (3 runs; figures are medians"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("| ferrodns | 350k (300k–400k) | < 50k |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| NSD | 250k | < 50k |"),
            "runs that agree: {markdown}"
        );
        assert!(markdown.contains("| 4.60 (4.40–4.80) |"), "{markdown}");
        assert!(
            markdown.contains("max qps ×1.40 (dnsperf)"),
            "ratios of medians: {markdown}"
        );
        let svg = svg(&results_over(3));
        assert!(
            svg.contains("commit 1a2b3c4") && svg.contains("3 runs"),
            "{svg}"
        );
        assert_eq!(Spread::of([2.0, 1.0, 4.0, 3.0]).median(), Some(2.5));
        assert_eq!(Spread::of([]).show(|v| v.to_string()), "–");
    }

    #[test]
    fn the_chart_is_well_formed_xml() {
        // Every `<` opens a tag and every `&` an entity: the "loss < 0.1%"
        // title once made browsers refuse the whole file.
        let svg = svg(&results());
        for (i, _) in svg.match_indices('<') {
            let tag = &svg[i + 1..];
            assert!(
                ["svg", "/svg", "rect", "text", "/text", "line"]
                    .iter()
                    .any(|t| tag.starts_with(t)),
                "a bare `<` at {i}: {}",
                &svg[i..(i + 30).min(svg.len())]
            );
        }
        for (i, _) in svg.match_indices('&') {
            let entity = &svg[i..];
            assert!(
                ["&lt;", "&gt;", "&amp;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "a bare `&` at {i}"
            );
        }
        assert!(svg.contains("loss &lt; 0.1%"), "{svg}");
    }
}
