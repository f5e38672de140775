//! From entries to records: directives, the owner/TTL/class/type prefix, rdata,
//! and the zone-wide rules (in zone, one SOA at the apex, CNAME alone).
//!
//! Two layers:
//!
//! - [`parse_record`] turns one entry into a [`Parsed`] record. It knows nothing
//!   about files or zones, so [`parse_record_line`](super::parse_record_line) uses
//!   it directly.
//! - [`ZoneReader`] walks a file: it applies directives, keeps the per-file
//!   [`Scope`] (origin, previous owner, TTL defaults), follows `$INCLUDE`, and
//!   checks every record against what the zone already holds.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::{RData, RType, Record, Soa};

use super::error::{Fail, ZoneFileError, ZoneFileErrorKind as Kind};
use super::lexer::{Entry, Lexer, Token, unescape};
use super::{DEFAULT_TTL, MAX_INCLUDE_DEPTH, MAX_TTL};

/// A record as written, before the zone's TTL defaults are applied.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) owner: Name,
    /// The explicit TTL, if the entry had one.
    pub(crate) ttl: Option<u32>,
    pub(crate) data: RData,
}

/// True when the entry is a directive (`$ORIGIN`, `$TTL`, `$INCLUDE`, ...).
pub(crate) fn directive_of<'a>(entry: &Entry<'a>) -> Option<&'a str> {
    entry
        .tokens
        .first()
        .filter(|t| !t.quoted && t.text.starts_with('$'))
        .map(|t| t.text)
}

/// Parses `[owner] [TTL] [class] TYPE rdata...` (TTL and class in either order).
/// `origin` completes relative names; `previous_owner` stands in for a blank owner.
pub(crate) fn parse_record(
    entry: &Entry<'_>,
    origin: Option<&Name>,
    previous_owner: Option<&Name>,
) -> Result<Parsed, Fail> {
    let mut fields = Fields::new(entry);
    let owner = if entry.blank_owner {
        previous_owner
            .cloned()
            .ok_or_else(|| Fail::new(entry.line, Kind::NoPreviousOwner))?
    } else {
        parse_name(fields.next_or(Kind::MissingType)?, origin)?
    };

    let mut ttl = None;
    let mut class_seen = false;
    let type_token = loop {
        let token = fields.next_or(Kind::MissingType)?;
        if !token.quoted && token.text.starts_with(|c: char| c.is_ascii_digit()) {
            if ttl.is_some() {
                return Err(repeated(token, "TTL"));
            }
            ttl = Some(parse_time(token, "TTL", MAX_TTL)?);
        } else if let Some(is_in) = class_of(token) {
            if class_seen {
                return Err(repeated(token, "class"));
            }
            if !is_in {
                return Err(Fail::new(
                    token.line,
                    Kind::UnsupportedClass(token.text.into()),
                ));
            }
            class_seen = true;
        } else {
            break token;
        }
    };
    let rtype = parse_type(type_token)?;
    let data = parse_rdata(rtype, type_token, fields.rest(), origin)?;
    Ok(Parsed { owner, ttl, data })
}

/// A cursor over an entry's tokens.
struct Fields<'e, 'a> {
    tokens: &'e [Token<'a>],
    at: usize,
    /// Line of the last token handed out, for "something is missing" errors.
    line: usize,
}

impl<'e, 'a> Fields<'e, 'a> {
    fn new(entry: &'e Entry<'a>) -> Self {
        Fields {
            tokens: &entry.tokens,
            at: 0,
            line: entry.line,
        }
    }

    /// The next token, or `missing` on the line of the last one.
    fn next_or(&mut self, missing: Kind) -> Result<&'e Token<'a>, Fail> {
        let token = self
            .tokens
            .get(self.at)
            .ok_or_else(|| Fail::new(self.line, missing))?;
        self.at += 1;
        self.line = token.line;
        Ok(token)
    }

    /// The tokens not handed out yet.
    fn rest(&self) -> &'e [Token<'a>] {
        self.tokens.get(self.at..).unwrap_or_default()
    }
}

fn repeated(token: &Token<'_>, what: &'static str) -> Fail {
    Fail::new(
        token.line,
        Kind::Repeated {
            what,
            text: token.text.into(),
        },
    )
}

/// `Some(true)` for IN, `Some(false)` for another class, `None` for a word that is
/// not a class (so it must be the type).
fn class_of(token: &Token<'_>) -> Option<bool> {
    if token.quoted {
        return None;
    }
    let upper = token.text.to_ascii_uppercase();
    match upper.as_str() {
        "IN" => Some(true),
        "CH" | "CHAOS" | "HS" | "HESIOD" | "CS" | "NONE" => Some(false),
        other => {
            let number: u16 = other.strip_prefix("CLASS")?.parse().ok()?;
            Some(number == 1)
        }
    }
}

pub(crate) fn parse_type(token: &Token<'_>) -> Result<RType, Fail> {
    let unknown = || Fail::new(token.line, Kind::UnknownType(token.text.into()));
    if token.quoted {
        return Err(unknown());
    }
    let rtype = RType::from_mnemonic(token.text).ok_or_else(unknown)?;
    match rtype {
        RType::A
        | RType::AAAA
        | RType::CNAME
        | RType::NS
        | RType::PTR
        | RType::MX
        | RType::SRV
        | RType::TXT
        | RType::SOA => Ok(rtype),
        other => Err(Fail::new(token.line, Kind::UnsupportedType(other))),
    }
}

pub(crate) fn parse_rdata(
    rtype: RType,
    type_token: &Token<'_>,
    fields: &[Token<'_>],
    origin: Option<&Name>,
) -> Result<RData, Fail> {
    let data = match rtype {
        RType::A => {
            let [address] = exact(rtype, "1 field (address)", type_token, fields)?;
            address
                .text
                .parse::<Ipv4Addr>()
                .ok()
                .filter(|_| !address.quoted)
                .map(RData::A)
                .ok_or_else(|| Fail::new(address.line, Kind::BadIpv4(address.text.into())))?
        }
        RType::AAAA => {
            let [address] = exact(rtype, "1 field (address)", type_token, fields)?;
            address
                .text
                .parse::<Ipv6Addr>()
                .ok()
                .filter(|_| !address.quoted)
                .map(RData::Aaaa)
                .ok_or_else(|| Fail::new(address.line, Kind::BadIpv6(address.text.into())))?
        }
        RType::CNAME | RType::NS | RType::PTR => {
            let [target] = exact(rtype, "1 field (a name)", type_token, fields)?;
            let target = parse_name(target, origin)?;
            match rtype {
                RType::CNAME => RData::Cname(target),
                RType::NS => RData::Ns(target),
                _ => RData::Ptr(target),
            }
        }
        RType::MX => {
            let [preference, exchange] =
                exact(rtype, "2 fields (preference exchange)", type_token, fields)?;
            RData::Mx {
                preference: parse_u16(preference, "MX preference")?,
                exchange: parse_name(exchange, origin)?,
            }
        }
        RType::SRV => {
            let [priority, weight, port, target] = exact(
                rtype,
                "4 fields (priority weight port target)",
                type_token,
                fields,
            )?;
            RData::Srv {
                priority: parse_u16(priority, "SRV priority")?,
                weight: parse_u16(weight, "SRV weight")?,
                port: parse_u16(port, "SRV port")?,
                target: parse_name(target, origin)?,
            }
        }
        RType::TXT => {
            if fields.is_empty() {
                return Err(Fail::new(
                    type_token.line,
                    Kind::FieldCount {
                        rtype,
                        expected: "at least 1 character-string",
                        found: 0,
                    },
                ));
            }
            let strings = fields
                .iter()
                .map(parse_character_string)
                .collect::<Result<Vec<_>, _>>()?;
            RData::Txt(strings)
        }
        RType::SOA => {
            let [mname, rname, serial, refresh, retry, expire, minimum] = exact(
                rtype,
                "7 fields (mname rname serial refresh retry expire minimum)",
                type_token,
                fields,
            )?;
            RData::Soa(Soa {
                mname: parse_name(mname, origin)?,
                rname: parse_name(rname, origin)?,
                serial: parse_u32(serial, "SOA serial")?,
                refresh: parse_time(refresh, "SOA refresh", u32::MAX)?,
                retry: parse_time(retry, "SOA retry", u32::MAX)?,
                expire: parse_time(expire, "SOA expire", u32::MAX)?,
                minimum: parse_time(minimum, "SOA minimum", u32::MAX)?,
            })
        }
        other => return Err(Fail::new(type_token.line, Kind::UnsupportedType(other))),
    };
    Ok(data)
}

/// The rdata fields as an array of exactly `N`, or a field-count error on the line
/// of the first extra field (too many) or of the last field there is (too few).
fn exact<'t, 'a, const N: usize>(
    rtype: RType,
    expected: &'static str,
    type_token: &'t Token<'a>,
    fields: &'t [Token<'a>],
) -> Result<&'t [Token<'a>; N], Fail> {
    <&[Token<'a>; N]>::try_from(fields).map_err(|_| {
        let line = fields
            .get(N)
            .or_else(|| fields.last())
            .unwrap_or(type_token)
            .line;
        Fail::new(
            line,
            Kind::FieldCount {
                rtype,
                expected,
                found: fields.len(),
            },
        )
    })
}

pub(crate) fn parse_name(token: &Token<'_>, origin: Option<&Name>) -> Result<Name, Fail> {
    if token.quoted {
        return Err(Fail::new(
            token.line,
            Kind::UnexpectedQuoted(token.text.into()),
        ));
    }
    Name::parse_relative(token.text, origin).map_err(|e| Fail::new(token.line, Kind::BadName(e)))
}

fn parse_character_string(token: &Token<'_>) -> Result<Vec<u8>, Fail> {
    let bytes = unescape(token.text).map_err(|kind| Fail::new(token.line, kind))?;
    if bytes.len() > 255 {
        return Err(Fail::new(token.line, Kind::TxtTooLong(bytes.len())));
    }
    Ok(bytes)
}

/// A plain decimal number (no sign, no units) up to `max`.
fn parse_number(token: &Token<'_>, what: &'static str, max: u32) -> Result<u32, Fail> {
    let bad = || {
        Fail::new(
            token.line,
            Kind::BadNumber {
                what,
                text: token.text.into(),
                max,
            },
        )
    };
    if token.quoted || token.text.is_empty() || !token.text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    token
        .text
        .parse::<u32>()
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(bad)
}

fn parse_u16(token: &Token<'_>, what: &'static str) -> Result<u16, Fail> {
    let value = parse_number(token, what, u32::from(u16::MAX))?;
    u16::try_from(value).map_err(|_| {
        Fail::new(
            token.line,
            Kind::BadNumber {
                what,
                text: token.text.into(),
                max: u32::from(u16::MAX),
            },
        )
    })
}

fn parse_u32(token: &Token<'_>, what: &'static str) -> Result<u32, Fail> {
    parse_number(token, what, u32::MAX)
}

/// A time in seconds, plain or in BIND units (`1w2d3h4m5s`, any case; a last
/// group without a unit counts seconds), at most `max`.
pub(crate) fn parse_time(token: &Token<'_>, what: &'static str, max: u32) -> Result<u32, Fail> {
    let text = token.text;
    let seconds = if token.quoted {
        None
    } else {
        duration_seconds(text)
    }
    .ok_or_else(|| {
        Fail::new(
            token.line,
            Kind::BadTime {
                what,
                text: text.into(),
            },
        )
    })?;
    u32::try_from(seconds)
        .ok()
        .filter(|&s| s <= max)
        .ok_or_else(|| {
            Fail::new(
                token.line,
                Kind::TimeOutOfRange {
                    what,
                    text: text.into(),
                    max,
                },
            )
        })
}

/// Seconds in a BIND duration, saturating at `u64::MAX`; `None` when malformed.
fn duration_seconds(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut number: Option<u64> = None;
    for byte in text.bytes() {
        if byte.is_ascii_digit() {
            let digit = u64::from(byte - b'0');
            number = Some(number.unwrap_or(0).saturating_mul(10).saturating_add(digit));
            continue;
        }
        let unit = match byte.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3_600,
            b'd' => 86_400,
            b'w' => 604_800,
            _ => return None,
        };
        total = total.saturating_add(number.take()?.saturating_mul(unit));
    }
    match number {
        Some(seconds) => Some(total.saturating_add(seconds)),
        // Empty text, or text that ends with a unit.
        None if text.is_empty() => None,
        None => Some(total),
    }
}

/// Where a record came from: an index into [`ZoneReader::files`] and a line.
#[derive(Debug, Clone, Copy)]
struct Loc {
    file: usize,
    line: usize,
}

/// What a name holds so far, for the CNAME rule.
#[derive(Debug, Default)]
struct OwnerState {
    cname: Option<Loc>,
    other: Option<Loc>,
}

/// The state that is local to one file: `$ORIGIN` and `$TTL` changes and the
/// owner and TTL a later entry may leave out. An included file starts from a copy
/// of its includer's scope (with the origin `$INCLUDE` names, and no previous
/// owner), and nothing it changes leaks back.
#[derive(Debug, Clone)]
struct Scope {
    origin: Name,
    previous_owner: Option<Name>,
    dollar_ttl: Option<u32>,
    last_ttl: Option<u32>,
}

/// Reads a zone: the files, the records so far, and what the zone-wide rules need.
#[derive(Debug)]
pub(crate) struct ZoneReader {
    apex: Name,
    /// Names of the files read, for error messages.
    files: Vec<String>,
    records: Vec<Record>,
    owners: HashMap<Name, OwnerState>,
    /// Where the SOA is, and its minimum (a TTL default).
    soa: Option<(Loc, u32)>,
    /// When checking (`check-zone`): every error so far, each entry in error
    /// skipped and the reading going on. `None`: the first error ends it.
    errors: Option<Vec<ZoneFileError>>,
}

impl ZoneReader {
    pub(crate) fn new(apex: &Name) -> Self {
        ZoneReader {
            apex: apex.clone(),
            files: Vec::new(),
            records: Vec::new(),
            owners: HashMap::new(),
            soa: None,
            errors: None,
        }
    }

    /// Reads `text` as [`ZoneReader::read`] does, but goes on past a bad entry
    /// (a file that cannot be cut into entries any further ends there):
    /// the records read and every error met, in order.
    pub(crate) fn check(
        mut self,
        text: &str,
        source: &str,
        path: &Path,
    ) -> (Vec<Record>, Vec<ZoneFileError>) {
        self.errors = Some(Vec::new());
        let scope = Scope {
            origin: self.apex.clone(),
            previous_owner: None,
            dollar_ttl: None,
            last_ttl: None,
        };
        let last = self.read_file(text, source.to_owned(), path, scope, 0);
        let mut errors = self.errors.unwrap_or_default();
        errors.extend(last.err());
        (self.records, errors)
    }

    /// An error met: kept when checking (the reading goes on), else returned.
    fn met(&mut self, error: ZoneFileError) -> Result<(), ZoneFileError> {
        match &mut self.errors {
            Some(errors) => {
                errors.push(error);
                Ok(())
            }
            None => Err(error),
        }
    }

    /// Reads `text`, whose name for error messages is `source` and whose
    /// `$INCLUDE`s are relative to the directory of `path`.
    pub(crate) fn read(
        mut self,
        text: &str,
        source: &str,
        path: &Path,
    ) -> Result<Vec<Record>, ZoneFileError> {
        let scope = Scope {
            origin: self.apex.clone(),
            previous_owner: None,
            dollar_ttl: None,
            last_ttl: None,
        };
        self.read_file(text, source.to_owned(), path, scope, 0)?;
        Ok(self.records)
    }

    fn describe(&self, loc: Loc) -> String {
        describe(&self.files, loc)
    }

    fn read_file(
        &mut self,
        text: &str,
        name: String,
        path: &Path,
        mut scope: Scope,
        depth: usize,
    ) -> Result<(), ZoneFileError> {
        let file = self.files.len();
        self.files.push(name);
        let mut lexer = Lexer::new(text);
        loop {
            let entry = match lexer.next_entry() {
                Ok(Some(entry)) => entry,
                Ok(None) => return Ok(()),
                Err(fail) => {
                    let error = self.error(file, fail);
                    return self.met(error);
                }
            };
            let step = match directive_of(&entry) {
                Some(directive) if directive.eq_ignore_ascii_case("$INCLUDE") => {
                    if let Err(error) = self.include(&entry, &scope, path, file, depth) {
                        self.met(error)?;
                    }
                    Ok(())
                }
                Some(directive) => apply_directive(directive, &entry, &mut scope),
                None => self.record(&entry, &mut scope, file),
            };
            if let Err(fail) = step {
                let error = self.error(file, fail);
                self.met(error)?;
            }
        }
    }

    fn error(&self, file: usize, fail: Fail) -> ZoneFileError {
        fail.in_file(self.files.get(file).map_or("", String::as_str))
    }

    fn record(&mut self, entry: &Entry<'_>, scope: &mut Scope, file: usize) -> Result<(), Fail> {
        let parsed = parse_record(entry, Some(&scope.origin), scope.previous_owner.as_ref())?;
        let ttl = match parsed.ttl {
            Some(ttl) => {
                scope.last_ttl = Some(ttl);
                ttl
            }
            None => {
                let own_minimum = match &parsed.data {
                    RData::Soa(soa) => Some(soa.minimum),
                    _ => None,
                };
                let soa_minimum = self.soa.map(|(_, minimum)| minimum).or(own_minimum);
                scope
                    .dollar_ttl
                    .or(scope.last_ttl)
                    .or(soa_minimum.map(|m| m.min(MAX_TTL)))
                    .unwrap_or(DEFAULT_TTL)
            }
        };
        scope.previous_owner = Some(parsed.owner.clone());
        let loc = Loc {
            file,
            line: entry.line,
        };
        self.add(Record::new(parsed.owner, ttl, parsed.data), loc)
    }

    /// Checks a record against the zone-wide rules and keeps it.
    fn add(&mut self, record: Record, loc: Loc) -> Result<(), Fail> {
        if !record.name.is_subdomain_of(&self.apex) {
            return Err(Fail::new(
                loc.line,
                Kind::OutOfZone {
                    name: record.name,
                    apex: self.apex.clone(),
                },
            ));
        }
        if let RData::Soa(soa) = &record.data {
            if record.name != self.apex {
                return Err(Fail::new(
                    loc.line,
                    Kind::SoaNotAtApex {
                        name: record.name,
                        apex: self.apex.clone(),
                    },
                ));
            }
            if let Some((first, _)) = self.soa {
                return Err(Fail::new(
                    loc.line,
                    Kind::DuplicateSoa {
                        first: self.describe(first),
                    },
                ));
            }
            self.soa = Some((loc, soa.minimum));
        }
        let state = self.owners.entry(record.name.clone()).or_default();
        if let Some(cname) = state.cname {
            return Err(Fail::new(
                loc.line,
                Kind::DataAtCname {
                    name: record.name,
                    cname_at: describe(&self.files, cname),
                },
            ));
        }
        if record.rtype() == RType::CNAME {
            if let Some(other) = state.other {
                return Err(Fail::new(
                    loc.line,
                    Kind::CnameWithOtherData {
                        name: record.name,
                        other_at: describe(&self.files, other),
                    },
                ));
            }
            state.cname = Some(loc);
        } else if state.other.is_none() {
            state.other = Some(loc);
        }
        self.records.push(record);
        Ok(())
    }

    /// `$INCLUDE file [origin]`: reads `file` (relative to the including file's
    /// directory) with its own scope.
    fn include(
        &mut self,
        entry: &Entry<'_>,
        scope: &Scope,
        including: &Path,
        file: usize,
        depth: usize,
    ) -> Result<(), ZoneFileError> {
        let fail = |kind| Fail::new(entry.line, kind);
        let (target, origin) = match entry.tokens.get(1..) {
            Some([target]) => (target, None),
            Some([target, origin]) => (target, Some(origin)),
            _ => {
                let kind = Kind::DirectiveArguments {
                    directive: "$INCLUDE",
                    expected: "a file name and an optional origin",
                    found: entry.tokens.len().saturating_sub(1),
                };
                return Err(self.error(file, fail(kind)));
            }
        };
        let origin = match origin {
            Some(token) => parse_name(token, Some(&scope.origin)),
            None => Ok(scope.origin.clone()),
        }
        .map_err(|f| self.error(file, f))?;
        let target_text = unescape(target.text)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                self.error(
                    file,
                    Fail::new(target.line, Kind::BadEscape(target.text.into())),
                )
            })?;
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(self.error(file, fail(Kind::IncludeTooDeep(MAX_INCLUDE_DEPTH))));
        }
        let path: PathBuf = including
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(target_text);
        let name = path.display().to_string();
        let text = read_source(&path).map_err(|error| {
            self.error(
                file,
                fail(Kind::Read {
                    path: name.clone(),
                    error,
                }),
            )
        })?;
        let child = Scope {
            origin,
            previous_owner: None,
            dollar_ttl: scope.dollar_ttl,
            last_ttl: scope.last_ttl,
        };
        self.read_file(&text, name, &path, child, depth + 1)
    }
}

fn describe(files: &[String], loc: Loc) -> String {
    format!(
        "{}:{}",
        files.get(loc.file).map_or("", String::as_str),
        loc.line
    )
}

/// `$ORIGIN name` and `$TTL time`; any other directive is an error.
fn apply_directive(directive: &str, entry: &Entry<'_>, scope: &mut Scope) -> Result<(), Fail> {
    let upper = directive.to_ascii_uppercase();
    let (name, expected): (&'static str, &'static str) = match upper.as_str() {
        "$ORIGIN" => ("$ORIGIN", "1 argument (a name)"),
        "$TTL" => ("$TTL", "1 argument (a time)"),
        _ => {
            return Err(Fail::new(
                entry.line,
                Kind::UnknownDirective(directive.into()),
            ));
        }
    };
    let Some([argument]) = entry.tokens.get(1..) else {
        let line = entry.tokens.get(2).map_or(entry.line, |t| t.line);
        return Err(Fail::new(
            line,
            Kind::DirectiveArguments {
                directive: name,
                expected,
                found: entry.tokens.len().saturating_sub(1),
            },
        ));
    };
    if name == "$ORIGIN" {
        scope.origin = parse_name(argument, Some(&scope.origin))?;
    } else {
        scope.dollar_ttl = Some(parse_time(argument, "$TTL", MAX_TTL)?);
    }
    Ok(())
}

/// Reads a zone file. Only regular files: a FIFO or a device (`$INCLUDE
/// /dev/zero`) would block or never end.
pub(crate) fn read_source(path: &Path) -> std::io::Result<String> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    std::fs::read_to_string(path)
}
