//! The command line: `ferroctl [--server URL] [--token T] [--json] <noun> <verb> ...`.
//!
//! The nouns and verbs mirror the `/v1` resources of the REST API
//! (`docs/api.md`); every command is one or a few requests.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ferroctl",
    version,
    about = "Manage the records, zones and health of a ferrodns appliance through its REST API"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) connection: Connection,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the API is and how to prove who we are.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// Base URL of the API (http:// or https://).
    #[arg(
        long,
        env = "FERRODNS_API",
        default_value = "http://127.0.0.1:8053",
        global = true
    )]
    pub(crate) server: String,
    /// API token, sent as `Authorization: Bearer <token>`.
    #[arg(
        long,
        env = "FERRODNS_API_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub(crate) token: Option<String>,
    /// PEM file of the CA that signed an https API's certificate (instead of the
    /// public web roots).
    #[arg(long, env = "FERRODNS_API_CA", global = true)]
    pub(crate) ca_cert: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Records: list, get, add, update, delete.
    #[command(subcommand)]
    Records(RecordsCommand),
    /// Zones the appliance serves from its records source.
    #[command(subcommand)]
    Zones(ZonesCommand),
    /// Backend health status (UP/DOWN per address).
    #[command(subcommand)]
    Health(HealthCommand),
    /// Table size, queries, per-core counters, etcd state, health counts.
    Stats,
    /// Reload the server's configuration, zone files and store, as SIGHUP does,
    /// and show what changed and which changed settings need a restart.
    Reload,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RecordsCommand {
    /// Records of a zone, optionally of one name (and below it) or one type.
    List {
        #[arg(long)]
        zone: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// With --name: the name and every name below it.
        #[arg(long, requires = "name")]
        subtree: bool,
        #[arg(long = "type")]
        rtype: Option<String>,
    },
    /// Records at one name.
    Get {
        name: String,
        #[arg(long = "type")]
        rtype: Option<String>,
    },
    /// Adds one record to its RRset.
    Add {
        name: String,
        #[arg(value_name = "TYPE")]
        rtype: String,
        /// The rdata in zone-file format (quote it when it has spaces:
        /// "10 5 80 target.example.").
        data: String,
        #[arg(long)]
        ttl: Option<u32>,
    },
    /// Replaces the RRset of NAME and TYPE by the records given.
    Update {
        name: String,
        #[arg(value_name = "TYPE")]
        rtype: String,
        #[arg(required = true)]
        data: Vec<String>,
        #[arg(long)]
        ttl: Option<u32>,
    },
    /// Deletes every record at NAME, its RRset of TYPE, or the one record DATA.
    Delete {
        name: String,
        #[arg(value_name = "TYPE")]
        rtype: Option<String>,
        #[arg(requires = "rtype")]
        data: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ZonesCommand {
    /// Every zone.
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HealthCommand {
    /// Every backend address with its status, and the checker that gave it.
    List,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn delete_data_needs_a_type_and_subtree_needs_a_name() {
        assert!(Cli::try_parse_from(["ferroctl", "records", "list", "--subtree"]).is_err());
        let cli = Cli::try_parse_from(["ferroctl", "records", "delete", "a.b.", "A", "10.0.0.1"])
            .unwrap();
        let Command::Records(RecordsCommand::Delete { rtype, data, .. }) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(
            (rtype.as_deref(), data.as_deref()),
            (Some("A"), Some("10.0.0.1"))
        );
    }

    #[test]
    fn update_needs_at_least_one_record() {
        assert!(Cli::try_parse_from(["ferroctl", "records", "update", "a.b.", "A"]).is_err());
    }
}
