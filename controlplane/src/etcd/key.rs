//! etcd key paths as domain names.
//!
//! Both layouts spell a name as its labels reversed, one path segment each, below a
//! prefix: `/containerdns/com/example/web/` is `web.example.com.`. A single trailing
//! `/` (containerdns writes one) is ignored; any other empty segment, a segment with
//! a dot in it (which would silently become two labels), or one over 63 octets is
//! an error, as is a name over 255 octets.
//!
//! etcd reads "every key under a prefix" as the range from the prefix to
//! [`prefix_end`], the first key past all of them.

use ferrodns_dataplane::name::{MAX_LABEL_LEN, MAX_NAME_LEN, Name};

/// The name a key path spells (`path` is the part after the layout's prefix).
pub(crate) fn path_name(path: &[u8]) -> Result<Name, String> {
    let path = path.strip_suffix(b"/").unwrap_or(path);
    if path.is_empty() {
        return Err("the key names no domain below the prefix".into());
    }
    let segments: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    let mut wire = Vec::with_capacity(path.len() + 2);
    for segment in segments.iter().rev() {
        if segment.is_empty() {
            return Err("empty path segment (`//`)".into());
        }
        if segment.contains(&b'.') {
            return Err(format!(
                "path segment {:?} contains a dot; write one label per segment",
                String::from_utf8_lossy(segment)
            ));
        }
        if segment.len() > MAX_LABEL_LEN {
            return Err(format!(
                "path segment {:?} is longer than 63 octets",
                String::from_utf8_lossy(segment)
            ));
        }
        wire.push(segment.len() as u8);
        wire.extend_from_slice(segment);
    }
    wire.push(0);
    if wire.len() > MAX_NAME_LEN {
        return Err("the name is longer than 255 octets".into());
    }
    Name::from_wire(&wire).ok_or_else(|| "not a domain name".into())
}

/// The key path of a name below `prefix` (which ends in `/`), labels reversed and
/// lowered, without a trailing `/`: the inverse of [`path_name`].
pub(crate) fn name_path(prefix: &str, name: &Name) -> String {
    let labels: Vec<String> = name
        .labels()
        .map(|label| String::from_utf8_lossy(label).to_ascii_lowercase())
        .collect();
    let mut path = String::from(prefix);
    for (i, label) in labels.iter().rev().enumerate() {
        if i > 0 {
            path.push('/');
        }
        path.push_str(label);
    }
    path
}

/// The first key after every key that starts with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// `name` without its `count` leftmost labels; `None` when that leaves nothing
/// but the root.
pub(crate) fn strip_labels(name: &Name, count: usize) -> Option<Name> {
    let mut out = name.clone();
    for _ in 0..count {
        out = out.parent()?;
    }
    (!out.is_root()).then_some(out)
}

/// True when the first labels of `name` are `first` (compared ignoring case) and
/// returns what follows them.
pub(crate) fn below_labels(name: &Name, first: &[&[u8]]) -> Option<Name> {
    let mut labels = name.labels();
    for expected in first {
        if !labels.next()?.eq_ignore_ascii_case(expected) {
            return None;
        }
    }
    strip_labels(name, first.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodns_dataplane::testkit::name;

    #[test]
    fn reversed_segments_are_labels() {
        assert_eq!(path_name(b"com/example/web/"), Ok(name("web.example.com.")));
        assert_eq!(path_name(b"com/example/web"), Ok(name("web.example.com.")));
        assert_eq!(
            path_name(b"arpa/in-addr/10/0/0/1"),
            Ok(name("1.0.0.10.in-addr.arpa."))
        );
    }

    #[test]
    fn bad_paths_are_explained() {
        for (path, words) in [
            (&b""[..], "no domain"),
            (b"/", "no domain"),
            (b"com//web", "empty path segment"),
            (b"com/a.b", "contains a dot"),
        ] {
            let err = path_name(path).err().unwrap_or_default();
            assert!(err.contains(words), "{path:?}: {err}");
        }
        let long = format!("com/{}", "x".repeat(64));
        assert!(path_name(long.as_bytes()).is_err());
        let huge = vec!["abcdefghij"; 30].join("/");
        assert!(path_name(huge.as_bytes()).is_err());
    }

    #[test]
    fn prefix_end_is_the_first_key_past_the_prefix() {
        assert_eq!(prefix_end(b"/skydns/"), b"/skydns0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn label_helpers() {
        assert_eq!(strip_labels(&name("a.b.c."), 1), Some(name("b.c.")));
        assert_eq!(strip_labels(&name("a.b.c."), 3), None);
        assert_eq!(
            below_labels(&name("x1.NS.dns.example."), &[b"x1", b"ns", b"dns"]),
            Some(name("example."))
        );
        assert_eq!(
            below_labels(&name("ns.dns.example."), &[b"ns", b"dns"]),
            Some(name("example."))
        );
        assert_eq!(below_labels(&name("mail.example."), &[b"ns", b"dns"]), None);
    }
}
