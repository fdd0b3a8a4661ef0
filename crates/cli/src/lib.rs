//! The `orca` command line: ORAS-style login, push, pull, copy, tag, discover and more.
//!
//! Built on the `orca` facade only. See the crate README for the commands, the exit codes
//! and the JSON forms; `orca --help` and `orca COMMAND --help` show examples.
//!
//! The library exists for the binary and its tests: [`main`] runs the command line and
//! [`command`] is the clap tree (for completions and help snapshots).

mod args;
mod azure;
mod commands;
mod context;
mod exit;
mod output;
mod progress;
mod transfer;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Global, OutputFormat};
use crate::exit::Failure;
use crate::output::Printer;

/// The clap command tree of `orca`.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Run `orca` with the process's arguments and return its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    init_tracing(&cli.global);
    let printer = Printer::new(cli.global.output);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let failure = Failure::other(format!("starting the async runtime: {e}"));
            printer.failure(&failure);
            return failure.exit_code();
        }
    };
    let result = runtime.block_on(run_interruptibly(cli, printer));
    // Give blocking tasks of a dropped (interrupted or failed) transfer a moment to see their
    // channel closed and remove their staging files.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            printer.failure(&failure);
            failure.exit_code()
        }
    }
}

/// Run the command; Ctrl-C drops it (so a fetch or pull removes what it was staging) and
/// ends with exit code 130. `serve` handles Ctrl-C itself as its normal stop.
async fn run_interruptibly(cli: Cli, printer: Printer) -> Result<(), Failure> {
    if matches!(cli.command, args::Command::Serve(_)) {
        return commands::run(cli, printer).await;
    }
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // Signals cannot be watched: run to the end.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = commands::run(cli, printer) => result,
        () = interrupted => Err(Failure::new(exit::Kind::Interrupted, "interrupted")),
    }
}

/// Clap's own exits: help and version print on stdout and exit 0; usage errors exit 2,
/// as JSON on stdout when `--output json` was asked for.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    // ORAS habit: `pull REF --output DIR`. Here --output is the format; say where the folder goes.
    if e.kind() == ErrorKind::InvalidValue
        && e.get(clap::error::ContextKind::InvalidArg)
            .is_some_and(|arg| arg.to_string().starts_with("--output"))
    {
        let _ = e.print();
        eprintln!(
            "\nhint: --output is the output format; give the folder with -o DIR (--output-dir DIR)"
        );
        return ExitCode::from(2);
    }
    if wants_json(std::env::args()) {
        let failure = Failure::usage(e.render().to_string().trim().to_owned());
        Printer::new(OutputFormat::Json).failure(&failure);
        failure.exit_code()
    } else {
        let _ = e.print();
        ExitCode::from(2)
    }
}

/// Whether raw arguments ask for JSON output (used when clap could not parse them).
fn wants_json(args: impl Iterator<Item = String>) -> bool {
    let mut previous_was_flag = false;
    for arg in args {
        if arg == "--" {
            break;
        }
        if arg == "--output=json" || (previous_was_flag && arg == "json") {
            return true;
        }
        previous_was_flag = arg == "--output";
    }
    false
}

/// Tracing to stderr: warnings by default, more with `-v`; `RUST_LOG` overrides.
fn init_tracing(global: &Global) {
    use tracing_subscriber::EnvFilter;
    let level = match (global.verbose, global.debug) {
        (0, false) => "warn",
        (1, false) => "info",
        (0 | 1, true) | (2, _) => "debug",
        _ => "trace",
    };
    let filter = if global.verbose == 0 && !global.debug {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level))
    } else {
        EnvFilter::new(level)
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(global.verbose >= 2 || global.debug)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tree_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn json_is_detected_in_raw_arguments() {
        let args = |s: &str| {
            s.split(' ')
                .map(str::to_owned)
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert!(wants_json(args("orca --output json push")));
        assert!(wants_json(args("orca push x --output=json")));
        assert!(!wants_json(args("orca push json")));
        assert!(!wants_json(args("orca push -- --output json")));
    }
}
