//! Log lines on stderr, in the configured format.
//!
//! Text lines carry ANSI colours only when stderr is a terminal: redirected to
//! a file or a pipe they are plain. Under systemd, whose journal stamps every
//! line itself, stderr is the journal's stream (`JOURNAL_STREAM` names its
//! device and inode), and the lines leave out their own timestamp. JSON lines
//! (`log.format = "json"`) are one object per event with its fields, for log
//! collectors; they always carry a timestamp.

use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Sends log lines to stderr, filtered by `filter` (tracing's `EnvFilter`
/// syntax, already validated with the configuration) and written as `format`
/// says.
pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => {
            let builder = builder.with_ansi(std::io::stderr().is_terminal());
            if stderr_is_the_journal() {
                builder.without_time().init();
            } else {
                builder.init();
            }
        }
    }
}

/// Whether stderr is the stream systemd's journal reads: `JOURNAL_STREAM` is
/// `DEVICE:INODE` of that stream, and it is inherited by children whose stderr
/// may go elsewhere, hence the comparison.
fn stderr_is_the_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stderr) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    stream == format!("{}:{}", stderr.dev(), stderr.ino())
}
