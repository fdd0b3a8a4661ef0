//! Printing results: text for people, one JSON document for scripts.

use std::io::Write;

use serde::Serialize;

use crate::args::OutputFormat;
use crate::exit::Failure;

/// Prints a command's result and failures in the chosen format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    format: OutputFormat,
}

impl Printer {
    pub(crate) fn new(format: OutputFormat) -> Printer {
        Printer { format }
    }

    /// Whether results are JSON.
    pub(crate) fn json(self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Print a result: `text` (when not empty) as lines for people, or `value` as JSON.
    pub(crate) fn result<T: Serialize>(self, text: &str, value: &T) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        let written = if self.json() {
            serde_json::to_writer_pretty(&mut out, value)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(out))
        } else if text.is_empty() {
            Ok(())
        } else if text.ends_with('\n') {
            out.write_all(text.as_bytes())
        } else {
            writeln!(out, "{text}")
        };
        match written.and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            // A closed pipe (`orca repo tags … | head`) is not a failure of the command.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(Failure::other(format!("writing to stdout: {e}"))),
        }
    }

    /// Report a failure: on stderr as text, or on stdout as `{"code", "http_status",
    /// "message"}`.
    pub(crate) fn failure(self, failure: &Failure) {
        if self.json() {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut out, failure);
            let _ = writeln!(out);
        } else {
            eprintln!("Error: {}", failure.message);
            if failure.code != "Failure" {
                eprintln!(
                    "  code: {} (http status {})",
                    failure.code, failure.http_status
                );
            }
            if let Some(hint) = &failure.hint {
                eprintln!("  hint: {hint}");
            }
        }
    }
}
