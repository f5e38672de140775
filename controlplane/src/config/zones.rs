//! The authoritative zones: `[[zone]]` sections, then `--zone ORIGIN=PATH` and
//! `--domain ORIGIN`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferrodns_dataplane::name::Name;
use ferrodns_dataplane::record::AnswerPolicy;

use super::error::{ConfigError, Location};
use super::file::RawZone;
use super::merge::{Merge, flag_error, flag_path};

/// One authoritative zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    pub origin: Name,
    /// RFC 1035 zone file (absolute); `None` for a zone that lives only in the store.
    pub file: Option<PathBuf>,
    /// Policy for the zone's names; `None` means the server's default policy.
    pub policy: Option<AnswerPolicy>,
    /// Per-name overrides, each name inside the zone, unique, in canonical order.
    pub name_policies: Vec<(Name, AnswerPolicy)>,
}

impl ZoneConfig {
    /// A zone with the server's default policy and no overrides.
    fn plain(origin: Name, file: Option<PathBuf>) -> Self {
        ZoneConfig {
            origin,
            file,
            policy: None,
            name_policies: Vec::new(),
        }
    }
}

impl Merge<'_> {
    /// The file's zones in file order, then those `--zone` and `--domain` add.
    pub(super) fn zones(&self, raw: Vec<RawZone>) -> Result<Vec<ZoneConfig>, ConfigError> {
        let mut zones = self.file_zones(raw)?;
        self.flag_zones(&mut zones)?;
        self.flag_domains(&mut zones)?;
        Ok(zones)
    }

    fn file_zones(&self, raw: Vec<RawZone>) -> Result<Vec<ZoneConfig>, ConfigError> {
        let mut zones: Vec<ZoneConfig> = Vec::with_capacity(raw.len());
        let mut seen: HashMap<Name, Location> = HashMap::new();
        for zone in raw {
            let origin = Name::from_ascii(zone.origin.get_ref())
                .map_err(|e| self.invalid(&zone.origin, "zone.origin", e.to_string()))?;
            let at = self.source().at(zone.origin.span());
            if let Some(first) = seen.get(&origin) {
                let reason = format!("zone {origin} is already defined at {first}");
                return Err(self.invalid(&zone.origin, "zone.origin", reason));
            }
            seen.insert(origin.clone(), at);
            let file = self.optional_path(zone.file.as_ref(), "zone.file")?;
            let policy = match &zone.policy {
                Some(value) => Some(self.policy(value, "zone.policy")?),
                None => None,
            };
            let name_policies = self.name_policies(&zone, &origin)?;
            zones.push(ZoneConfig {
                origin,
                file,
                policy,
                name_policies,
            });
        }
        Ok(zones)
    }

    /// A zone's `[zone.names]`, in canonical order.
    fn name_policies(
        &self,
        zone: &RawZone,
        origin: &Name,
    ) -> Result<Vec<(Name, AnswerPolicy)>, ConfigError> {
        let mut name_policies: Vec<(Name, AnswerPolicy)> = Vec::new();
        for (key, value) in &zone.names {
            // Errors about the name point at the key and show the whole entry.
            let key_name = format!("zone.names.{:?}", key.get_ref());
            let bad_name = |reason| self.invalid_at(key.span(), &key_name, value.get_ref(), reason);
            let name = Name::from_ascii(key.get_ref()).map_err(|e| bad_name(e.to_string()))?;
            if !name.is_subdomain_of(origin) {
                return Err(bad_name(format!("{name} is not inside zone {origin}")));
            }
            if name_policies.iter().any(|(n, _)| *n == name) {
                return Err(bad_name(format!(
                    "{name} is listed twice (names ignore case)"
                )));
            }
            name_policies.push((name, self.policy(value, &key_name)?));
        }
        name_policies.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(name_policies)
    }

    /// Adds the `--zone ORIGIN=PATH` flags to the zones from the file.
    fn flag_zones(&self, zones: &mut Vec<ZoneConfig>) -> Result<(), ConfigError> {
        let file_zones = zones.len();
        for text in &self.flags.zones {
            let Some((origin_text, path)) = text.split_once('=') else {
                return Err(flag_error("--zone", text, "expected ORIGIN=PATH".into()));
            };
            let origin = Name::from_ascii(origin_text)
                .map_err(|e| flag_error("--zone", text, format!("bad origin: {e}")))?;
            if path.is_empty() {
                return Err(flag_error(
                    "--zone",
                    text,
                    "expected ORIGIN=PATH, PATH is empty".into(),
                ));
            }
            let file = flag_path("--zone", Path::new(path))?;
            match zones.iter().position(|z| z.origin == origin) {
                Some(i) if i >= file_zones => {
                    let reason = format!("zone {origin} is given twice");
                    return Err(flag_error("--zone", text, reason));
                }
                Some(i) => {
                    if let Some(zone) = zones.get_mut(i) {
                        zone.file = Some(file);
                    }
                }
                None => zones.push(ZoneConfig::plain(origin, Some(file))),
            }
        }
        Ok(())
    }

    /// Adds the `--domain ORIGIN` flags: zones without a file.
    fn flag_domains(&self, zones: &mut Vec<ZoneConfig>) -> Result<(), ConfigError> {
        let mut given: Vec<Name> = Vec::new();
        for text in &self.flags.domains {
            let origin = Name::from_ascii(text)
                .map_err(|e| flag_error("--domain", text, format!("bad origin: {e}")))?;
            if given.contains(&origin) {
                return Err(flag_error("--domain", text, "given twice".into()));
            }
            given.push(origin.clone());
            match zones.iter().find(|z| z.origin == origin) {
                Some(zone) if zone.file.is_some() => {
                    let reason = format!(
                        "zone {origin} is served from a zone file; a --domain zone takes its \
                         records from etcd or the store"
                    );
                    return Err(flag_error("--domain", text, reason));
                }
                Some(_) => {}
                None => zones.push(ZoneConfig::plain(origin, None)),
            }
        }
        Ok(())
    }
}
