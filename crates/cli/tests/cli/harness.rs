//! Running `orca` in an isolated home, and `orca serve` as a child process.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// A temporary home: config, cache, docker config and stores all live under it.
pub(crate) struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub(crate) fn new() -> Home {
        Home {
            dir: tempfile::Builder::new()
                .prefix("orca-cli-test-")
                .tempdir()
                .unwrap(),
        }
    }

    /// A fresh path under the home.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `orca ARGS…` with this home's environment.
    pub(crate) fn orca(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orca"));
        let home = self.dir.path();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("DOCKER_CONFIG", home.join("docker"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Run `orca args…` and return what it did.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let output = self.orca().args(args).output().unwrap();
        Run::new(args, &output)
    }

    /// Run `orca args… --output json`, expect success and parse stdout.
    pub(crate) fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let run = self.run(&all);
        run.success();
        run.stdout_json()
    }
}

/// One finished `orca` run.
pub(crate) struct Run {
    pub(crate) args: String,
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    fn new(args: &[&str], output: &Output) -> Run {
        Run {
            args: args.join(" "),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub(crate) fn success(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "orca {} failed:\nstdout: {}\nstderr: {}",
            self.args, self.stdout, self.stderr
        );
        self
    }

    /// Expect exit `code` and, with `--output json`, the error form with `error_code`.
    #[track_caller]
    pub(crate) fn fails_with(&self, code: i32, error_code: &str) -> serde_json::Value {
        assert_eq!(
            self.code, code,
            "orca {}:\nstdout: {}\nstderr: {}",
            self.args, self.stdout, self.stderr
        );
        let v = self.stdout_json();
        assert_eq!(v["code"], error_code, "orca {}: {v}", self.args);
        assert!(v["http_status"].as_u64().is_some(), "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        v
    }

    #[track_caller]
    pub(crate) fn stdout_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "orca {}: stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.args, self.stdout, self.stderr
            )
        })
    }
}

/// `orca serve` running as a child process; killed on drop.
pub(crate) struct Served {
    child: Child,
    pub(crate) host: String,
}

impl Served {
    /// Start `orca serve --addr 127.0.0.1:0 extra…` and read where it listens.
    pub(crate) fn start(home: &Home, extra: &[&str]) -> Served {
        let mut child = home
            .orca()
            .args(["serve", "--addr", "127.0.0.1:0", "--output", "json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("orca serve printed {line:?}: {e}"));
        let host = v["host"].as_str().unwrap().to_owned();
        assert!(host.starts_with("127.0.0.1:"), "{host}");
        Served { child, host }
    }

    /// `host/path`.
    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}/{path}", self.host)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
