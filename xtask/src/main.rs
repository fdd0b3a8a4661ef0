//! orca's task runner: `cargo xtask <task>`.
//!
//! - `ci [--fuzz-seconds N] [--no-fuzz]`: what CI runs. Installs the system tools the tests
//!   use when they are missing and this is possible (root with apt; a Python virtual
//!   environment for `oras`), then `cargo fmt --check`, clippy with `-D warnings`, every test
//!   (benchmarks run once in test mode), the conformance suite against Debian's
//!   `docker-registry` (plain HTTP, and TLS with basic auth) and every fuzz target briefly.
//! - `fuzz [SECONDS] [--target NAME]`: build the fuzz targets and run each for SECONDS
//!   (default 30); installs `cargo-fuzz` when missing.
//! - `bench [ARGS…]`: run the criterion benchmarks; ARGS go to criterion. `bench cli`: the
//!   release `orca` binary against `oras` (Python), `skopeo` and `curl` on `docker-registry`
//!   (pull and push of a 512 MiB artifact, time and peak RSS).
//! - `conformance [ARGS…]`: run the conformance suite (`conformance --help` lists its flags
//!   at once, from `conformance/help.txt`, without installing or building anything).
//! - `demo [DIR]`: the round trip on the embedded registry (pack a folder, push, pull by
//!   digest, unpack, compare every byte); DIR instead of the generated sample folder.
//! - `tools`: install (or say how to install) the external tools the tests use.
//!
//! Only the standard library is used, so the task runner builds in a second.
//!
//! `-h`/`--help` after a task prints its usage and does nothing else.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// The pinned version of the Python `oras` package used for interop tests.
const ORAS_PY_VERSION: &str = "0.2.43";
/// Debian packages the tests use: the reference registry, skopeo for interop, htpasswd and
/// openssl for the TLS/basic-auth registry.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("docker-registry", "/usr/bin/docker-registry"),
    ("skopeo", "/usr/bin/skopeo"),
    ("apache2-utils", "/usr/bin/htpasswd"),
    ("openssl", "/usr/bin/openssl"),
];
/// `orca-conformance --help`, kept equal to the binary's by a test in `conformance/src/main.rs`.
const CONFORMANCE_HELP: &str = include_str!("../../conformance/help.txt");
/// The fuzz targets, each with a seed corpus in `fuzz/corpus/<name>/`.
const FUZZ_TARGETS: &[&str] = &[
    "reference",
    "manifest",
    "www_authenticate",
    "token_response",
    "tar",
];

type Result<T = (), E = String> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let mut args: Vec<String> = env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    }
    let task = args.remove(0);
    let wants_help = args.iter().any(|a| a == "-h" || a == "--help");
    // `bench` passes its arguments to criterion, which has a help of its own.
    if wants_help
        && matches!(
            task.as_str(),
            "ci" | "fuzz" | "conformance" | "demo" | "tools"
        )
    {
        if task == "conformance" {
            print!("{CONFORMANCE_HELP}");
            println!(
                "\n`cargo xtask conformance ARGS` makes sure docker-registry and the Python oras \
                 package are there (installing them when it can), builds the suite in release \
                 mode (a few minutes the first time) and runs it with ARGS."
            );
        } else {
            println!("{}", usage());
        }
        return ExitCode::SUCCESS;
    }
    let result = match task.as_str() {
        "ci" => ci(&args),
        "fuzz" => fuzz_task(&args),
        "bench" => bench(&args),
        "conformance" => conformance(&args, true),
        "demo" => demo(&args),
        "tools" => tools(false).map(|env| {
            for (key, value) in env {
                println!("{key}={}", value.to_string_lossy());
            }
        }),
        "-h" | "--help" | "help" => {
            println!("{}", usage());
            Ok(())
        }
        other => Err(format!("unknown task {other:?}\n\n{}", usage())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    let mut text = String::from("usage: cargo xtask <task> [args]\n\ntasks:\n");
    for (name, what) in [
        ("ci [--fuzz-seconds N] [--no-fuzz]", "everything CI checks"),
        (
            "fuzz [SECONDS] [--target NAME]",
            "run every fuzz target for SECONDS (30)",
        ),
        ("bench [CRITERION ARGS]", "run the criterion benchmarks"),
        (
            "bench cli",
            "orca pull/push vs oras, skopeo, curl on docker-registry",
        ),
        (
            "conformance [ARGS]",
            "run the conformance suite (--help for its flags)",
        ),
        (
            "demo [DIR]",
            "push a folder (DIR or a sample) to the embedded registry, pull it back, compare",
        ),
        ("tools", "install the external tools the tests use"),
    ] {
        let _ = writeln!(text, "  {name:<38} {what}");
    }
    text
}

fn root() -> PathBuf {
    // xtask lives at <root>/xtask.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Run a command in the workspace root, echoing it, and fail if it fails.
fn run(cmd: &mut Command) -> Result {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("\n$ {shown}");
    let start = Instant::now();
    let status = cmd
        .current_dir(cmd.get_current_dir().map_or_else(root, Path::to_path_buf))
        .status()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    eprintln!("  ({:.0?})", start.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

fn flag_value(args: &[String], name: &str) -> Result<Option<String>> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("{name} needs a value")),
        None => Ok(None),
    }
}

fn ci(args: &[String]) -> Result {
    for arg in args {
        if arg.starts_with("--") && !matches!(arg.as_str(), "--fuzz-seconds" | "--no-fuzz") {
            return Err(format!("unknown flag {arg}\n\n{}", usage()));
        }
    }
    let fuzz_seconds: u64 = flag_value(args, "--fuzz-seconds")?
        .map_or(Ok(20), |s| s.parse())
        .map_err(|e| format!("--fuzz-seconds: {e}"))?;
    let in_ci = env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    let tool_env = tools(in_ci)?;
    let with_tools = |cmd: &mut Command| {
        cmd.envs(tool_env.iter().map(|(k, v)| (k, v)));
    };

    run(Command::new(cargo()).args(["fmt", "--all", "--", "--check"]))?;
    run(Command::new(cargo()).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // `--all-targets` also builds the benches and runs each once in criterion's test mode,
    // so CI exercises them without an optimised build; doctests need their own run.
    // `--all-features` tests the optional adapters too (features never change defaults).
    let mut tests = Command::new(cargo());
    tests.args([
        "test",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--no-fail-fast",
        "--locked",
    ]);
    with_tools(&mut tests);
    run(&mut tests)?;
    let mut doctests = Command::new(cargo());
    doctests.args(["test", "--workspace", "--doc", "--all-features", "--locked"]);
    run(&mut doctests)?;

    // The README's demo command must keep working.
    demo(&[])?;

    for flavour in ["plain", "tls-basic"] {
        let mut args = vec!["--spawn-reference-registry".to_owned(), flavour.to_owned()];
        args.extend([
            "--report".to_owned(),
            target_dir()
                .join("conformance")
                .join(format!("reference-{flavour}.json"))
                .to_string_lossy()
                .into_owned(),
        ]);
        conformance_with_env(&args, false, &tool_env)?;
    }

    if args.iter().any(|a| a == "--no-fuzz") {
        eprintln!("\nfuzzing skipped (--no-fuzz)");
    } else {
        fuzz(fuzz_seconds, None)?;
    }
    eprintln!("\nxtask ci: all checks passed");
    Ok(())
}

fn conformance(args: &[String], release: bool) -> Result {
    let tool_env = tools(false)?;
    conformance_with_env(args, release, &tool_env)
}

fn conformance_with_env(args: &[String], release: bool, tool_env: &[(String, OsString)]) -> Result {
    let mode = if release { "release" } else { "debug" };
    eprintln!(
        "building the conformance suite ({mode}; the first build takes a few minutes, cargo's progress follows)..."
    );
    let mut cmd = Command::new(cargo());
    cmd.args(["run", "--locked", "--package", "orca-conformance"]);
    if release {
        cmd.arg("--release");
    }
    cmd.arg("--").args(args);
    cmd.envs(tool_env.iter().map(|(k, v)| (k, v)));
    run(&mut cmd)
}

fn demo(args: &[String]) -> Result {
    eprintln!(
        "building the demo (the first run compiles the workspace: a few minutes; cargo's progress follows)..."
    );
    let mut cmd = Command::new(cargo());
    cmd.args([
        "run",
        "--locked",
        "--package",
        "orca",
        "--example",
        "demo",
        "--",
    ])
    .args(args);
    run(&mut cmd)
}

fn bench(args: &[String]) -> Result {
    if args.first().map(String::as_str) == Some("cli") {
        return bench_cli(&args[1..]);
    }
    // The cli_versus bench runs the release `orca` binary: build it, so it is never stale.
    run(Command::new(cargo()).args(["build", "--release", "--locked", "--package", "orca-cli"]))?;
    let mut cmd = Command::new(cargo());
    cmd.args(["bench", "--locked", "--package", "orca-benches", "--"])
        .args(args)
        .env("ORCA_BIN", target_dir().join("release").join("orca"));
    run(&mut cmd)
}

/// `bench cli`: the release `orca` binary against `oras` (Python), `skopeo` and raw `curl`
/// on Debian's `docker-registry` (`benches/benches/cli_versus.rs`); builds the binary and the
/// `oras` virtual environment first.
fn bench_cli(args: &[String]) -> Result {
    run(Command::new(cargo()).args(["build", "--release", "--locked", "--package", "orca-cli"]))?;
    let mut cmd = Command::new(cargo());
    cmd.args([
        "bench",
        "--locked",
        "--package",
        "orca-benches",
        "--bench",
        "cli_versus",
        "--",
    ])
    .args(args)
    .env("ORCA_BIN", target_dir().join("release").join("orca"));
    match ensure_oras_venv() {
        Ok(python) => {
            cmd.env("ORCA_ORAS_PYTHON", python);
        }
        Err(message) => eprintln!("warning: {message}; oras is left out of the bench"),
    }
    run(&mut cmd)
}

fn fuzz_task(args: &[String]) -> Result {
    let target = flag_value(args, "--target")?;
    if let Some(name) = &target
        && !FUZZ_TARGETS.contains(&name.as_str())
    {
        return Err(format!(
            "unknown fuzz target {name:?}; targets: {}",
            FUZZ_TARGETS.join(", ")
        ));
    }
    let seconds = match args.first() {
        Some(s) if !s.starts_with("--") => s
            .parse()
            .map_err(|e| format!("SECONDS must be a whole number, got {s:?}: {e}"))?,
        _ => 30,
    };
    fuzz(seconds, target.as_deref())
}

fn fuzz(seconds: u64, only: Option<&str>) -> Result {
    ensure_cargo_fuzz()?;
    let fuzz_dir = root().join("fuzz");
    // cargo-fuzz needs nightly-only rustc flags; RUSTC_BOOTSTRAP lets stable accept them.
    // It is set for these commands only, never for the main workspace.
    let fuzz_cmd = || {
        let mut cmd = Command::new(cargo());
        cmd.arg("fuzz")
            .current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1");
        cmd
    };
    run(fuzz_cmd().arg("build"))?;
    for target in FUZZ_TARGETS
        .iter()
        .filter(|t| only.is_none_or(|o| o == **t))
    {
        let seeds = fuzz_dir.join("corpus").join(target);
        if !seeds.is_dir() {
            return Err(format!(
                "fuzz target {target} has no seed corpus at {}",
                seeds.display()
            ));
        }
        // New inputs go to a scratch corpus under target/, so the committed seeds stay as
        // they are; the seeds are read as a second corpus.
        let scratch = target_dir().join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        run(fuzz_cmd()
            .args(["run", target])
            .arg(&scratch)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1"))?;
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result {
    let installed = Command::new(cargo())
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    eprintln!("cargo-fuzz is missing; installing it (about three minutes)");
    run(Command::new(cargo()).args(["install", "cargo-fuzz", "--locked"]))
}

/// Make sure the external tools the tests use are there, installing them when possible.
/// Returns the environment that points the tests at them. With `required`, a tool that
/// cannot be had is an error (CI must not silently skip the interop tests).
fn tools(required: bool) -> Result<Vec<(String, OsString)>> {
    let mut missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(_, path)| !Path::new(path).exists())
        .map(|(package, _)| *package)
        .collect();
    if !missing.is_empty() {
        if is_root() && Path::new("/usr/bin/apt-get").exists() {
            install_debian_packages(&missing)?;
            missing.retain(|package| {
                DEBIAN_PACKAGES
                    .iter()
                    .any(|(p, path)| p == package && !Path::new(path).exists())
            });
        }
        if !missing.is_empty() {
            let message = format!(
                "missing Debian packages: {}; install them with `sudo apt-get install {}`",
                missing.join(" "),
                missing.join(" ")
            );
            if required {
                return Err(message);
            }
            eprintln!("warning: {message}; the tests that need them will be skipped");
        }
    }

    let mut env = vec![(
        "ORCA_DOCKER_REGISTRY".to_owned(),
        OsString::from("/usr/bin/docker-registry"),
    )];
    match ensure_oras_venv() {
        Ok(python) => env.push(("ORCA_ORAS_PYTHON".to_owned(), python.into_os_string())),
        Err(message) if required => return Err(message),
        Err(message) => {
            eprintln!("warning: {message}; the Python oras interop tests will be skipped");
        }
    }
    Ok(env)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn install_debian_packages(packages: &[&str]) -> Result {
    eprintln!("installing Debian packages: {}", packages.join(" "));
    // A policy-rc.d that answers 101 keeps the package from starting the system
    // docker-registry service: the tests start their own on free loopback ports.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let wrote_policy = if policy.exists() {
        false
    } else {
        std::fs::write(policy, "#!/bin/sh\nexit 101\n")
            .and_then(|()| {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755))
            })
            .map_err(|e| format!("writing {}: {e}", policy.display()))?;
        true
    };
    let result = run(Command::new("apt-get").args(["update", "-qq"])).and_then(|()| {
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    });
    if wrote_policy {
        let _ = std::fs::remove_file(policy);
    }
    result
}

/// A virtual environment under target/ with the pinned Python `oras` package.
fn ensure_oras_venv() -> Result<PathBuf> {
    let venv = target_dir().join("oras-venv");
    let python = venv.join("bin").join("python");
    let has_oras = |python: &Path| {
        Command::new(python)
            .args(["-c", &format!("import importlib.metadata as m; assert m.version('oras') == '{ORAS_PY_VERSION}'")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if python.exists() && has_oras(&python) {
        return Ok(python);
    }
    let python3 = ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or("no python3 on PATH for the oras interop tests")?;
    run(Command::new(python3).arg("-m").arg("venv").arg(&venv))
        .map_err(|e| format!("creating the oras virtual environment: {e}"))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("oras=={ORAS_PY_VERSION}")))
    .map_err(|e| format!("installing oras=={ORAS_PY_VERSION}: {e}"))?;
    if has_oras(&python) {
        Ok(python)
    } else {
        Err(format!(
            "oras=={ORAS_PY_VERSION} did not import after installing it"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Component, Path, PathBuf};

    use super::root;

    /// Every `README.md` under `dir`, skipping build output and hidden directories.
    fn readmes(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).expect("read a directory");
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    readmes(&path, out);
                }
            } else if name == "README.md" {
                out.push(path);
            }
        }
    }

    /// The targets of `[text](target)` links in `markdown`.
    fn links(markdown: &str) -> Vec<&str> {
        markdown
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split_once(')').map(|(target, _)| target))
            .collect()
    }

    /// `path` with `.` and `..` resolved lexically.
    fn normalise(path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for component in path.components() {
            match component {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    }

    #[test]
    fn readme_links_stay_in_the_repository_and_exist() {
        let root = root();
        let mut files = Vec::new();
        readmes(&root, &mut files);
        assert!(files.len() >= 5, "found only {files:?}");
        let mut checked = 0;
        for readme in &files {
            let text = std::fs::read_to_string(readme).expect("read a README");
            let dir = readme.parent().expect("a README has a directory");
            for link in links(&text) {
                if link.contains("://") || link.starts_with('#') || link.starts_with("mailto:") {
                    continue;
                }
                let file = link.split('#').next().unwrap_or(link);
                let target = normalise(&dir.join(file));
                assert!(
                    target.starts_with(&root),
                    "{} links {link}, outside the repository",
                    readme.display()
                );
                assert!(
                    target.exists(),
                    "{} links {link}, which does not exist",
                    readme.display()
                );
                checked += 1;
            }
        }
        assert!(checked > 0, "no relative link checked");
    }

    #[test]
    fn the_root_readme_links_the_end_to_end_example() {
        let text = std::fs::read_to_string(root().join("README.md")).expect("read README.md");
        let example = "conformance/examples/demo.rs";
        assert!(
            links(&text).contains(&example),
            "README.md must link {example}"
        );
        assert!(root().join(example).is_file());
    }
}
