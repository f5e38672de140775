//! RFC 1035 master files ("zone files") in, [`Record`]s out.
//!
//! # Shape
//!
//! Parsing happens in three passes over each file, each in its own module, each
//! with one job:
//!
//! 1. `lexer` cuts the text into *entries* (logical lines: parentheses join
//!    physical lines) made of *tokens* (words and quoted strings). It knows about
//!    characters: whitespace, `;` comments, quotes and backslashes. It keeps escapes
//!    in the token text and records the line every token starts on.
//! 2. `parser` gives entries meaning. An entry whose first token starts with `$`
//!    is a directive (`$ORIGIN`, `$TTL`, `$INCLUDE`); any other is a record:
//!    `[owner] [TTL] [class] TYPE rdata...`, with TTL and class in either order. The
//!    owner is left out by starting the line with whitespace. Rdata is parsed into
//!    the typed [`RData`] the rest of ferrodns uses, so a zone file can only hold
//!    what ferrodns can serve.
//! 3. The zone walker in `parser` applies the zone-wide rules as records arrive:
//!    every owner inside the zone, at most one SOA and only at the apex, nothing
//!    else at a name that has a CNAME.
//!
//! # Errors
//!
//! Nothing here panics on any input: bad input is a [`ZoneFileError`] naming the
//! file and the line of the offending token (`zones/a.zone:12: bad IPv4 address
//! "10.0.0.300"`). The first error stops the parse: a zone is loaded whole or not
//! at all, so an operator sees one precise message rather than a cascade.
//! [`check_zone_file`] (`ferrodns check-zone`, `check-config`) is the other
//! way: it skips each bad entry and lists every error, as `kzonecheck` does
//! (a lexical error, such as an unclosed parenthesis, still ends its file).
//!
//! # TTLs
//!
//! A record without a TTL takes, in order: the `$TTL` in force; else the last
//! explicit TTL in the file (RFC 1035); else the SOA minimum (what BIND does when
//! neither is there); else [`DEFAULT_TTL`]. TTLs are at most [`MAX_TTL`] (RFC 2181
//! §8); SOA timers may use the full 32 bits. Both accept BIND units (`1w2d3h4m5s`).
//!
//! # Includes
//!
//! `$INCLUDE file [origin]` reads `file` relative to the directory of the file
//! that includes it, at most [`MAX_INCLUDE_DEPTH`] levels deep. The included file
//! starts with the includer's origin (or the one given), `$TTL` and last TTL, and
//! no previous owner; what it changes does not leak back (RFC 1035 §5.1). Only
//! regular files are read. [`parse_zone_text`] follows includes too, relative to
//! the directory of its `source`, so it must not be handed text from an untrusted
//! party; [`parse_record_line`] never reads files.
//!
//! The syntax is described for operators in `docs/zone-files.md`.

// Zone files come from operators and, through the fuzz target, from anywhere:
// the compiler checks that this code cannot panic on what it reads.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod error;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::path::Path;

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, Record};

pub use error::{ZoneFileError, ZoneFileErrorKind};

use error::{Fail, ZoneFileErrorKind as Kind};
use lexer::Lexer;
use parser::{ZoneReader, directive_of, parse_record, read_source};

/// The TTL of a record when neither the file nor an SOA says otherwise.
pub const DEFAULT_TTL: u32 = 3600;
/// The largest TTL accepted (RFC 2181 §8: the top bit must be clear).
pub const MAX_TTL: u32 = 0x7fff_ffff;
/// How many files deep `$INCLUDE` may nest.
pub const MAX_INCLUDE_DEPTH: usize = 8;
/// The file name in errors from [`parse_record_line`].
pub const RECORD_LINE_SOURCE: &str = "<record>";

/// Parse a zone file from disk; `origin` is the zone apex.
pub fn parse_zone_file(path: &Path, origin: &Name) -> Result<Vec<Record>, ZoneFileError> {
    let name = path.display().to_string();
    let text = read_source(path).map_err(|error| ZoneFileError {
        file: name.clone(),
        line: 0,
        kind: Kind::Read {
            path: name.clone(),
            error,
        },
    })?;
    ZoneReader::new(origin).read(&text, &name, path)
}

/// Reads a zone file from disk as [`parse_zone_file`] does, going on past
/// each bad entry: the records read and every error met, in file order.
pub fn check_zone_file(path: &Path, origin: &Name) -> (Vec<Record>, Vec<ZoneFileError>) {
    let name = path.display().to_string();
    match read_source(path) {
        Ok(text) => ZoneReader::new(origin).check(&text, &name, path),
        Err(error) => (
            Vec::new(),
            vec![ZoneFileError {
                file: name.clone(),
                line: 0,
                kind: Kind::Read { path: name, error },
            }],
        ),
    }
}

/// Parse zone text; `source` is the file name used in error messages.
///
/// `$INCLUDE` paths are relative to the directory of `source`.
pub fn parse_zone_text(
    text: &str,
    origin: &Name,
    source: &str,
) -> Result<Vec<Record>, ZoneFileError> {
    ZoneReader::new(origin).read(text, source, Path::new(source))
}

/// Parses the data of one record of type `rtype` (a mnemonic such as `SRV`) given
/// as presentation text, as a PowerDNS backend sends it (`"10 5 80 web.example."`,
/// SOA `"ns. contact@example.com 1 7200 3600 432000 86400"`, TXT `"\"text\""`):
/// names are absolute whether or not they end in a dot. Only the types a zone
/// file may hold are accepted. Never reads files; errors name the file
/// [`RECORD_LINE_SOURCE`].
pub fn parse_rdata_text(rtype: &str, text: &str) -> Result<RData, ZoneFileError> {
    let located = |fail: Fail| fail.in_file(RECORD_LINE_SOURCE);
    let type_token = lexer::Token {
        text: rtype,
        quoted: false,
        line: 1,
    };
    let rtype = parser::parse_type(&type_token).map_err(located)?;
    let mut lexer = Lexer::new(text);
    let fields = match lexer.next_entry().map_err(located)? {
        Some(entry) => entry.tokens,
        None => Vec::new(),
    };
    if let Some(extra) = lexer.next_entry().map_err(located)? {
        return Err(located(Fail::new(extra.line, Kind::NotOneRecord)));
    }
    parser::parse_rdata(rtype, &type_token, &fields, Some(&Name::root())).map_err(located)
}

/// Parse one record line in presentation format (e.g. "www 300 IN A 192.0.2.1" or
/// the output of `Record`'s Display). Relative owners/rdata names need `origin`.
///
/// A record without a TTL gets `default_ttl`. The line may use parentheses to
/// span several lines and may end in a comment, but must hold exactly one record
/// and no directive; the owner cannot be left blank. Errors name the file
/// [`RECORD_LINE_SOURCE`].
pub fn parse_record_line(
    line: &str,
    origin: Option<&Name>,
    default_ttl: u32,
) -> Result<Record, ZoneFileError> {
    let located = |fail: Fail| fail.in_file(RECORD_LINE_SOURCE);
    let mut lexer = Lexer::new(line);
    let entry = lexer
        .next_entry()
        .map_err(located)?
        .ok_or_else(|| located(Fail::new(1, Kind::NoRecord)))?;
    if let Some(directive) = directive_of(&entry) {
        return Err(located(Fail::new(
            entry.line,
            Kind::DirectiveInRecordLine(directive.into()),
        )));
    }
    if let Some(extra) = lexer.next_entry().map_err(located)? {
        return Err(located(Fail::new(extra.line, Kind::NotOneRecord)));
    }
    let parsed = parse_record(&entry, origin, None).map_err(located)?;
    Ok(Record::new(
        parsed.owner,
        parsed.ttl.unwrap_or(default_ttl),
        parsed.data,
    ))
}
