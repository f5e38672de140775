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
    /// The whole configuration.
    pub(super) fn build(&self, raw: RawConfig) -> Result<ServeConfig, ConfigError> {
        let listen = self.listen(raw.server.listen.as_ref())?;
        let (workers, cores) = self.workers(raw.server.workers, raw.server.cores)?;
        let default_policy = self.default_policy(raw.server.policy.as_ref())?;
        let tcp = self.tcp(&raw.tcp)?;
        let store = self.store(raw.store.path.as_ref())?;
        let chaos_version = self.chaos(raw.chaos.version, "chaos.version")?;
        let chaos_id = self.chaos(raw.chaos.id, "chaos.id")?;
        let log_level = self.log_level(raw.log.level.as_ref())?;
        let zones = self.zones(raw.zone)?;
        let etcd = self.etcd(raw.etcd)?;
        if let Some(etcd) = &etcd {
            check_etcd_feeds_a_zone(etcd, &zones)?;
        }
        let pdns_remote = self.pdns_remote(raw.pdns_remote)?;
        let forward = self.forward(&raw.forward)?;
        let transfer = self.transfer(&raw.transfer)?;
        let dataplane = self.dataplane(&raw.dataplane, &listen)?;
        let api = self.api(&raw.api)?;
        if let Some(api) = &api
            && etcd.is_none()
            && store.is_none()
        {
            return Err(api_without_records(api));
        }
        let health = self.health(raw.health, false, etcd.is_some())?;
        let metrics = self.metrics(&raw.metrics)?;
        let dnstap = self.dnstap(raw.dnstap)?;
        let query_stats = self.query_stats(&raw.stats);
        Ok(ServeConfig {
            listen,
            workers,
            cores,
            default_policy,
            tcp,
            store,
            chaos_version,
            chaos_id,
            log_level,
            zones,
            etcd,
            pdns_remote,
            forward,
            transfer,
            dataplane,
            api,
            health,
            metrics,
            dnstap,
            query_stats,
        })
    }

    /// The settings of `ferrodns health-check`: etcd (required) and the checker.
    pub(super) fn build_health_check(
        &self,
        raw: RawConfig,
    ) -> Result<HealthCheckConfig, ConfigError> {
        let log_level = self.log_level(raw.log.level.as_ref())?;
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
