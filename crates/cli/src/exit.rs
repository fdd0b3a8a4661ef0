//! Exit codes and the failure form printed with `--output json`.

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;

/// What kind of failure ended the command; each has its own exit code (see
/// [`crate::args::EXIT_CODES_HELP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Any other failure: exit code 1.
    Failure,
    /// Bad arguments: exit code 2 (clap uses it for its own usage errors too).
    Usage,
    /// No such manifest, blob, tag or repository: exit code 3.
    NotFound,
    /// Missing, wrong or insufficient credentials: exit code 4.
    Unauthorized,
    /// Above the operation's size limit: exit code 5.
    TooLarge,
    /// The registry is not in the store registry: exit code 6.
    NotRegistered,
    /// The registry could not be reached: exit code 7.
    Unreachable,
    /// Ctrl-C: exit code 130, as shells report a process ended by SIGINT.
    Interrupted,
}

impl Kind {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Kind::Failure => 1,
            Kind::Usage => 2,
            Kind::NotFound => 3,
            Kind::Unauthorized => 4,
            Kind::TooLarge => 5,
            Kind::NotRegistered => 6,
            Kind::Unreachable => 7,
            Kind::Interrupted => 130,
        }
    }

    /// The stable code printed when the failure did not come from the facade.
    fn default_code(self) -> &'static str {
        match self {
            Kind::Failure => "Failure",
            Kind::Usage => "InvalidArgument",
            Kind::NotFound => "NotFound",
            Kind::Unauthorized => "Unauthorized",
            Kind::TooLarge => "TooLargeArtifacts",
            Kind::NotRegistered => "ArtifactStoreIsNotRegistered",
            Kind::Unreachable => "FailedToConnectToArtifactStore",
            Kind::Interrupted => "Interrupted",
        }
    }

    /// The HTTP status a service would answer with.
    fn default_status(self) -> u16 {
        match self {
            Kind::Failure => 500,
            Kind::Usage | Kind::TooLarge | Kind::NotRegistered | Kind::Unreachable => 400,
            Kind::NotFound => 404,
            Kind::Unauthorized => 401,
            // nginx's "client closed request": the caller gave up.
            Kind::Interrupted => 499,
        }
    }
}

/// A failed command: printed on stderr as text, or on stdout as
/// `{"code", "http_status", "message"}` with `--output json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Failure {
    /// The stable code (the facade's, e.g. `TooLargeArtifacts`).
    pub(crate) code: String,
    /// The HTTP status a service would answer with.
    pub(crate) http_status: u16,
    /// What went wrong, with its causes; never a credential.
    pub(crate) message: String,
    /// What to try, when the failure looks like a common mistake (`--plain-http` missing
    /// or extra, an untrusted certificate, no login, an unregistered store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
    #[serde(skip)]
    pub(crate) kind: Kind,
}

impl Failure {
    /// A failure of `kind` with its default code and status.
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            code: kind.default_code().to_owned(),
            http_status: kind.default_status(),
            message: message.into(),
            hint: None,
            kind,
        }
    }

    /// This failure with `hint`.
    #[must_use]
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    /// Bad input: exit code 2.
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Usage, message)
    }

    /// Any other failure: exit code 1.
    pub(crate) fn other(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Failure, message)
    }

    /// A local IO failure on `path`.
    pub(crate) fn io(what: &str, path: &std::path::Path, e: &std::io::Error) -> Failure {
        Failure::other(format!("{what} {}: {e}", path.display()))
    }

    /// The exit code for this failure.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The message of an error followed by each of its sources, `: `-separated, skipping a
/// source whose text is already in the message.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_documented() {
        let kinds = [
            Kind::Failure,
            Kind::Usage,
            Kind::NotFound,
            Kind::Unauthorized,
            Kind::TooLarge,
            Kind::NotRegistered,
            Kind::Unreachable,
            Kind::Interrupted,
        ];
        let mut codes: Vec<u8> = kinds.iter().map(|k| k.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), kinds.len());
        for k in kinds {
            assert!(
                crate::args::EXIT_CODES_HELP.contains(&format!("  {}  ", k.code())),
                "{k:?} is not in the help text"
            );
        }
    }

    #[test]
    fn json_form_has_the_three_fields() {
        let f = Failure::new(Kind::TooLarge, "too big");
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code": "TooLargeArtifacts", "http_status": 400, "message": "too big"})
        );
    }
}
