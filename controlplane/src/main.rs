//! The `ferrodns` binary: parses the command line and runs the subcommand.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use ferrodns::cli::{Cli, Command, ServeArgs, check_config, check_zone};
use ferrodns::serve::Service;
use ferrodns::service::init_logging;

fn main() -> ExitCode {
    if let Some(code) = ferrodns_clidoc::intercept(Cli::command) {
        return code;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::CheckConfig(args) => check_config(&args)
            .map(|text| print!("{text}"))
            .map_err(|e| e.to_string()),
        Command::CheckZone(args) => check_zone(&args)
            .map(|text| print!("{text}"))
            .map_err(|e| e.to_string()),
        Command::Hugepages(args) => ferrodns::hugepages::run(args.pages, args.check)
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
                init_logging(&config.log_level, config.log_format);
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

/// `ferrodns serve`: a reload loads the configuration as start-up did, from
/// the same command line.
fn serve(args: ServeArgs) -> Result<(), String> {
    let config = args.load().map_err(|e| e.to_string())?;
    init_logging(&config.log_level, config.log_format);
    let service = Service {
        pid_file: args.pid_file.clone(),
        reload: Box::new(move || args.load()),
    };
    ferrodns::serve::run(config, service).map_err(|e| e.to_string())
}
