//! Running programs: docker credential helpers and `az`.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What a command printed and how it ended.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its standard output (may hold secrets: never printed by `Debug`).
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

impl fmt::Debug for CommandOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandOutput")
            .field("success", &self.success)
            .field("stdout", &format_args!("<{} bytes>", self.stdout.len()))
            .field("stderr", &format_args!("<{} bytes>", self.stderr.len()))
            .finish()
    }
}

/// Runs external programs: docker credential helpers and `az`. A trait so tests can fake
/// it. Blocks until the program ends: run it off an async runtime.
pub trait CommandRunner: Send + Sync {
    /// Runs `program` with `args`, writes `stdin` to it and waits for it to end.
    ///
    /// # Errors
    ///
    /// When the program cannot be started or its pipes fail.
    fn run(&self, program: &str, args: &[&str], stdin: &[u8]) -> io::Result<CommandOutput>;
}

/// Runs real processes, found on `PATH` or on a search path of its own.
#[derive(Clone, Debug, Default)]
pub struct SystemCommandRunner {
    search_path: Option<OsString>,
}

impl SystemCommandRunner {
    /// Finds programs on the process's `PATH`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Finds programs only in these directories (a `PATH`-style list), not on `PATH`.
    pub fn with_search_path(search_path: impl Into<OsString>) -> Self {
        Self {
            search_path: Some(search_path.into()),
        }
    }

    fn resolve(&self, program: &str) -> io::Result<PathBuf> {
        let Some(search_path) = &self.search_path else {
            return Ok(PathBuf::from(program));
        };
        std::env::split_paths(search_path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{program} not found on the search path"),
                )
            })
    }
}

impl CommandRunner for SystemCommandRunner {
    fn run(&self, program: &str, args: &[&str], stdin: &[u8]) -> io::Result<CommandOutput> {
        let path = self.resolve(program)?;
        let spawn = || {
            Command::new(&path)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        };
        // A helper written just now may still be open for writing in a child another
        // thread is forking (ETXTBSY until that child execs): try again, a few times.
        let mut child = spawn();
        for _ in 0..20 {
            match &child {
                Err(err) if err.kind() == io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    child = spawn();
                }
                _ => break,
            }
        }
        let mut child = child?;
        if let Some(mut pipe) = child.stdin.take() {
            // A helper that exits without reading its input closes the pipe: not an error.
            match pipe.write_all(stdin) {
                Err(err) if err.kind() != io::ErrorKind::BrokenPipe => return Err(err),
                _ => {}
            }
        }
        let output = child.wait_with_output()?;
        Ok(CommandOutput {
            success: output.status.success(),
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}
