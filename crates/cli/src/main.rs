//! The `orca` binary: see `orca --help` and the crate README.

fn main() -> std::process::ExitCode {
    orca_cli::main()
}
