//! The `ferrodns` binary: parses the command line and runs the subcommand.

use std::process::ExitCode;

use clap::Parser;
use ferrodns::cli::{Cli, Command, check_config};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => args.load().map_err(|e| e.to_string()).and_then(|config| {
            init_logging(&config.log_level);
            ferrodns::serve::run(config).map_err(|e| e.to_string())
        }),
        Command::CheckConfig(args) => check_config(&args)
            .map(|text| print!("{text}"))
            .map_err(|e| e.to_string()),
        Command::Store(args) => ferrodns::store_cli::run(&args)
            .map(|text| print!("{text}"))
            .map_err(|e| e.to_string()),
        Command::HealthCheck(args) => args
            .metrics_addr()
            .and_then(|metrics| {
                let config = args.load().map_err(|e| e.to_string())?;
                Ok((config, metrics))
            })
            .and_then(|(config, metrics)| {
                init_logging(&config.log_level);
                ferrodns::health::run_standalone(&config, metrics).map_err(|e| e.to_string())
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ferrodns: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; the filter was validated with the configuration.
fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
