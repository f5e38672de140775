//! Owned domain names in uncompressed wire format.
//!
//! The control plane (zone files, stores, the API) speaks in [`Name`]s; the hot path
//! never builds one. A `Name` keeps the case it was written with, because answers
//! carry rdata names as the operator wrote them, but compares, hashes and orders
//! case-insensitively (RFC 4343). [`Name::to_lowercase_wire`] gives the key the
//! record table is indexed by.
//!
//! Presentation format follows RFC 1035 §5.1: labels separated by `.`, `\.` for a
//! literal dot, `\DDD` for any octet. A name ending in `.` is absolute; one that does
//! not is relative and [`Name::parse_relative`] appends an origin to it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest name on the wire, root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Why text could not become a [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty label in {0:?}")]
    EmptyLabel(String),
    #[error("label longer than 63 octets in {0:?}")]
    LabelTooLong(String),
    #[error("name longer than 255 octets: {0:?}")]
    NameTooLong(String),
    #[error("bad escape sequence in {0:?}")]
    BadEscape(String),
    #[error("relative name {0:?} needs an origin")]
    Relative(String),
}

/// A domain name in uncompressed wire format, absolute (ends with the root label).
#[derive(Clone)]
pub struct Name {
    wire: Box<[u8]>,
}

impl Name {
    /// The root name `.`.
    pub fn root() -> Self {
        Name {
            wire: Box::new([0]),
        }
    }

    /// Parses an absolute name; text without a trailing dot is still taken as absolute
    /// (operators type `example.com` and mean `example.com.`).
    pub fn from_ascii(text: &str) -> Result<Self, NameError> {
        Self::parse_relative(text, Some(&Self::root()))
    }

    /// Parses presentation text. `@` stands for the origin; text without a trailing
    /// dot is relative and gets `origin` appended (an error when there is none).
    pub fn parse_relative(text: &str, origin: Option<&Name>) -> Result<Self, NameError> {
        if text == "@" {
            return origin
                .cloned()
                .ok_or_else(|| NameError::Relative(text.to_owned()));
        }
        if text == "." {
            return Ok(Self::root());
        }
        let mut wire = Vec::with_capacity(text.len() + 2);
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut absolute = false;
        while i < bytes.len() {
            let start = wire.len();
            wire.push(0);
            let mut len = 0usize;
            while i < bytes.len() && bytes.get(i) != Some(&b'.') {
                let byte = match bytes.get(i) {
                    Some(b'\\') => {
                        let (value, used) = unescape(bytes.get(i + 1..).unwrap_or_default())
                            .ok_or_else(|| NameError::BadEscape(text.to_owned()))?;
                        i += 1 + used;
                        value
                    }
                    Some(&b) => {
                        i += 1;
                        b
                    }
                    None => break,
                };
                wire.push(byte);
                len += 1;
            }
            if len == 0 {
                return Err(NameError::EmptyLabel(text.to_owned()));
            }
            if len > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong(text.to_owned()));
            }
            if let Some(slot) = wire.get_mut(start) {
                *slot = len as u8;
            }
            if bytes.get(i) == Some(&b'.') {
                i += 1;
                if i == bytes.len() {
                    absolute = true;
                }
            }
        }
        if text.is_empty() {
            return Err(NameError::EmptyLabel(text.to_owned()));
        }
        if absolute {
            wire.push(0);
        } else {
            let origin = origin.ok_or_else(|| NameError::Relative(text.to_owned()))?;
            wire.extend_from_slice(&origin.wire);
        }
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong(text.to_owned()));
        }
        Ok(Name {
            wire: wire.into_boxed_slice(),
        })
    }

    /// Builds a name from uncompressed wire bytes, checking every length.
    pub fn from_wire(wire: &[u8]) -> Option<Self> {
        let mut at = 0usize;
        loop {
            let len = usize::from(*wire.get(at)?);
            if len == 0 {
                break;
            }
            if len > MAX_LABEL_LEN {
                return None;
            }
            at += 1 + len;
        }
        let total = at + 1;
        if total > MAX_NAME_LEN || total != wire.len() {
            return None;
        }
        Some(Name { wire: wire.into() })
    }

    /// The wire bytes, case as written.
    pub fn as_wire(&self) -> &[u8] {
        &self.wire
    }

    /// The wire bytes with ASCII letters lowered: the record table's key.
    pub fn to_lowercase_wire(&self) -> Vec<u8> {
        let mut out = self.wire.to_vec();
        lowercase_wire_in_place(&mut out);
        out
    }

    /// Number of labels, the root not counted.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// Labels from the leftmost, the root not included.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            wire: &self.wire,
            at: 0,
        }
    }

    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// `*.rest`: the owner of a wildcard (RFC 4592).
    pub fn is_wildcard(&self) -> bool {
        self.wire.get(..2) == Some(&[1, b'*'])
    }

    /// The name with its leftmost label removed; `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        let first = usize::from(*self.wire.first()?);
        if first == 0 {
            return None;
        }
        self.wire
            .get(first + 1..)
            .map(|rest| Name { wire: rest.into() })
    }

    /// True when `self` equals `zone` or lies below it.
    pub fn is_subdomain_of(&self, zone: &Name) -> bool {
        // Compare `zone` with each suffix of `self` that starts at a label boundary;
        // no allocation (the compiler asks this once per record).
        let mut at = 0usize;
        while let Some(rest) = self.wire.get(at..) {
            if rest.len() < zone.wire.len() {
                return false;
            }
            if rest.len() == zone.wire.len() {
                return rest.eq_ignore_ascii_case(&zone.wire);
            }
            match rest.first() {
                Some(&len) if len != 0 => at += 1 + usize::from(len),
                _ => return false,
            }
        }
        false
    }

    /// `label.self`, or an error when the result would be too long.
    pub fn prepend_label(&self, label: &[u8]) -> Result<Name, NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel(self.to_string()));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong(self.to_string()));
        }
        let mut wire = Vec::with_capacity(self.wire.len() + label.len() + 1);
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
        wire.extend_from_slice(&self.wire);
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong(self.to_string()));
        }
        Ok(Name {
            wire: wire.into_boxed_slice(),
        })
    }
}

/// Lowers ASCII letters of wire-format bytes in place (length octets are below 64,
/// so they are never letters).
pub fn lowercase_wire_in_place(wire: &mut [u8]) {
    for byte in wire {
        byte.make_ascii_lowercase();
    }
}

/// Offset of `suffix` inside wire name `name` when it ends `name` at a label
/// boundary.
pub fn suffix_offset(name: &[u8], suffix: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    loop {
        let rest = name.get(at..)?;
        if rest.eq_ignore_ascii_case(suffix) {
            return Some(at);
        }
        let len = usize::from(*rest.first()?);
        if len == 0 {
            return None;
        }
        at += 1 + len;
    }
}

/// Decodes the text after a backslash: `\DDD` or `\X`. Returns the octet and how
/// many input bytes it used.
fn unescape(rest: &[u8]) -> Option<(u8, usize)> {
    match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let value = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            u8::try_from(value).ok().map(|v| (v, 3))
        }
        [d, ..] if d.is_ascii_digit() => None,
        [x, ..] => Some((*x, 1)),
        [] => None,
    }
}

/// Iterator over the labels of a [`Name`].
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    wire: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(*self.wire.get(self.at)?);
        if len == 0 {
            return None;
        }
        let label = self.wire.get(self.at + 1..self.at + 1 + len)?;
        self.at += 1 + len;
        Some(label)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.wire.eq_ignore_ascii_case(&other.wire)
    }
}
impl Eq for Name {}

impl Hash for Name {
    /// Hashes the lowered wire bytes in one write (consistent with the
    /// case-insensitive `Eq`); a write per byte made hashing the compiler's name
    /// sets cost more than building them.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut lowered = [0u8; MAX_NAME_LEN];
        match lowered.get_mut(..self.wire.len()) {
            Some(slot) => {
                for (out, byte) in slot.iter_mut().zip(self.wire.iter()) {
                    *out = byte.to_ascii_lowercase();
                }
                state.write(slot);
            }
            // Not reachable for a valid name; still consistent with `Eq`.
            None => {
                for byte in self.wire.iter() {
                    state.write_u8(byte.to_ascii_lowercase());
                }
            }
        }
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Most labels a name can have: every label but the root takes at least two bytes.
const MAX_LABELS: usize = MAX_NAME_LEN / 2;

/// Start offsets of the labels of `wire`, leftmost first, root excluded; returns how
/// many there are. Stops where [`Labels`] stops.
fn label_starts(wire: &[u8], starts: &mut [u8; MAX_LABELS]) -> usize {
    let mut count = 0;
    let mut at = 0usize;
    while let Some(&len) = wire.get(at) {
        let end = at + 1 + usize::from(len);
        if len == 0 || end > wire.len() {
            break;
        }
        let (Some(slot), Ok(start)) = (starts.get_mut(count), u8::try_from(at)) else {
            break;
        };
        *slot = start;
        count += 1;
        at = end;
    }
    count
}

/// The label whose length octet is at `start`.
fn label_at(wire: &[u8], start: u8) -> &[u8] {
    let at = usize::from(start);
    let len = usize::from(wire.get(at).copied().unwrap_or(0));
    wire.get(at + 1..at + 1 + len).unwrap_or_default()
}

/// Canonical DNS order (RFC 4034 §6.1): compare labels from the rightmost,
/// case-insensitively. Label offsets go to stack arrays (this sits under every
/// sorted-map operation of the compiler, so it must not allocate).
impl Ord for Name {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut mine = [0u8; MAX_LABELS];
        let mut theirs = [0u8; MAX_LABELS];
        let mine_count = label_starts(&self.wire, &mut mine);
        let theirs_count = label_starts(&other.wire, &mut theirs);
        let mine = mine.get(..mine_count).unwrap_or_default();
        let theirs = theirs.get(..theirs_count).unwrap_or_default();
        for (&a, &b) in mine.iter().rev().zip(theirs.iter().rev()) {
            let (a, b) = (label_at(&self.wire, a), label_at(&other.wire, b));
            // Labels usually match byte for byte (the shared zone suffix).
            if a == b {
                continue;
            }
            let a = a.iter().map(u8::to_ascii_lowercase);
            let b = b.iter().map(u8::to_ascii_lowercase);
            match a.cmp(b) {
                Ordering::Equal => continue,
                other => return other,
            }
        }
        mine_count.cmp(&theirs_count)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            write_escaped_label(f, label)?;
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;
    fn from_str(text: &str) -> Result<Self, NameError> {
        Name::from_ascii(text)
    }
}

/// Writes one label in presentation format, escaping what RFC 1035 §5.1 requires.
pub(crate) fn write_escaped_label(f: &mut impl fmt::Write, label: &[u8]) -> fmt::Result {
    for &byte in label {
        match byte {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                f.write_char('\\')?;
                f.write_char(char::from(byte))?;
            }
            0x21..=0x7e => f.write_char(char::from(byte))?,
            _ => write!(f, "\\{byte:03}")?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::name;

    #[test]
    fn finds_suffixes_at_label_boundaries_only() {
        let name = b"\x03www\x07example\x03com\x00";
        assert_eq!(suffix_offset(name, b"\x07example\x03com\x00"), Some(4));
        assert_eq!(suffix_offset(name, b"\x00"), Some(16));
        assert_eq!(suffix_offset(name, name), Some(0));
        assert_eq!(suffix_offset(name, b"\x06xample\x03com\x00"), None);
    }

    #[test]
    fn parses_to_wire_and_back() {
        let n = name("www.Example.com.");
        assert_eq!(n.as_wire(), b"\x03www\x07Example\x03com\x00");
        assert_eq!(n.to_string(), "www.Example.com.");
        assert_eq!(n.to_lowercase_wire(), b"\x03www\x07example\x03com\x00");
    }

    #[test]
    fn relative_names_take_the_origin() {
        let origin = name("example.com.");
        let n = Name::parse_relative("www", Some(&origin)).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(n, name("www.example.com."));
        assert_eq!(Name::parse_relative("@", Some(&origin)), Ok(origin));
        assert!(matches!(
            Name::parse_relative("www", None),
            Err(NameError::Relative(_))
        ));
    }

    #[test]
    fn escapes_round_trip() {
        let n = name(r"a\.b\032c.example.");
        assert_eq!(n.labels().next(), Some(&b"a.b c"[..]));
        assert_eq!(n.to_string(), r"a\.b\032c.example.");
        assert_eq!(name(&n.to_string()), n);
    }

    #[test]
    fn rejects_bad_names() {
        assert!(matches!(
            Name::from_ascii("a..b"),
            Err(NameError::EmptyLabel(_))
        ));
        assert!(matches!(
            Name::from_ascii(&"a".repeat(64)),
            Err(NameError::LabelTooLong(_))
        ));
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(matches!(
            Name::from_ascii(&long),
            Err(NameError::NameTooLong(_))
        ));
        assert!(matches!(
            Name::from_ascii(r"a\25"),
            Err(NameError::BadEscape(_))
        ));
        assert!(matches!(
            Name::from_ascii(r"a\256"),
            Err(NameError::BadEscape(_))
        ));
    }

    #[test]
    fn compares_case_insensitively_in_canonical_order() {
        assert_eq!(name("WWW.example.COM"), name("www.example.com"));
        assert!(name("example.com") < name("a.example.com"));
        assert!(name("a.example.com") < name("b.example.com"));
        assert!(name("z.a.com") < name("b.com"));
    }

    #[test]
    fn sorts_the_rfc_4034_example_in_canonical_order() {
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            r"\001.z.example.",
            "*.z.example.",
            r"\200.z.example.",
        ];
        let names: Vec<Name> = ordered.iter().map(|n| name(n)).collect();
        let mut shuffled = names.clone();
        shuffled.reverse();
        shuffled.swap(1, 6);
        shuffled.sort();
        assert_eq!(shuffled, names);
        for pair in names.windows(2) {
            assert_eq!(
                pair[0].cmp(&pair[1]),
                Ordering::Less,
                "{} < {}",
                pair[0],
                pair[1]
            );
            assert_eq!(pair[1].cmp(&pair[0]), Ordering::Greater);
        }
        assert_eq!(name("A.b.").cmp(&name("a.B.")), Ordering::Equal);
        assert_eq!(Name::root().cmp(&name("a.")), Ordering::Less);
    }

    #[test]
    fn subdomains_and_parents() {
        let zone = name("example.com");
        assert!(name("a.b.example.com").is_subdomain_of(&zone));
        assert!(zone.is_subdomain_of(&zone));
        assert!(!name("example.org").is_subdomain_of(&zone));
        assert!(!name("xexample.com").is_subdomain_of(&zone));
        assert_eq!(name("a.example.com").parent(), Some(zone));
        assert_eq!(Name::root().parent(), None);
        assert!(name("*.example.com").is_wildcard());
    }

    #[test]
    fn from_wire_checks_lengths() {
        assert!(Name::from_wire(b"\x03www\x00").is_some());
        assert!(Name::from_wire(b"\x03ww\x00").is_none());
        assert!(Name::from_wire(b"\x03www").is_none());
    }
}
