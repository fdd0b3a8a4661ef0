//! What a client reports while it works: requests, retries, authentication negotiations,
//! bytes moved and blobs verified.
//!
//! An [`Observer`] set in [`ClientConfig::observer`](crate::ClientConfig::observer)
//! receives [`Event`]s. The client knows nothing of what is done with them: the facade
//! turns them into metrics, the CLI into progress bars, a test into a list.
//!
//! # Cost
//! Events borrow what the client already holds; none allocates. Bytes are reported per
//! piece of a transfer (a body frame, a chunk, a read of an upload source), never per
//! byte, and carry the running total, so an observer needs no state of its own to draw a
//! progress bar. Without an observer the client skips building events altogether.
//!
//! Observers are called on the task doing the work: they must return quickly and must not
//! block (hand the event to a channel or an atomic counter when more is needed).

use std::time::Duration;

use http::Method;
use orca_auth::Scope;
use orca_manifest::Digest;

/// Receives a client's [`Event`]s. The default implementation ignores them.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use orca_distribution::{ClientConfig, Event, Observer};
///
/// #[derive(Default)]
/// struct Requests(AtomicU64);
///
/// impl Observer for Requests {
///     fn event(&self, event: &Event<'_>) {
///         if let Event::Answered { .. } = event {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let config = ClientConfig::builder().observer(Arc::new(Requests::default())).build();
/// # let _ = config;
/// ```
pub trait Observer: Send + Sync {
    /// One event. Called on the task doing the work; return quickly.
    fn event(&self, event: &Event<'_>) {
        let _ = event;
    }
}

/// Which way a blob's bytes move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// From the registry (a pull).
    Download,
    /// To the registry (a push).
    Upload,
}

/// How an authentication negotiation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthOutcome {
    /// A credential or token was obtained; the request is sent again with it.
    Granted,
    /// The negotiation failed (the error is returned to the caller).
    Failed,
    /// Another request's negotiation for the same registry and scopes, in flight when
    /// this one got its 401, answered for both: no request was sent for this one.
    Shared,
}

/// Why a request is sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryReason {
    /// The registry answered with this retryable status (408, 429, 5xx).
    Status(u16),
    /// The connection failed or timed out.
    Transport,
    /// A blob download broke off and resumes with `Range` from `received` bytes.
    Resume {
        /// Bytes already received and kept.
        received: u64,
    },
    /// An upload chunk was refused or lost; the session's state is asked for next.
    Chunk,
}

/// What happened. Every variant borrows from the client; copy what you keep.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A request is about to be sent (each attempt, and each redirect hop, is one).
    Sent {
        /// The HTTP method.
        method: &'a Method,
        /// The registry it is for (`host[:port]`, normalised).
        registry: &'a str,
        /// The repository, when the request concerns one.
        repository: Option<&'a str>,
    },
    /// A response head arrived, or the attempt failed before one did.
    Answered {
        /// The HTTP method.
        method: &'a Method,
        /// The registry it is for.
        registry: &'a str,
        /// The repository, when the request concerns one.
        repository: Option<&'a str>,
        /// The status; `None` when the connection failed or timed out.
        status: Option<u16>,
        /// From sending to the response head (or the failure).
        duration: Duration,
    },
    /// A request will be sent again after `delay`.
    Retry {
        /// The HTTP method.
        method: &'a Method,
        /// The registry it is for.
        registry: &'a str,
        /// The repository, when the request concerns one.
        repository: Option<&'a str>,
        /// The attempt about to be made (the first retry is 1).
        attempt: u32,
        /// Why.
        reason: RetryReason,
        /// The wait before it.
        delay: Duration,
    },
    /// An authentication negotiation after a 401 ended.
    Auth {
        /// The registry that asked.
        registry: &'a str,
        /// The scopes the request needed.
        scopes: &'a [Scope],
        /// How it ended.
        outcome: AuthOutcome,
        /// How long it took (token service round trips included).
        duration: Duration,
    },
    /// Bytes of a blob moved; `bytes` is the running total for this transfer.
    Bytes {
        /// The registry.
        registry: &'a str,
        /// The repository.
        repository: &'a str,
        /// The blob (for a chunked upload without a descriptor, not known yet: `None`).
        digest: Option<&'a Digest>,
        /// Which way.
        direction: Direction,
        /// Bytes moved so far (a resumed download keeps counting from where it was).
        bytes: u64,
        /// Bytes moved since this transfer's previous event (for counters: the sum of
        /// `moved` over a transfer is what went over the wire, a piece sent again
        /// included).
        moved: u64,
        /// The blob's size, when known.
        total: Option<u64>,
    },
    /// A blob's size and digest were checked: every byte was what its descriptor says.
    Verified {
        /// The registry.
        registry: &'a str,
        /// The repository.
        repository: &'a str,
        /// The blob.
        digest: &'a Digest,
        /// Its size.
        size: u64,
        /// Which way it moved (a pushed blob is verified here only when hashed here:
        /// `PushOptions::verify_source`, or a chunked push without a descriptor).
        direction: Direction,
    },
}

/// The repository a request concerns, from its scopes (the first repository scope).
pub(crate) fn repository_of(scopes: &[Scope]) -> Option<&str> {
    scopes
        .iter()
        .find(|s| s.resource_type() == "repository")
        .map(Scope::name)
}
