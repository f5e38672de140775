//! What can go wrong while reading a zone file, and where.
//!
//! Every failure is a [`ZoneFileErrorKind`] (what) wrapped in a [`ZoneFileError`]
//! (which file, which line). Inside the parser the location is only half known:
//! the lexer and the record parser know the line but not the file name, so they
//! return a [`Fail`], and the code that walks a file adds the file name.

use ferrodns_dataplane::name::{Name, NameError};
use ferrodns_dataplane::record::RType;

/// A zone-file error with its location. Displays as `FILE:LINE: message`, or
/// `FILE: message` when the error concerns the file as a whole (line 0, e.g. a
/// file that cannot be read).
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", location(.file, *.line))]
pub struct ZoneFileError {
    /// The file the error is in: the `source` given to the parser, or the path of
    /// an included file.
    pub file: String,
    /// 1-based line of the offending token; 0 for the file as a whole.
    pub line: usize,
    pub kind: ZoneFileErrorKind,
}

fn location(file: &str, line: usize) -> String {
    if line == 0 {
        file.to_owned()
    } else {
        format!("{file}:{line}")
    }
}

/// What went wrong. The messages are written for operators: they quote the
/// offending text and, for conflicts, say where the earlier record is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneFileErrorKind {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("$INCLUDE nested more than {0} files deep")]
    IncludeTooDeep(usize),

    // Lexical errors.
    #[error("\"(\" is never closed")]
    UnclosedParen,
    #[error("\")\" without a matching \"(\"")]
    UnexpectedCloseParen,
    #[error("quoted string not closed before the end of the line")]
    UnterminatedQuote,
    #[error("bad escape sequence in {0:?}")]
    BadEscape(String),

    // Directives.
    #[error("unknown directive {0:?}")]
    UnknownDirective(String),
    #[error("{directive} takes {expected}, found {found} argument(s)")]
    DirectiveArguments {
        directive: &'static str,
        expected: &'static str,
        found: usize,
    },
    #[error("directive {0:?} is not allowed in a record line")]
    DirectiveInRecordLine(String),

    // The fields before the rdata.
    #[error("no owner name: a record can leave the owner blank only after another record")]
    NoPreviousOwner,
    #[error("bad {what} {text:?}: expected seconds or BIND units such as 1h30m")]
    BadTime { what: &'static str, text: String },
    #[error("{what} {text:?} is out of range (at most {max} seconds)")]
    TimeOutOfRange {
        what: &'static str,
        text: String,
        max: u32,
    },
    #[error("{what} given twice ({text:?})")]
    Repeated { what: &'static str, text: String },
    #[error("unsupported class {0:?}: only IN is served")]
    UnsupportedClass(String),
    #[error("missing record type")]
    MissingType,
    #[error("unknown record type {0:?}")]
    UnknownType(String),
    #[error("record type {0} is not supported in zone files")]
    UnsupportedType(RType),

    // Rdata.
    #[error("{rtype} rdata takes {expected}, found {found} field(s)")]
    FieldCount {
        rtype: RType,
        expected: &'static str,
        found: usize,
    },
    #[error("bad {what} {text:?}: expected a number from 0 to {max}")]
    BadNumber {
        what: &'static str,
        text: String,
        max: u32,
    },
    #[error("bad IPv4 address {0:?}")]
    BadIpv4(String),
    #[error("bad IPv6 address {0:?}")]
    BadIpv6(String),
    #[error("bad name: {0}")]
    BadName(NameError),
    #[error("quoted string {0:?} is not allowed here")]
    UnexpectedQuoted(String),
    #[error("TXT string of {0} octets is longer than 255")]
    TxtTooLong(usize),

    // Zone-level rules.
    #[error("{name} is out of zone {apex}")]
    OutOfZone { name: Name, apex: Name },
    #[error("SOA owner {name} is not the zone apex {apex}")]
    SoaNotAtApex { name: Name, apex: Name },
    #[error("second SOA record (the first is at {first})")]
    DuplicateSoa { first: String },
    #[error(
        "{name} already has other data (at {other_at}); a name with a CNAME can have no other data"
    )]
    CnameWithOtherData { name: Name, other_at: String },
    #[error(
        "{name} already has a CNAME (at {cname_at}); a name with a CNAME can have no other data"
    )]
    DataAtCname { name: Name, cname_at: String },

    // parse_record_line.
    #[error("no record in the line")]
    NoRecord,
    #[error("more than one record in the line")]
    NotOneRecord,
}

/// An error whose file is not known yet: the lexer and the record parser return
/// these, and the zone walker turns them into [`ZoneFileError`]s.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) line: usize,
    pub(crate) kind: ZoneFileErrorKind,
}

impl Fail {
    pub(crate) fn new(line: usize, kind: ZoneFileErrorKind) -> Self {
        Fail { line, kind }
    }

    pub(crate) fn in_file(self, file: &str) -> ZoneFileError {
        ZoneFileError {
            file: file.to_owned(),
            line: self.line,
            kind: self.kind,
        }
    }
}
