//! The DPDK figure: runs bench/dpdk's `dpdk-vs-testpmd` (which replays one
//! capture through the pcap driver to `dpdk-testpmd` macswap and then to
//! ferrodns's DPDK backend, one core each) and reads the two rates it prints.

use std::path::Path;
use std::process::Command;

use crate::BenchError;

/// Frames per second through one polling core, in millions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DpdkFigure {
    pub(crate) testpmd_mpps: f64,
    pub(crate) ferrodns_mpps: f64,
}

/// Runs `bench` for `seconds` per program.
pub(crate) fn run(bench: &Path, seconds: u64) -> Result<DpdkFigure, BenchError> {
    let program = bench.display().to_string();
    let output = Command::new(bench)
        .args(["--seconds", &seconds.to_string()])
        .output()
        .map_err(|source| BenchError::Spawn {
            program: program.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(BenchError::Failed {
            program,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// Reads `dpdk-testpmd macswap:  33.30 Mpps (...)` and
/// `ferrodns answering:    4.73 Mpps (...)`.
fn parse(stdout: &str) -> Result<DpdkFigure, BenchError> {
    let mpps = |label: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse::<f64>().ok())
            .filter(|value| *value > 0.0)
            .ok_or_else(|| BenchError::Parse(format!("no `{label} <Mpps>` line in: {stdout}")))
    };
    Ok(DpdkFigure {
        testpmd_mpps: mpps("dpdk-testpmd macswap:")?,
        ferrodns_mpps: mpps("ferrodns answering:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_rates_are_read_from_the_bench_output() {
        let out = "one polling core, 4096 query frames over 1000 names, 5 s per program\n\
                   dpdk-testpmd macswap:  33.30 Mpps ( 30.0 ns/packet)\n\
                   ferrodns answering:     4.73 Mpps (211.4 ns/query, 100.0 % answered)\n\
                   ratio: 0.14 (target >= 0.50)\n";
        assert_eq!(
            parse(out).unwrap(),
            DpdkFigure {
                testpmd_mpps: 33.3,
                ferrodns_mpps: 4.73
            }
        );
    }

    #[test]
    fn output_without_a_rate_is_an_error_naming_the_line() {
        let error = parse("dpdk-testpmd macswap:  33.30 Mpps\n").unwrap_err();
        assert!(error.to_string().contains("ferrodns answering:"), "{error}");
    }
}
