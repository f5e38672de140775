//! Man pages and shell completions of the ferrodns binaries, generated from
//! their own clap commands, so the documentation installed with the package
//! (`tools/package`) is always the command line that was built.
//!
//! Every ferrodns binary (`ferrodns`, `ferroctl`, `queryperf`) calls
//! [`intercept`] first thing in `main`: started as `BINARY --generate-docs
//! DIR` (exactly these arguments; the flag is in no help text, it is for the
//! packaging script), it writes into `DIR`
//!
//! - `man/man1/BINARY.1`, and `BINARY-SUB.1` for every subcommand (`git`'s
//!   convention: `man ferrodns-serve`), nested ones too;
//! - `completions/bash/BINARY`, `completions/zsh/_BINARY`,
//!   `completions/fish/BINARY.fish`,
//!
//! and exits; with any other arguments it returns and the binary parses its
//! command line as usual. One mechanism for every binary, whatever the shape
//! of its command line (subcommands or dnsperf's flags).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Command;
use clap_complete::Shell;

/// The arguments that ask a binary for its documentation.
pub const FLAG: &str = "--generate-docs";

/// When the process's arguments are `--generate-docs DIR`, writes the man
/// pages and completions of `command` into `DIR` and returns the exit code
/// `main` should return; otherwise `None`.
pub fn intercept(command: impl FnOnce() -> Command) -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let (Some(flag), Some(dir), None) = (args.next(), args.next(), args.next()) else {
        return None;
    };
    if flag != FLAG {
        return None;
    }
    let command = command();
    let name = command.get_name().to_owned();
    Some(match generate(command, Path::new(&dir)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: cannot write its documentation: {e}");
            ExitCode::FAILURE
        }
    })
}

/// Writes the man pages and completions of `command` under `dir` (the
/// layout of the module docs); returns the files written.
pub fn generate(command: Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut command = command;
    command.build();
    let mut written = Vec::new();
    let man = dir.join("man/man1");
    fs::create_dir_all(&man)?;
    man_pages(&command, &man, &mut written)?;
    let name = command.get_name().to_owned();
    for (shell, file) in [
        (Shell::Bash, format!("bash/{name}")),
        (Shell::Zsh, format!("zsh/_{name}")),
        (Shell::Fish, format!("fish/{name}.fish")),
    ] {
        let path = dir.join("completions").join(file);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out = fs::File::create(&path)?;
        clap_complete::generate(shell, &mut command, &name, &mut out);
        written.push(path);
    }
    Ok(written)
}

/// The page of `command` and those of its visible subcommands. A built
/// command names its subcommands `PARENT-NAME` (their display name).
fn man_pages(command: &Command, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    let name = command
        .get_display_name()
        .unwrap_or_else(|| command.get_name());
    let path = dir.join(format!("{name}.1"));
    let mut out = fs::File::create(&path)?;
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    written.push(path);
    for sub in command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
    {
        man_pages(sub, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    #[test]
    fn a_page_per_visible_command_and_a_completion_per_shell() {
        let command = Command::new("tool")
            .about("A tool")
            .arg(
                Arg::new("verbose")
                    .long("verbose")
                    .action(ArgAction::SetTrue),
            )
            .subcommand(
                Command::new("run")
                    .about("Runs")
                    .subcommand(Command::new("fast")),
            )
            .subcommand(Command::new("secret").hide(true));
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let written = generate(command, dir.path()).unwrap_or_else(|e| unreachable!("{e}"));
        let mut names: Vec<String> = written
            .iter()
            .filter_map(|p| p.strip_prefix(dir.path()).ok())
            .map(|p| p.display().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "completions/bash/tool",
                "completions/fish/tool.fish",
                "completions/zsh/_tool",
                "man/man1/tool-run-fast.1",
                "man/man1/tool-run.1",
                "man/man1/tool.1",
            ]
        );
        let page = fs::read_to_string(dir.path().join("man/man1/tool.1")).unwrap_or_default();
        assert!(
            page.contains(".TH tool 1") && page.contains("verbose"),
            "{page}"
        );
        let bash = fs::read_to_string(dir.path().join("completions/bash/tool")).unwrap_or_default();
        assert!(bash.contains("complete -F"), "{bash}");
    }
}
