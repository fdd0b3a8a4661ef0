//! `orca-conformance`: run the scenario suite and report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use orca_conformance::{MockMode, RealTarget, Target};

/// Run orca's conformance scenarios against the mock registry (every auth mode and fault),
/// a registry given by URL, or a `docker-registry` started for the run.
#[derive(Parser, Debug)]
#[command(name = "orca-conformance")]
struct Args {
    /// A registry to run the scenarios it can serve against (`https://host:port`,
    /// `http://host:port`, or `host:port`).
    #[arg(long)]
    registry: Option<String>,
    /// User name for `--registry`.
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// Password for `--registry` (prefer the `ORCA_CONFORMANCE_PASSWORD` variable).
    #[arg(long, env = "ORCA_CONFORMANCE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Extra root certificate (PEM) to trust for `--registry`.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Speak plain HTTP to `--registry`.
    #[arg(long)]
    plain_http: bool,
    /// Start Debian's docker-registry (`plain`, or `tls-basic`: TLS and htpasswd) and run
    /// against it; skipped with a reason when it is not installed.
    #[arg(long, value_parser = ["plain", "tls-basic"])]
    spawn_reference_registry: Option<String>,
    /// Also run against the mock registry when `--registry` or
    /// `--spawn-reference-registry` is given (it always runs otherwise).
    #[arg(long)]
    mock: bool,
    /// Where to write the JSON report (default `target/conformance/report.json`).
    #[arg(long)]
    report: Option<PathBuf>,
}

fn default_report() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        },
        PathBuf::from,
    );
    target.join("conformance").join("report.json")
}

fn targets(args: &Args) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    if let Some(url) = &args.registry {
        let mut real = RealTarget::from_url(url, args.plain_http)?;
        real.username.clone_from(&args.username);
        real.password = args.password.clone().map(Into::into);
        real.ca_cert.clone_from(&args.ca_cert);
        if real.username.is_some() != real.password.is_some() {
            return Err("--username and --password go together".into());
        }
        targets.push(Target::Real(real));
    }
    if let Some(flavour) = &args.spawn_reference_registry {
        targets.push(Target::Reference {
            tls_basic: flavour == "tls-basic",
        });
    }
    if targets.is_empty() || args.mock {
        targets.extend(MockMode::ALL.into_iter().map(Target::Mock));
    }
    Ok(targets)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let targets = match targets(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("orca-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orca-conformance: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(orca_conformance::run(&targets)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orca-conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.table());
    let path = args.report.clone().unwrap_or_else(default_report);
    if let Err(e) = report.write(&path) {
        eprintln!("orca-conformance: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!("report: {}", path.display());
    if report.failed().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    /// `cargo xtask conformance --help` prints `conformance/help.txt` without building this
    /// binary (a release build takes minutes); this keeps that copy equal to clap's help.
    #[test]
    fn help_txt_is_the_binary_help() {
        let shown = super::Args::try_parse_from(["orca-conformance", "--help"])
            .expect_err("--help stops parsing");
        assert_eq!(shown.kind(), clap::error::ErrorKind::DisplayHelp);
        // Trailing spaces (clap pads blank lines) are dropped, so editors cannot break it.
        let mut help = String::new();
        for line in shown.render().to_string().lines() {
            help.push_str(line.trim_end());
            help.push('\n');
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/help.txt");
        if std::env::var_os("ORCA_UPDATE_HELP").is_some() {
            std::fs::write(path, &help).expect("write help.txt");
        }
        let saved = std::fs::read_to_string(path).unwrap_or_default();
        // Compared word by word: whether clap wraps long lines depends on its `wrap_help`
        // feature, which another workspace crate turns on in a `--workspace` build.
        assert!(
            saved.split_whitespace().eq(help.split_whitespace()),
            "conformance/help.txt is not the binary's --help; rerun this test with \
             ORCA_UPDATE_HELP=1 to rewrite it:\n{help}"
        );
    }
}
