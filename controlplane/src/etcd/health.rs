//! Backend health as containerdns's scanner writes it:
//! `/containerdns/monitor/status/<ip>` = `{"status":"UP","ports":["80"],...}`.
//!
//! Only the status `UP` counts as alive; any other status marks the address DOWN.
//! An address with no status key at all is alive (health is opt-in per backend).
//! The compiler leaves DOWN addresses out of every answer, unless every address of
//! an RRset is DOWN, then it serves them all.

use std::net::IpAddr;

use serde::Deserialize;

#[derive(Deserialize)]
struct Status {
    status: String,
}

/// The address a status key is about (`path` is what follows the prefix).
pub(crate) fn ip_of(path: &[u8]) -> Result<IpAddr, String> {
    let path = path.strip_suffix(b"/").unwrap_or(path);
    std::str::from_utf8(path)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            format!(
                "health key should end in an IP address, not {:?}",
                String::from_utf8_lossy(path)
            )
        })
}

/// The address and whether it is UP.
pub(crate) fn decode(path: &[u8], value: &[u8]) -> Result<(IpAddr, bool), String> {
    let ip = ip_of(path)?;
    let status: Status =
        serde_json::from_slice(value).map_err(|e| format!("bad health status JSON: {e}"))?;
    Ok((ip, status.status == "UP"))
}

/// The ports a status value lists (`"ports":[80]` or `["80"]`); none when the
/// value has no readable list.
pub(crate) fn ports(value: &[u8]) -> Vec<u16> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    #[derive(Deserialize)]
    struct Ports {
        #[serde(default)]
        ports: Vec<Port>,
    }
    let Ok(parsed) = serde_json::from_slice::<Ports>(value) else {
        return Vec::new();
    };
    parsed
        .ports
        .into_iter()
        .filter_map(|port| match port {
            Port::Number(port) => Some(port),
            Port::Text(text) => text.parse().ok(),
        })
        .collect()
}

/// A string field of a status value (`checker`, `checked`), if it has one.
pub(crate) fn text_field(value: &[u8], field: &str) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(map)) => map.get(field)?.as_str().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_as_numbers_or_strings() {
        assert_eq!(
            ports(br#"{"status":"UP","ports":["80",443]}"#),
            vec![80, 443]
        );
        assert_eq!(ports(br#"{"status":"UP"}"#), Vec::<u16>::new());
    }

    #[test]
    fn the_checker_of_a_verdict_is_read_from_its_value() {
        let value = br#"{"status":"DOWN","checker":"node-2","checked":"2026-12-08T10:00:00Z"}"#;
        assert_eq!(text_field(value, "checker").as_deref(), Some("node-2"));
        assert_eq!(
            text_field(value, "checked").as_deref(),
            Some("2026-12-08T10:00:00Z")
        );
        assert_eq!(text_field(br#"{"status":"UP"}"#, "checker"), None);
        assert_eq!(text_field(b"[1]", "checker"), None);
    }

    #[test]
    fn only_up_is_alive() {
        let up = br#"{"status":"UP","ports":["80","443"],"domains":["web.example.com."]}"#;
        assert_eq!(
            decode(b"10.0.0.1", up),
            Ok(("10.0.0.1".parse().unwrap_or_else(|_| unreachable!()), true))
        );
        let down = br#"{"status":"DOWN","ports":["80"]}"#;
        assert_eq!(decode(b"fd00::1/", down).map(|(_, up)| up), Ok(false));
        assert_eq!(
            decode(b"10.0.0.1", br#"{"status":"up"}"#).map(|(_, up)| up),
            Ok(false)
        );
    }

    #[test]
    fn bad_keys_and_values_are_explained() {
        let err = decode(b"web", br#"{"status":"UP"}"#)
            .err()
            .unwrap_or_default();
        assert!(err.contains("IP address"), "{err}");
        let err = decode(b"10.0.0.1", b"{\"status\":")
            .err()
            .unwrap_or_default();
        assert!(err.contains("bad health status JSON"), "{err}");
        let err = decode(b"10.0.0.1", br#"{"ports":[]}"#)
            .err()
            .unwrap_or_default();
        assert!(err.contains("status"), "{err}");
    }
}
