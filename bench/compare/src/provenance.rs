//! Where a run's figures come from: the date, the commit the harness was built
//! from, and the version of every program measured or measuring, asked of the
//! programs themselves. A figure without them cannot be compared with a later
//! one.

use std::path::Path;
use std::process::Command;

/// The date, commit and versions of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provenance {
    /// `YYYY-MM-DD`, UTC.
    pub(crate) date: String,
    /// The short commit of the repository, `-dirty` when it had changes.
    pub(crate) commit: String,
    /// (program, version) of each program, in a fixed order.
    pub(crate) versions: Vec<(&'static str, String)>,
}

impl Provenance {
    /// Asks the system, git and each program; what cannot be found reads
    /// `unknown`.
    pub(crate) fn gather(ferrodns: &Path, queryperf: &Path) -> Provenance {
        let ferrodns = ferrodns.display().to_string();
        let queryperf = queryperf.display().to_string();
        let dirty = !output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
        let commit = match output("git", &["rev-parse", "--short", "HEAD"]).trim() {
            "" => "unknown".to_owned(),
            hash if dirty => format!("{hash}-dirty"),
            hash => hash.to_owned(),
        };
        let versions = [
            ("ferrodns", output(&ferrodns, &["--version"])),
            ("NSD", output("nsd", &["-v"])),
            ("Knot DNS", output("knotd", &["--version"])),
            ("dnsperf", output("dnsperf", &["-h"])),
            ("queryperf", output(&queryperf, &["--version"])),
        ]
        .into_iter()
        .map(|(name, text)| (name, version(&text).unwrap_or_else(|| "unknown".to_owned())))
        .collect();
        Provenance {
            date: output("date", &["-u", "+%F"]).trim().to_owned(),
            commit,
            versions,
        }
    }

    /// One line: `2026-12-08, commit 1a2b3c4; ferrodns 0.1.0, NSD 4.6.1, ...`.
    pub(crate) fn line(&self) -> String {
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(name, version)| format!("{name} {version}"))
            .collect();
        format!(
            "{}, commit {}; {}",
            self.date,
            self.commit,
            versions.join(", ")
        )
    }
}

/// What `program args` printed on either stream, whatever its status (`nsd -v`
/// and `dnsperf -h` print their versions on standard error and exit non-zero).
fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            text
        })
        .unwrap_or_default()
}

/// The first word that looks like a version (digits and dots, at least one
/// dot) in a program's version text.
fn version(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .map(|word| word.trim_start_matches('v'))
        .find(|word| {
            word.contains('.')
                && word.chars().next().is_some_and(|c| c.is_ascii_digit())
                && word.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_the_programs_print() {
        assert_eq!(version("ferrodns 0.1.0\n").as_deref(), Some("0.1.0"));
        assert_eq!(
            version("NSD version 4.6.1\nWritten by NLnet Labs.\n").as_deref(),
            Some("4.6.1")
        );
        assert_eq!(
            version("knotd (Knot DNS), version 3.2.6\n").as_deref(),
            Some("3.2.6")
        );
        let dnsperf = "Usage: dnsperf [-f family]\n  -y the TSIG algorithm\nDNS Performance Testing Tool\nVersion 2.10.0\n";
        assert_eq!(version(dnsperf).as_deref(), Some("2.10.0"));
        assert_eq!(version("no version here"), None);
    }

    #[test]
    fn the_line_names_date_commit_and_every_program() {
        let p = Provenance {
            date: "2026-12-08".to_owned(),
            commit: "1a2b3c4".to_owned(),
            versions: vec![
                ("ferrodns", "0.1.0".to_owned()),
                ("NSD", "4.6.1".to_owned()),
            ],
        };
        assert_eq!(
            p.line(),
            "2026-12-08, commit 1a2b3c4; ferrodns 0.1.0, NSD 4.6.1"
        );
    }
}
