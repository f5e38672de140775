//! The dnsperf query file: one query per line, `name type`, e.g. `www.example.com A`,
//! read from a file (`-d`) or, as dnsperf does without `-d`, from standard input.
//!
//! Blank lines and lines starting with `;` are skipped, as dnsperf does. The type is
//! a mnemonic (`A`, `SRV`, ...) or RFC 3597's `TYPEnnn`; a missing type means `A`.
//! Each line is turned into wire format once, here, so that the send loop only
//! copies bytes and patches the ID. A line that cannot be a query is an error that
//! names the file and the line: load runs are long, and a silently skipped line
//! would skew the mix.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::query::{Name, NameError};

/// Why a query file cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum QueryFileError {
    #[error("cannot read query file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {reason}")]
    Line {
        path: PathBuf,
        line: usize,
        reason: LineError,
    },
    #[error("{path}: no queries (only blank lines and ; comments)")]
    Empty { path: PathBuf },
}

/// What is wrong with one line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LineError {
    #[error("unknown query type `{0}` (a mnemonic such as A or SRV, or TYPEnnn)")]
    UnknownType(String),
    #[error("bad name `{name}`: {source}")]
    Name { name: String, source: NameError },
    #[error("expected `name type`, found extra text `{0}`")]
    Trailing(String),
}

/// One line of the query file: the name in wire format and the query type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QuerySpec {
    pub(crate) name: Name,
    pub(crate) qtype: u16,
    /// The name and type as written, for `-v`: `www.example.com A`.
    pub(crate) text: String,
}

/// How standard input is named in errors.
const STDIN: &str = "(standard input)";

/// Reads and parses the query file at `path`, or standard input for `None`.
pub(crate) fn load(path: Option<&Path>) -> Result<Vec<QuerySpec>, QueryFileError> {
    let (path, read) = match path {
        Some(path) => (path.to_owned(), std::fs::read_to_string(path)),
        None => {
            let mut text = String::new();
            let read = std::io::stdin().read_to_string(&mut text).map(|_| text);
            (PathBuf::from(STDIN), read)
        }
    };
    let text = read.map_err(|source| QueryFileError::Read {
        path: path.clone(),
        source,
    })?;
    let path = path.as_path();
    parse(&text).map_err(|(line, reason)| match reason {
        None => QueryFileError::Empty {
            path: path.to_owned(),
        },
        Some(reason) => QueryFileError::Line {
            path: path.to_owned(),
            line,
            reason,
        },
    })
}

/// Parses query file text; on error, the 1-based line number and what is wrong
/// with it (`None`: the file holds no query at all).
pub(crate) fn parse(text: &str) -> Result<Vec<QuerySpec>, (usize, Option<LineError>)> {
    let mut specs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(spec)) => specs.push(spec),
            Ok(None) => {}
            Err(e) => return Err((index + 1, Some(e))),
        }
    }
    if specs.is_empty() {
        return Err((0, None));
    }
    Ok(specs)
}

/// One line: `None` for a blank line or a comment.
fn parse_line(line: &str) -> Result<Option<QuerySpec>, LineError> {
    let line = line.trim();
    if line.is_empty() || line.starts_with(';') {
        return Ok(None);
    }
    let mut fields = line.split_whitespace();
    let Some(name_text) = fields.next() else {
        return Ok(None);
    };
    let type_text = fields.next().unwrap_or("A");
    let qtype =
        qtype_code(type_text).ok_or_else(|| LineError::UnknownType(type_text.to_owned()))?;
    if let Some(extra) = fields.next() {
        return Err(LineError::Trailing(extra.to_owned()));
    }
    let name = Name::parse(name_text).map_err(|source| LineError::Name {
        name: name_text.to_owned(),
        source,
    })?;
    Ok(Some(QuerySpec {
        name,
        qtype,
        text: format!("{name_text} {type_text}"),
    }))
}

/// The code of a query type mnemonic, case-insensitively, or of `TYPEnnn`.
pub(crate) fn qtype_code(text: &str) -> Option<u16> {
    const TYPES: &[(&str, u16)] = &[
        ("A", 1),
        ("NS", 2),
        ("CNAME", 5),
        ("SOA", 6),
        ("PTR", 12),
        ("HINFO", 13),
        ("MX", 15),
        ("TXT", 16),
        ("AAAA", 28),
        ("SRV", 33),
        ("NAPTR", 35),
        ("DS", 43),
        ("RRSIG", 46),
        ("NSEC", 47),
        ("DNSKEY", 48),
        ("SVCB", 64),
        ("HTTPS", 65),
        ("CAA", 257),
        ("ANY", 255),
    ];
    let upper = text.to_ascii_uppercase();
    if let Some(&(_, code)) = TYPES.iter().find(|(name, _)| *name == upper) {
        return Some(code);
    }
    upper.strip_prefix("TYPE")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_types_comments_and_blank_lines() {
        let specs = parse("; a comment\n\nwww.example.com A\n_http._tcp.web.example.com srv\nbare.example.com\nx.test TYPE99\n").unwrap();
        let types: Vec<u16> = specs.iter().map(|s| s.qtype).collect();
        assert_eq!(types, vec![1, 33, 1, 99]);
        assert_eq!(
            specs[0].name.wire(),
            b"\x03www\x07example\x03com\x00".as_slice()
        );
        let texts: Vec<&str> = specs.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "www.example.com A",
                "_http._tcp.web.example.com srv",
                "bare.example.com A",
                "x.test TYPE99"
            ]
        );
    }

    #[test]
    fn a_bad_type_names_its_line() {
        let (line, reason) = parse("ok.test A\n; c\nbad.test FOO\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(matches!(reason, Some(LineError::UnknownType(t)) if t == "FOO"));
    }

    #[test]
    fn a_bad_name_or_extra_field_names_its_line() {
        let long_label = "a".repeat(64);
        let (line, reason) = parse(&format!("{long_label}.test A\n")).unwrap_err();
        assert_eq!(line, 1);
        assert!(matches!(reason, Some(LineError::Name { .. })));
        let (line, reason) = parse("ok.test A\nx.test A IN\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(matches!(reason, Some(LineError::Trailing(t)) if t == "IN"));
    }

    #[test]
    fn a_file_without_queries_is_an_error() {
        assert!(matches!(parse("; nothing\n\n"), Err((_, None))));
    }

    #[test]
    fn load_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.txt");
        std::fs::write(&path, "a.test A\nb.test NOPE\n").unwrap();
        let message = load(Some(&path)).unwrap_err().to_string();
        assert!(message.contains("q.txt line 2"), "{message}");
        assert!(message.contains("NOPE"), "{message}");
    }
}
