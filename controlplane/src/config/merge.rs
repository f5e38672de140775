//! One merge of the command line over the file over the defaults.
//!
//! [`Merge::build`] takes the sections in a fixed order, so that of several bad
//! values the same one is always reported, and then checks what spans sections
//! (etcd needs a zone to feed, the API a place to write). Each section's own merge
//! is an `impl Merge` in that section's file; here are the helpers they share: a
//! flag that wins over a file key, paths, lists of addresses, bounded numbers, and
//! the errors that point at the flag or at the value's line.

use std::fmt;
use std::net::SocketAddr;
use std::ops::{Bound, Range, RangeBounds};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrodns_dataplane::record::{AnswerPolicy, UnknownPolicy};
use toml::Spanned;

use super::error::{ConfigError, Location};
use super::file::{RawConfig, Text, TextList};
use super::overrides::Overrides;
use super::source::Source;
use super::{ApiSettings, EtcdSettings, HealthCheckConfig, ServeConfig, ZoneConfig};

/// The command line and the file (if any) being merged.
pub(super) struct Merge<'a> {
    pub(super) flags: &'a Overrides,
    pub(super) source: Option<&'a Source<'a>>,
}

impl Merge<'_> {
    /// The whole configuration. Every section is merged even when an earlier
    /// one failed, so that one load reports every bad value it can find
    /// ([`ConfigError::Several`]); a check across sections runs only when the
    /// sections it reads are good.
    pub(super) fn build(&self, raw: RawConfig) -> Result<ServeConfig, ConfigError> {
        let mut found = Found::default();
        let listen = found.take(self.listen(raw.server.listen.as_ref()));
        let (workers, cores) = found
            .take(self.workers(raw.server.workers, raw.server.cores))
            .unwrap_or_default();
        let default_policy = found.take(self.default_policy(raw.server.policy.as_ref()));
        let tcp = found.take(self.tcp(&raw.tcp));
        let store = found.take(self.store(raw.store.path.as_ref()));
        let chaos_version = found.take(self.chaos(raw.chaos.version, "chaos.version"));
        let chaos_id = found.take(self.chaos(raw.chaos.id, "chaos.id"));
        let log_level = found.take(self.log_level(raw.log.level.as_ref()));
        let log_format = found.take(self.log_format(raw.log.format.as_ref()));
        let zones = found.take(self.zones(raw.zone));
        let etcd = found.take(self.etcd(raw.etcd));
        if let (Some(Some(etcd)), Some(zones)) = (&etcd, &zones) {
            found.take(check_etcd_feeds_a_zone(etcd, zones));
        }
        let pdns_remote = found.take(self.pdns_remote(raw.pdns_remote));
        let forward = found.take(self.forward(&raw.forward));
        let transfer = found.take(self.transfer(&raw.transfer));
        let dataplane = listen
            .as_ref()
            .and_then(|listen| found.take(self.dataplane(&raw.dataplane, listen)));
        let api = found.take(self.api(&raw.api));
        if let (Some(Some(api)), Some(None), Some(None)) = (&api, &etcd, &store) {
            found.take(Err::<(), _>(api_without_records(api)));
        }
        let health = etcd
            .as_ref()
            .and_then(|etcd| found.take(self.health(raw.health, false, etcd.is_some())));
        let metrics = found.take(self.metrics(&raw.metrics));
        let dnstap = found.take(self.dnstap(raw.dnstap));
        let query_stats = self.query_stats(&raw.stats);
        found.finish()?;
        Ok(ServeConfig {
            listen: listen.unwrap_or_default(),
            workers,
            cores,
            default_policy: default_policy.unwrap_or_default(),
            tcp: tcp.unwrap_or_default(),
            store: store.unwrap_or_default(),
            chaos_version: chaos_version.unwrap_or_default(),
            chaos_id: chaos_id.unwrap_or_default(),
            log_level: log_level.unwrap_or_default(),
            log_format: log_format.unwrap_or_default(),
            zones: zones.unwrap_or_default(),
            etcd: etcd.unwrap_or_default(),
            pdns_remote: pdns_remote.unwrap_or_default(),
            forward: forward.unwrap_or_default(),
            transfer: transfer.unwrap_or_default(),
            dataplane: dataplane.unwrap_or_default(),
            api: api.unwrap_or_default(),
            health: health.unwrap_or_default(),
            metrics: metrics.unwrap_or_default(),
            dnstap: dnstap.unwrap_or_default(),
            query_stats,
        })
    }

    /// The settings of `ferrodns health-check`: etcd (required) and the checker.
    pub(super) fn build_health_check(
        &self,
        raw: RawConfig,
    ) -> Result<HealthCheckConfig, ConfigError> {
        let log_level = self.log_level(raw.log.level.as_ref())?;
        let log_format = self.log_format(raw.log.format.as_ref())?;
        let etcd = self.etcd(raw.etcd)?.ok_or_else(|| ConfigError::Invalid {
            at: Location::CommandLine,
            key: "etcd".into(),
            value: String::new(),
            reason: "health-check checks the addresses etcd lists: give --etcd URL or [etcd]"
                .into(),
        })?;
        let health = self.health(raw.health, true, true)?.unwrap_or_default();
        if !health.etcd {
            return Err(ConfigError::Invalid {
                at: Location::CommandLine,
                key: "health.etcd".into(),
                value: "false".into(),
                reason: "health-check checks only the addresses etcd lists ([health.names] \
                         is checked by `ferrodns serve`)"
                    .into(),
            });
        }
        Ok(HealthCheckConfig {
            etcd,
            health,
            log_level,
            log_format,
        })
    }

    /// The file, for a value that came from it.
    pub(super) fn source(&self) -> &Source<'_> {
        // Only called for values that came from the file, so there is one.
        self.source
            .unwrap_or_else(|| unreachable!("file value without a file"))
    }

    /// An error about a value from the file; strings are shown quoted.
    pub(super) fn invalid<T: fmt::Debug>(
        &self,
        value: &Spanned<T>,
        key: &str,
        reason: String,
    ) -> ConfigError {
        self.invalid_at(value.span(), key, value.get_ref(), reason)
    }

    /// An error at `span` of the file about `key`, showing `shown` (quoted if a
    /// string): for a table entry whose key is the bad part, the entry's value.
    pub(super) fn invalid_at(
        &self,
        span: Range<usize>,
        key: &str,
        shown: &dyn fmt::Debug,
        reason: String,
    ) -> ConfigError {
        ConfigError::Invalid {
            at: self.source().at(span),
            key: key.to_owned(),
            value: format!("{shown:?}"),
            reason,
        }
    }

    /// A setting a flag and a file key both give, the flag winning; each parsed by
    /// `parse`, whose error names the flag or the key. `None` when neither is given.
    pub(super) fn flag_or_key<T>(
        &self,
        (flag, flag_value): (&str, Option<&str>),
        (key, file_value): (&str, Option<&Text>),
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match (flag_value, file_value) {
            (Some(text), _) => parse(text).map(Some).map_err(|r| flag_error(flag, text, r)),
            (None, Some(value)) => parse(value.get_ref())
                .map(Some)
                .map_err(|r| self.invalid(value, key, r)),
            (None, None) => Ok(None),
        }
    }

    /// A path a flag and a file key both give: the flag's relative to the working
    /// directory, the file's relative to the file.
    pub(super) fn path_setting(
        &self,
        (flag, flag_value): (&str, Option<&Path>),
        (key, file_value): (&str, Option<&Text>),
    ) -> Result<Option<PathBuf>, ConfigError> {
        match flag_value {
            Some(path) => flag_path(flag, path).map(Some),
            None => self.optional_path(file_value, key),
        }
    }

    /// A path from the file, relative to the file's directory.
    pub(super) fn file_path(&self, value: &Text, key: &str) -> Result<PathBuf, ConfigError> {
        if value.get_ref().is_empty() {
            return Err(self.invalid(value, key, "empty path".into()));
        }
        Ok(self.source().dir.join(value.get_ref()))
    }

    /// [`Merge::file_path`] of a key that may be missing.
    pub(super) fn optional_path(
        &self,
        value: Option<&Text>,
        key: &str,
    ) -> Result<Option<PathBuf>, ConfigError> {
        value.map(|value| self.file_path(value, key)).transpose()
    }

    /// Addresses the flag `flag` (repeated) or the file key `key` list, parsed by
    /// `parse`; an address may not be given twice. `None` when neither is given.
    pub(super) fn addresses(
        &self,
        (flag, flag_texts): (&str, &[String]),
        (key, file_list): (&str, Option<&TextList>),
        parse: fn(&str) -> Result<SocketAddr, String>,
        may_be_empty: bool,
    ) -> Result<Option<Vec<SocketAddr>>, ConfigError> {
        if !flag_texts.is_empty() {
            return unique(
                flag_texts,
                |text| parse(text).map_err(|r| flag_error(flag, text, r)),
                |text| flag_error(flag, text, "given twice".into()),
            )
            .map(Some);
        }
        file_list
            .map(|list| self.file_addresses(list, key, parse, may_be_empty))
            .transpose()
    }

    /// A list of addresses from the file; `may_be_empty` where an empty list means
    /// none.
    pub(super) fn file_addresses(
        &self,
        list: &TextList,
        key: &str,
        parse: fn(&str) -> Result<SocketAddr, String>,
        may_be_empty: bool,
    ) -> Result<Vec<SocketAddr>, ConfigError> {
        if list.get_ref().is_empty() && !may_be_empty {
            return Err(self.invalid(list, key, "needs at least one address".into()));
        }
        unique(
            list.get_ref(),
            |text| parse(text.get_ref()).map_err(|r| self.invalid(text, key, r)),
            |text| self.invalid(text, key, "listed twice".into()),
        )
    }

    /// A number from the file that must lie in `range`.
    pub(super) fn bounded<T>(
        &self,
        value: Option<&Spanned<T>>,
        key: &str,
        range: impl RangeBounds<T>,
    ) -> Result<Option<T>, ConfigError>
    where
        T: Copy + PartialOrd + fmt::Debug + fmt::Display,
    {
        let Some(value) = value else { return Ok(None) };
        if range.contains(value.get_ref()) {
            return Ok(Some(*value.get_ref()));
        }
        let reason = match (range.start_bound(), range.end_bound()) {
            (Bound::Included(start), Bound::Included(end)) => format!("must be {start} to {end}"),
            (Bound::Included(start), _) => format!("must be at least {start}"),
            _ => unreachable!("the ranges of the settings start at their least value"),
        };
        Err(self.invalid(value, key, reason))
    }

    /// A time in milliseconds from the file, at least 1.
    pub(super) fn milliseconds(
        &self,
        value: Option<&Spanned<u64>>,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        let Some(ms) = value else { return Ok(None) };
        if *ms.get_ref() == 0 {
            return Err(self.invalid(ms, key, "must be at least 1 millisecond".into()));
        }
        Ok(Some(Duration::from_millis(*ms.get_ref())))
    }

    /// An answer policy from the file.
    pub(super) fn policy(&self, value: &Text, key: &str) -> Result<AnswerPolicy, ConfigError> {
        parse_policy(value.get_ref()).map_err(|r| self.invalid(value, key, r))
    }
}

/// The errors of one merge, gathered section by section.
#[derive(Default)]
struct Found(Vec<ConfigError>);

impl Found {
    /// The value of a section that merged, or `None` with its error kept.
    fn take<T>(&mut self, merged: Result<T, ConfigError>) -> Option<T> {
        merged.map_err(|e| self.0.push(e)).ok()
    }

    /// Every error kept: none, one, or [`ConfigError::Several`].
    fn finish(mut self) -> Result<(), ConfigError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.remove(0)),
            _ => Err(ConfigError::Several(self.0)),
        }
    }
}

/// Parses every item; one that equals an earlier one is an error (`twice`).
fn unique<I: Copy, T: PartialEq>(
    items: impl IntoIterator<Item = I>,
    parse: impl Fn(I) -> Result<T, ConfigError>,
    twice: impl Fn(I) -> ConfigError,
) -> Result<Vec<T>, ConfigError> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        let value = parse(item)?;
        if out.contains(&value) {
            return Err(twice(item));
        }
        out.push(value);
    }
    Ok(out)
}

/// etcd is configured only for zones without a file.
fn check_etcd_feeds_a_zone(etcd: &EtcdSettings, zones: &[ZoneConfig]) -> Result<(), ConfigError> {
    if zones.iter().any(|z| z.file.is_none()) {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        at: Location::CommandLine,
        key: "etcd".into(),
        value: etcd.endpoints.join(" "),
        reason: "etcd is configured but no zone takes its records: add --domain ORIGIN \
                 or a [[zone]] without a file"
            .into(),
    })
}

/// The API was asked for without a place to write records to.
fn api_without_records(api: &ApiSettings) -> ConfigError {
    ConfigError::Invalid {
        at: Location::CommandLine,
        key: "api".into(),
        value: api.listen.to_string(),
        reason: "the API writes records to etcd or to the embedded store: add --etcd \
                 or --store PATH"
            .into(),
    }
}

/// An error about a flag's value.
pub(super) fn flag_error(flag: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        at: Location::CommandLine,
        key: flag.to_owned(),
        value: format!("{value:?}"),
        reason,
    }
}

/// A path from the command line, relative to the working directory.
pub(super) fn flag_path(flag: &str, path: &Path) -> Result<PathBuf, ConfigError> {
    std::path::absolute(path)
        .map_err(|e| flag_error(flag, &path.to_string_lossy(), format!("bad path: {e}")))
}

/// `IP:PORT`, the form of listen addresses.
pub(super) fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        "expected IP:PORT such as 127.0.0.1:53 or [::1]:53 (host names are not resolved)".into()
    })
}

pub(super) fn parse_policy(text: &str) -> Result<AnswerPolicy, String> {
    text.parse().map_err(|e: UnknownPolicy| e.to_string())
}
