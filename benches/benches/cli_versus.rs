#![allow(missing_docs)]
// Byte counts and seconds become f64 only to print rates and ratios.
#![allow(clippy::cast_precision_loss)]
//! The `orca` command against other clients, as issue 13's targets ask: pull and push of
//! one single-layer artifact (512 MiB by default) with Debian's `docker-registry` on
//! loopback, every contender a process of its own, timed and measured (peak RSS, from
//! `/usr/bin/time`) in the same run:
//!
//! - pull: `orca pull` (the release binary, `--no-cache`), the `oras` Python package's
//!   `OrasClient.pull`, `skopeo copy docker://… dir:…`, and a raw `curl` `GET` of the blob
//!   into a file (the registry's serve rate, for reference);
//! - push: `orca push` of the file, `OrasClient.push` of it, and a raw `curl` `POST` +
//!   `PUT ?digest=` of it (digest known beforehand: the registry's own ingest rate).
//!
//! Each contender runs `ORCA_BENCH_CLI_RUNS` times (default 3), taking turns; the median is
//! reported, with the ratios the issue sets as targets (pull: at least 2x `oras` and 3x
//! `skopeo`; push: at least 0.9x `curl` and 1.3x `oras`; peak RSS under 32 MiB). Targets
//! are reported, not asserted: speed belongs in benches, not tests.
//!
//! Run it with `cargo xtask bench cli`, which builds the release `orca` binary and the
//! `oras` virtual environment first. Directly: `cargo bench -p orca-benches --bench
//! cli_versus`, with `ORCA_BIN` (default: `orca` beside the bench's profile directory),
//! `ORCA_ORAS_PYTHON` (default `$CARGO_TARGET_DIR/oras-venv/bin/python`) and
//! `ORCA_BENCH_CLI_BYTES` (default 512 MiB). In test mode (`cargo test`, no `--bench`) it
//! runs once with 4 MiB, so the harness itself is exercised. A missing `docker-registry`,
//! `orca` binary or `/usr/bin/time` prints `skipped: …`; a missing `oras`, `skopeo` or
//! `curl` leaves that contender out.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use orca_benches::{GENERATOR_BLOCK, pseudo_random_bytes};
use orca_manifest::Hasher;
use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};

const MIB: f64 = 1024.0 * 1024.0;

/// One run of a contender.
#[derive(Clone, Copy, Debug)]
struct Sample {
    seconds: f64,
    peak_rss_kib: u64,
}

/// A contender's runs.
struct Figures {
    name: &'static str,
    samples: Vec<Sample>,
    failure: Option<String>,
}

impl Figures {
    fn new(name: &'static str) -> Figures {
        Figures {
            name,
            samples: Vec::new(),
            failure: None,
        }
    }

    fn median_seconds(&self) -> Option<f64> {
        let mut s: Vec<f64> = self.samples.iter().map(|s| s.seconds).collect();
        s.sort_by(f64::total_cmp);
        s.get(s.len() / 2).copied()
    }

    fn peak_rss_mib(&self) -> Option<f64> {
        self.samples
            .iter()
            .map(|s| s.peak_rss_kib)
            .max()
            .map(|k| k as f64 / 1024.0)
    }
}

/// Where things are and what is there.
struct Setup {
    orca: PathBuf,
    python: Option<PathBuf>,
    skopeo: bool,
    curl: bool,
    dir: tempfile::TempDir,
    file: PathBuf,
    len: u64,
    digest: String,
    host: String,
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `orca` with a home of its own, no cache, no progress bars.
    fn orca(&self, args: &[&str]) -> Command {
        let home = self.path("home");
        let mut cmd = Command::new(&self.orca);
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("DOCKER_CONFIG", home.join("docker"))
            .args(args)
            .args(["--plain-http", "--no-cache", "--no-progress"]);
        cmd
    }

    /// The `oras` package driving `pull TARGET OUTDIR` or `push TARGET FILE`.
    fn oras(&self, python: &Path, command: &str, target: &str, arg: &str) -> Command {
        const SCRIPT: &str = "import sys, oras.client\n\
            command, target, arg = sys.argv[1:4]\n\
            client = oras.client.OrasClient(hostname=target.split('/')[0], insecure=True)\n\
            if command == 'pull':\n    client.pull(target=target, outdir=arg)\n\
            else:\n    client.push(target=target, files=[arg], disable_path_validation=True)\n";
        let mut cmd = Command::new(python);
        cmd.args(["-c", SCRIPT, command, target, arg])
            .current_dir(self.dir.path());
        cmd
    }
}

/// Runs `cmd` under `/usr/bin/time`: its wall time (measured here) and peak RSS.
fn measure(cmd: &Command, time_file: &Path) -> Result<Sample, String> {
    let program = cmd.get_program().to_owned();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(time_file)
        .arg(&program)
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => timed.env(key, v),
            None => timed.env_remove(key),
        };
    }
    let started = Instant::now();
    let out = timed
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .chars()
            .rev()
            .take(600)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(format!(
            "{} failed ({}): {tail}",
            program.to_string_lossy(),
            out.status
        ));
    }
    let report = std::fs::read_to_string(time_file).map_err(|e| e.to_string())?;
    let peak_rss_kib = report
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("/usr/bin/time wrote no peak RSS: {report:?}"))?;
    Ok(Sample {
        seconds,
        peak_rss_kib,
    })
}

/// Writes `len` pseudo-random bytes (1 MiB blocks, each stamped with its index) and
/// returns their sha256 digest.
fn write_blob(path: &Path, len: u64) -> std::io::Result<String> {
    let block = pseudo_random_bytes(GENERATOR_BLOCK, 11);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut hasher = Hasher::sha256();
    let mut written = 0u64;
    let mut index = 0u64;
    let mut piece = block.clone();
    while written < len {
        piece[..8].copy_from_slice(&index.to_le_bytes());
        let n =
            usize::try_from((len - written).min(GENERATOR_BLOCK as u64)).unwrap_or(GENERATOR_BLOCK);
        file.write_all(&piece[..n])?;
        hasher.update(&piece[..n]);
        written += n as u64;
        index += 1;
    }
    file.flush()?;
    Ok(hasher.finish().to_string())
}

fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The profile directory this bench runs from (`target/release` or `target/debug`).
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

fn oras_python(test_mode: bool) -> Option<PathBuf> {
    let path = std::env::var_os("ORCA_ORAS_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .or_else(|| profile_dir()?.parent().map(Path::to_path_buf))?;
            Some(target.join("oras-venv/bin/python"))
        })?;
    let works = Command::new(&path)
        .args(["-c", "import oras.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !works && !test_mode {
        println!(
            "note: no oras package at {} (cargo xtask bench cli makes it): oras left out",
            path.display()
        );
    }
    works.then_some(path)
}

/// A `curl` `POST` then `PUT ?digest=` of the file: the registry's own ingest rate.
fn curl_push(setup: &Setup, repository: &str) -> Command {
    let script = format!(
        "set -e\n\
         loc=$(curl -sS -f -X POST -D - -o /dev/null 'http://{host}/v2/{repository}/blobs/uploads/' \
           | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p')\n\
         case \"$loc\" in http*) ;; *) loc=\"http://{host}$loc\" ;; esac\n\
         case \"$loc\" in *\\?*) sep='&' ;; *) sep='?' ;; esac\n\
         curl -sS -f -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
           -T '{file}' \"$loc${{sep}}digest={digest}\"\n",
        host = setup.host,
        file = setup.file.display(),
        digest = setup.digest,
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    cmd
}

/// A `curl` `GET` of the blob into a file: the registry's serve rate.
fn curl_pull(setup: &Setup, repository: &str, out: &Path) -> Command {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-f", "-L", "-o"]).arg(out).arg(format!(
        "http://{}/v2/{repository}/blobs/{}",
        setup.host, setup.digest
    ));
    cmd
}

fn row(text: &mut String, f: &Figures, len: u64, reference: Option<f64>) {
    match (f.median_seconds(), &f.failure) {
        (Some(s), None) => {
            let ratio = reference.map_or(String::new(), |r| format!("{:>8.2}x", r / s));
            let _ = writeln!(
                text,
                "  {:<22} {:>8.2} s {:>9.1} MiB/s {:>9.1} MiB{ratio}   runs: {}",
                f.name,
                s,
                len as f64 / MIB / s,
                f.peak_rss_mib().unwrap_or(0.0),
                f.samples
                    .iter()
                    .map(|s| format!("{:.2}", s.seconds))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        (_, Some(e)) => {
            let _ = writeln!(text, "  {:<22} failed: {e}", f.name);
        }
        (None, None) => {
            let _ = writeln!(text, "  {:<22} not run", f.name);
        }
    }
}

/// `orca`'s speed over `other`'s (median times), as "1.23x".
fn ratio(orca: &Figures, other: &Figures) -> Option<f64> {
    if orca.failure.is_some() || other.failure.is_some() {
        return None;
    }
    Some(other.median_seconds()? / orca.median_seconds()?)
}

fn verdict(text: &mut String, what: &str, value: Option<f64>, target: f64) {
    match value {
        Some(v) => {
            let met = if v >= target { "met" } else { "MISSED" };
            let _ = writeln!(text, "  {what:<40} {v:>6.2}x (target {target}x: {met})");
        }
        None => {
            let _ = writeln!(text, "  {what:<40} not measured");
        }
    }
}

#[allow(clippy::too_many_lines)] // one linear script: setup, turns, report
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let test_mode = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test");
    let len: u64 = std::env::var("ORCA_BENCH_CLI_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if test_mode { 4 << 20 } else { 512 << 20 });
    let runs: usize = if test_mode {
        1
    } else {
        std::env::var("ORCA_BENCH_CLI_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3)
            .max(1)
    };
    let Some(orca) = std::env::var_os("ORCA_BIN")
        .map(PathBuf::from)
        .or_else(|| Some(profile_dir()?.join("orca")))
        .filter(|p| p.is_file())
    else {
        println!(
            "skipped: no orca binary beside this bench (set ORCA_BIN, or run `cargo xtask bench cli`, which builds it)"
        );
        return;
    };
    if !Path::new("/usr/bin/time").is_file() {
        println!("skipped: /usr/bin/time (GNU time) is not installed; it measures peak RSS");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let Some(registry) = rt
        .block_on(ReferenceRegistry::start(ReferenceOptions::default()))
        .expect("docker-registry starts")
    else {
        return; // printed "skipped: …"
    };
    let dir = tempfile::Builder::new()
        .prefix("orca-cli-bench-")
        .tempdir()
        .expect("a temporary directory");
    let file = dir.path().join("blob.bin");
    let digest = write_blob(&file, len).expect("writing the blob");
    let setup = Setup {
        orca,
        python: oras_python(test_mode),
        skopeo: available("skopeo"),
        curl: available("curl"),
        dir,
        file,
        len,
        digest,
        host: registry.host().to_owned(),
    };
    let time_file = setup.path("time.txt");

    // The artifact every puller reads, pushed once by orca.
    let source = format!("{}/bench/pull:v1", setup.host);
    let pushed = setup
        .orca(&["push", &source, "blob.bin"])
        .current_dir(setup.dir.path())
        .output()
        .expect("running orca push");
    assert!(
        pushed.status.success(),
        "orca push of the pull source failed: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    let mut push = [
        Figures::new("orca push"),
        Figures::new("curl POST+PUT"),
        Figures::new("oras (Python) push"),
    ];
    let mut pull = [
        Figures::new("orca pull"),
        Figures::new("oras (Python) pull"),
        Figures::new("skopeo copy dir:"),
        Figures::new("curl GET (blob)"),
    ];
    if !setup.curl {
        push[1].failure = Some("curl is not installed".into());
        pull[3].failure = Some("curl is not installed".into());
    }
    if setup.python.is_none() {
        push[2].failure = Some("the oras package is not available".into());
        pull[1].failure = Some("the oras package is not available".into());
    }
    if !setup.skopeo {
        pull[2].failure = Some("skopeo is not installed".into());
    }

    for run in 0..runs {
        // Pushes: each into a repository of its own, so nothing is skipped as present.
        for (i, figures) in push.iter_mut().enumerate() {
            if figures.failure.is_some() {
                continue;
            }
            let target = format!("{}/bench/push-{i}-{run}:v1", setup.host);
            let repository = format!("bench/push-{i}-{run}");
            let cmd = match i {
                0 => {
                    let mut c = setup.orca(&["push", &target, "blob.bin"]);
                    c.current_dir(setup.dir.path());
                    c
                }
                1 => curl_push(&setup, &repository),
                _ => setup.oras(
                    setup.python.as_deref().expect("checked"),
                    "push",
                    &target,
                    "blob.bin",
                ),
            };
            match measure(&cmd, &time_file) {
                Ok(s) => figures.samples.push(s),
                Err(e) => figures.failure = Some(e),
            }
        }
        // Pulls: each into a fresh folder, removed afterwards.
        for (i, figures) in pull.iter_mut().enumerate() {
            if figures.failure.is_some() {
                continue;
            }
            let out = setup.path(&format!("pull-{i}-{run}"));
            let out_arg = out.to_str().expect("a UTF-8 path").to_owned();
            let cmd = match i {
                0 => setup.orca(&["pull", &source, "-o", &out_arg]),
                1 => {
                    std::fs::create_dir_all(&out).expect("an output folder");
                    setup.oras(
                        setup.python.as_deref().expect("checked"),
                        "pull",
                        &source,
                        &out_arg,
                    )
                }
                2 => {
                    let mut c = Command::new("skopeo");
                    c.args(["copy", "--quiet", "--src-tls-verify=false"])
                        .arg(format!("docker://{source}"))
                        .arg(format!("dir:{out_arg}"));
                    c
                }
                _ => curl_pull(&setup, "bench/pull", &out),
            };
            match measure(&cmd, &time_file) {
                Ok(s) => figures.samples.push(s),
                Err(e) => figures.failure = Some(e),
            }
            // Check what the first pulls wrote, then free the space.
            if run == 0 && figures.failure.is_none() {
                let written = match i {
                    0 | 1 => out.join("blob.bin"),
                    2 => out.join(setup.digest.trim_start_matches("sha256:")),
                    _ => out.clone(),
                };
                let size = std::fs::metadata(&written).map_or(0, |m| m.len());
                if size != setup.len {
                    figures.failure = Some(format!(
                        "wrote {size} bytes at {}, expected {}",
                        written.display(),
                        setup.len
                    ));
                }
            }
            let _ = std::fs::remove_dir_all(&out);
            let _ = std::fs::remove_file(&out);
        }
    }

    let mut text = String::new();
    let _ = writeln!(
        text,
        "orca CLI versus other clients: {} MiB single-layer artifact, docker-registry on {}, {} run(s) each (median; RSS is the peak over runs)",
        len >> 20,
        setup.host,
        runs
    );
    let _ = writeln!(
        text,
        "push:                     median      rate      peak RSS  speed/orca's"
    );
    let orca_push = push[0].median_seconds();
    for f in &push {
        row(&mut text, f, len, orca_push);
    }
    let _ = writeln!(
        text,
        "pull:                     median      rate      peak RSS  speed/orca's"
    );
    let orca_pull = pull[0].median_seconds();
    for f in &pull {
        row(&mut text, f, len, orca_pull);
    }
    let _ = writeln!(text, "targets (orca's speed over the other's):");
    verdict(
        &mut text,
        "pull vs oras (Python)",
        ratio(&pull[0], &pull[1]),
        2.0,
    );
    verdict(
        &mut text,
        "pull vs skopeo copy dir:",
        ratio(&pull[0], &pull[2]),
        3.0,
    );
    verdict(
        &mut text,
        "push vs curl POST+PUT (registry ingest)",
        ratio(&push[0], &push[1]),
        0.9,
    );
    verdict(
        &mut text,
        "push vs oras (Python)",
        ratio(&push[0], &push[2]),
        1.3,
    );
    for (what, f) in [("pull", &pull[0]), ("push", &push[0])] {
        if let Some(rss) = f.peak_rss_mib() {
            let met = if rss < 32.0 { "met" } else { "MISSED" };
            let _ = writeln!(
                text,
                "  orca {what} peak RSS {rss:>33.1} MiB (target < 32 MiB: {met})"
            );
        }
    }
    print!("{text}");
    if test_mode {
        // The harness must work: orca's own runs succeeded.
        assert!(
            push[0].failure.is_none() && pull[0].failure.is_none(),
            "orca failed in the bench:\n{text}"
        );
    }
    drop(registry);
}
