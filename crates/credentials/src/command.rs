//! Running programs: docker credential helpers and `az`.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// How long a program may run before it is killed (a helper waiting for a keychain
/// prompt nobody answers, a hung `az`).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs real processes, found on `PATH` or on a search path of its own, and kills one
/// that runs longer than its timeout ([`DEFAULT_COMMAND_TIMEOUT`]).
#[derive(Clone, Debug)]
pub struct SystemCommandRunner {
    search_path: Option<OsString>,
    timeout: Duration,
}

impl Default for SystemCommandRunner {
    fn default() -> Self {
        Self {
            search_path: None,
            timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }
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
            ..Self::default()
        }
    }

    /// Kills a program still running after `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Waits for `child` to end, reading its output on two threads (so a full pipe never
    /// blocks it), and kills it past the timeout.
    fn wait(&self, program: &str, mut child: Child) -> io::Result<CommandOutput> {
        fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut out);
                }
                out
            })
        }
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let deadline = Instant::now() + self.timeout;
        // Bounded: one round per 10 ms until the deadline.
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{program} did not finish within {} ms and was stopped",
                        self.timeout.as_millis()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let join = |handle: std::thread::JoinHandle<Vec<u8>>| handle.join().unwrap_or_default();
        Ok(CommandOutput {
            success: status.success(),
            stdout: join(stdout),
            stderr: join(stderr),
        })
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
                    std::thread::sleep(Duration::from_millis(10));
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
        self.wait(program, child)
    }
}
