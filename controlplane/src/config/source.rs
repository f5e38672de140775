//! The config file being merged: its path and text, to turn the spans of the
//! parsed values into `FILE:LINE:COLUMN`, and its directory, the base of the
//! relative paths written in it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Location};

/// The config file: where it is and what it says.
pub(super) struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    /// Absolute directory of the file, base of relative paths inside it.
    pub(super) dir: PathBuf,
}

impl<'a> Source<'a> {
    pub(super) fn new(path: &'a Path, text: &'a str) -> Result<Self, ConfigError> {
        let absolute = std::path::absolute(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = absolute.parent().map(Path::to_owned).unwrap_or_default();
        Ok(Source { path, text, dir })
    }

    /// Where the value spanning `span` stands.
    pub(super) fn at(&self, span: Range<usize>) -> Location {
        Location::File {
            path: self.path.to_owned(),
            position: Some(line_column(self.text, span.start)),
        }
    }

    /// A parse error, at its position and with the line it is on.
    pub(super) fn toml_error(&self, error: &toml::de::Error) -> ConfigError {
        let (at, excerpt) = match error.span() {
            Some(span) => {
                let (line, _) = line_column(self.text, span.start);
                let text = self.text.lines().nth(line - 1).map(|l| l.trim().to_owned());
                (self.at(span), text.filter(|l| !l.is_empty()))
            }
            None => (
                Location::File {
                    path: self.path.to_owned(),
                    position: None,
                },
                None,
            ),
        };
        ConfigError::Toml {
            at,
            message: error.message().trim_end().to_owned(),
            excerpt,
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}
