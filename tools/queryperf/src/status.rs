//! Where queryperf's lines go, in dnsperf's shape: its banner and `[Status]`
//! lines, `-v`'s line per query and `-S`'s interval lines on standard output
//! (so scripts written for dnsperf's output read queryperf's), errors and
//! warnings on standard error (on standard output with `-W`, as dnsperf does).
//! With `--json` standard output carries the JSON object alone, so everything
//! else goes to standard error.

use std::time::SystemTime;

/// The output streams of a run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Console {
    /// `--json`: standard output is for the JSON object only.
    pub(crate) json: bool,
    /// `-W`: warnings and errors to standard output.
    pub(crate) warnings_to_stdout: bool,
}

impl Console {
    /// A line of the run's narrative (banner, `[Status]`, `-v`, `-S`).
    pub(crate) fn line(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    /// A `[Status]` line.
    pub(crate) fn status(&self, text: &str) {
        self.line(&format!("[Status] {text}"));
    }

    /// A `-v` line about one query.
    pub(crate) fn verbose(&self, text: &str) {
        self.line(text);
    }

    /// A warning or error.
    pub(crate) fn warn(&self, text: &str) {
        if self.warnings_to_stdout && !self.json {
            println!("{text}");
        } else {
            eprintln!("{text}");
        }
    }

    /// dnsperf's banner: the tool and its version, then a blank line.
    pub(crate) fn banner(&self) {
        self.line("DNS Performance Testing Tool (queryperf)");
        self.line(&format!("Version {}\n", env!("CARGO_PKG_VERSION")));
    }
}

/// `[Status] Stopping after ...`: the limits of the run, in dnsperf's words.
pub(crate) fn stopping_after(seconds: Option<f64>, runs: Option<u64>) -> String {
    let runs_text = |n: u64| {
        let plural = if n == 1 { "" } else { "s" };
        format!("{n} run{plural} through file")
    };
    match (seconds, runs) {
        (Some(s), Some(n)) => format!("Stopping after {s:.6} seconds or {}", runs_text(n)),
        (Some(s), None) => format!("Stopping after {s:.6} seconds"),
        (None, n) => format!("Stopping after {}", runs_text(n.unwrap_or(1))),
    }
}

/// A time as C's `ctime` writes it, in UTC: `Tue Dec  8 00:44:37 2026`. The
/// calendar is httpdate's (`Tue, 08 Dec 2026 00:44:37 GMT`), its fields put in
/// ctime's order.
pub(crate) fn ctime(time: SystemTime) -> String {
    let http = httpdate::fmt_http_date(time);
    let fields: Vec<&str> = http
        .split([' ', ','])
        .filter(|field| !field.is_empty())
        .collect();
    match fields.as_slice() {
        [weekday, day, month, year, clock, _zone] => {
            let day = day.trim_start_matches('0');
            format!("{weekday} {month} {day:>2} {clock} {year}")
        }
        _ => http,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    #[test]
    fn times_read_like_ctime() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(ctime(at(0)), "Thu Jan  1 00:00:00 1970");
        // The date of a dnsperf run on the build machine.
        assert_eq!(ctime(at(1_796_689_840)), "Tue Dec  8 00:30:40 2026");
        // A leap day and the day after.
        assert_eq!(ctime(at(951_782_400)), "Tue Feb 29 00:00:00 2000");
        assert_eq!(ctime(at(951_868_800 + 3_661)), "Wed Mar  1 01:01:01 2000");
    }

    #[test]
    fn the_limits_read_like_dnsperfs() {
        assert_eq!(
            stopping_after(None, None),
            "Stopping after 1 run through file"
        );
        assert_eq!(
            stopping_after(None, Some(2)),
            "Stopping after 2 runs through file"
        );
        assert_eq!(
            stopping_after(Some(3.0), None),
            "Stopping after 3.000000 seconds"
        );
        assert_eq!(
            stopping_after(Some(2.0), Some(3)),
            "Stopping after 2.000000 seconds or 3 runs through file"
        );
    }
}
