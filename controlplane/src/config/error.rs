//! What a rejected configuration says: where the bad value came from and why.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a rejected value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    CommandLine,
    /// A position in the config file; `line` and `column` count from 1 (columns in
    /// characters). `None` when the TOML parser gave no position.
    File {
        path: PathBuf,
        position: Option<(usize, usize)>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::CommandLine => f.write_str("command line"),
            Location::File {
                path,
                position: Some((line, column)),
            } => write!(f, "{}:{line}:{column}", path.display()),
            Location::File {
                path,
                position: None,
            } => write!(f, "{}", path.display()),
        }
    }
}

/// Why the configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// TOML syntax error, unknown key, wrong type or missing key.
    #[error("{at}: {message}{}", quote_line(excerpt))]
    Toml {
        at: Location,
        message: String,
        /// The offending line of the file, to show which key it is about.
        excerpt: Option<String>,
    },
    /// A well-formed value that is not acceptable. `key` is the file key
    /// (`server.listen`) or the flag (`--listen`); `value` as the operator wrote it.
    #[error("{}", describe_invalid(at, key, value, reason))]
    Invalid {
        at: Location,
        key: String,
        value: String,
        reason: String,
    },
    /// More than one of the above, in the order the sections are read; each
    /// on its own line.
    #[error("{} errors:\n{}", .0.len(), list(.0))]
    Several(Vec<ConfigError>),
}

fn list(errors: &[ConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    lines.join("\n")
}

fn quote_line(excerpt: &Option<String>) -> String {
    match excerpt {
        Some(text) => format!(" (in `{text}`)"),
        None => String::new(),
    }
}

fn describe_invalid(at: &Location, key: &str, value: &str, reason: &str) -> String {
    match at {
        Location::CommandLine => format!("{key} {value}: {reason}"),
        Location::File { .. } => format!("{at}: {key} = {value}: {reason}"),
    }
}
