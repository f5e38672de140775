//! `ferroctl`: the ferrodns REST API for people, like containerdns-apicmd.
//!
//! ```sh
//! export FERRODNS_API=http://127.0.0.1:8053 FERRODNS_API_TOKEN=secret
//! ferroctl records add web.svc.example. A 10.0.0.1 --ttl 30
//! ferroctl records list --zone svc.example.
//! ```
//!
//! [`cli`] is the command line, [`commands`] turns each command into `/v1`
//! requests and tables, [`client`] speaks HTTP(S) and keeps the server's errors as
//! they came. Exit status: 0 done, 1 the server answered with an error, 2 the
//! server could not be reached (or ferroctl's own settings are unusable).

mod cli;
mod client;
mod commands;
mod table;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::Cli;
use crate::client::{ApiClient, ClientError};

fn main() -> ExitCode {
    if let Some(code) = ferrodns_clidoc::intercept(Cli::command) {
        return code;
    }
    let cli = Cli::parse();
    let result = ApiClient::new(&cli.connection).and_then(|c| commands::run(&c, &cli.command));
    match result {
        Ok(output) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&output.json).unwrap_or_default()
                );
            } else {
                print!("{}", output.table);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("ferroctl: {error}");
            match error {
                ClientError::Server { .. } | ClientError::Protocol { .. } => ExitCode::from(1),
                ClientError::Connection { .. } | ClientError::Setup(_) => ExitCode::from(2),
            }
        }
    }
}
