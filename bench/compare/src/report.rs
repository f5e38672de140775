//! The figures of a run, as a markdown table (with the ratios of ferrodns to each
//! peer) and as a hand-written SVG bar chart: no plotting dependency for two
//! panels of bars.

use std::fmt::Write as _;

use crate::clients::Measurement;

/// Everything one run measured.
#[derive(Debug)]
pub(crate) struct Results {
    pub(crate) machine: String,
    pub(crate) services: usize,
    pub(crate) step_seconds: u64,
    pub(crate) fixed_seconds: u64,
    /// ferrodns first, then the peers.
    pub(crate) servers: Vec<ServerResult>,
    /// The fixed offered rate used with each client (dnsperf, queryperf).
    pub(crate) fixed_rates: [u64; 2],
    pub(crate) offered: Vec<Offered>,
    /// The DPDK backend against testpmd, when it was measured.
    pub(crate) dpdk: Option<crate::dpdk::DpdkFigure>,
    /// The receive buffer every server's sockets started with, when the harness
    /// could set it.
    pub(crate) rcvbuf: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct ServerResult {
    pub(crate) name: &'static str,
    /// By client: dnsperf, queryperf.
    pub(crate) clients: [ClientResult; 2],
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

fn qps(result: &ClientResult) -> String {
    match result.max_qps {
        Some(q) if result.at_top => format!("≥ {}k", q / 1000),
        Some(q) => format!("{}k", q / 1000),
        None => "< 50k".to_owned(),
    }
}

fn micros(seconds: Option<f64>) -> String {
    seconds.map_or("–".to_owned(), |s| format!("{:.0}", s * 1e6))
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".to_owned(),
    }
}

/// A share as a percentage with two decimals, or a dash.
fn percent(share: Option<f64>) -> String {
    share.map_or("–".to_owned(), |s| format!("{:.2}%", s * 100.0))
}

/// The results as markdown.
pub(crate) fn markdown(r: &Results) -> String {
    let [dr, qr] = r.fixed_rates;
    let mut out = String::new();
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
    for s in &r.servers {
        let [d, q] = &s.clients;
        let qf = q.fixed.unwrap_or_default();
        let df = d.fixed.unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} / {} | {} | {} / {} | {} | {} |",
            s.name,
            qps(d),
            qps(q),
            micros(qf.p50),
            micros(qf.p99),
            micros(Some(df.avg_latency)),
            percent(d.fixed.map(|m| m.loss())),
            percent(q.fixed.map(|m| m.loss())),
            d.cpu_us.map_or("–".to_owned(), |c| format!("{c:.2}")),
            q.cpu_us.map_or("–".to_owned(), |c| format!("{c:.2}")),
        );
    }
    let _ = writeln!(out);
    if let Some((ours, peers)) = r.servers.split_first() {
        for peer in peers {
            let max = |s: &ServerResult, c: usize| s.clients[c].max_qps.map(|q| q as f64);
            let cpu = |s: &ServerResult, c: usize| s.clients[c].cpu_us;
            let _ = writeln!(
                out,
                "- {}/{}: max qps ×{} (dnsperf), ×{} (queryperf); CPU per answer ×{} (dnsperf), ×{} (queryperf)",
                ours.name,
                peer.name,
                ratio(max(ours, 0), max(peer, 0)),
                ratio(max(ours, 1), max(peer, 1)),
                ratio(cpu(ours, 0), cpu(peer, 0)),
                ratio(cpu(ours, 1), cpu(peer, 1)),
            );
        }
    }
    for s in &r.servers {
        for (c, client) in ["dnsperf", "queryperf"].iter().enumerate() {
            if let (Some(sent), Some(max)) = (s.clients[c].sent_rate_at_fail, s.clients[c].max_qps)
            {
                let step = crate::STEPS
                    .iter()
                    .find(|&&x| x > max)
                    .copied()
                    .unwrap_or(max);
                if sent < 0.97 * step as f64 {
                    // With at most 500 queries outstanding the client sends as fast
                    // as answers free slots, up to what it can send at all: the
                    // most it sent in the unlimited runs says which bound this was.
                    let own_limit = r
                        .offered
                        .iter()
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
                        "- {} with {client}: at the failed {}k step only {:.0}k/s were sent; {client} \
                         sends at most {:.0}k/s unlimited, so {limit} held it back",
                        s.name,
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
    for o in &r.offered {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0}k | {:.0}k | {:.0}k |",
            o.client,
            o.target,
            o.sent_per_second / 1000.0,
            o.answered_per_second / 1000.0,
            o.sent_per_client_cpu_second / 1000.0
        );
    }
    if let Some(d) = &r.dpdk {
        let _ = writeln!(
            out,
            "\nDPDK backend, one polling core, pcap replay (`net_pcap0,rx_pcap=<queries>,infinite_rx=1`, \
             transmitted frames dropped; bench/dpdk):\n\n| program | Mpps | ns per packet |\n|---|---|---|\n\
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

/// One panel of grouped bars: `groups` of (label, one value per server).
fn panel(x0: f64, title: &str, unit: &str, groups: &[(&str, Vec<f64>)]) -> String {
    let (width, height, top, bottom) = (400.0, 300.0, 50.0, 260.0);
    let max = groups
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let mut svg = format!(
        "<text x=\"{:.0}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n\
         <line x1=\"{:.0}\" y1=\"{bottom}\" x2=\"{:.0}\" y2=\"{bottom}\" stroke=\"#333\"/>\n",
        x0 + width / 2.0,
        x0 + 20.0,
        x0 + width - 10.0,
        title = xml_text(title)
    );
    let group_width = (width - 40.0) / groups.len().max(1) as f64;
    for (g, (label, values)) in groups.iter().enumerate() {
        let gx = x0 + 30.0 + g as f64 * group_width;
        let bar = (group_width - 20.0) / values.len().max(1) as f64;
        for (i, v) in values.iter().enumerate() {
            let h = (bottom - top) * v / max;
            let x = gx + i as f64 * bar;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
                bottom - h,
                bar - 4.0,
                COLORS[i % COLORS.len()],
                x + (bar - 4.0) / 2.0,
                bottom - h - 4.0,
                if *v >= 100.0 {
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
        height - 2.0,
        unit = xml_text(unit)
    );
    svg
}

/// Max qps and CPU per answer as an SVG chart.
pub(crate) fn svg(r: &Results) -> String {
    let by_client = |c: usize, f: &dyn Fn(&ClientResult) -> f64| -> Vec<f64> {
        r.servers.iter().map(|s| f(&s.clients[c])).collect()
    };
    let kqps = |c: &ClientResult| c.max_qps.unwrap_or(0) as f64 / 1000.0;
    let cpu = |c: &ClientResult| c.cpu_us.unwrap_or(0.0);
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"340\" \
         font-family=\"sans-serif\">\n<rect width=\"820\" height=\"340\" fill=\"white\"/>\n",
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
    for (i, s) in r.servers.iter().enumerate() {
        let x = 300 + i * 90;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"318\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"327\" font-size=\"12\">{}</text>",
            COLORS[i % COLORS.len()],
            x + 14,
            xml_text(s.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Results {
        let server = |name| ServerResult {
            name,
            clients: [
                ClientResult {
                    max_qps: Some(300_000),
                    cpu_us: Some(4.4),
                    ..ClientResult::default()
                },
                ClientResult::default(),
            ],
        };
        Results {
            machine: "test".to_owned(),
            services: 10,
            step_seconds: 1,
            fixed_seconds: 1,
            servers: vec![server("ferrodns"), server("NSD")],
            fixed_rates: [100_000, 100_000],
            offered: Vec::new(),
            dpdk: None,
            rcvbuf: None,
        }
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
