//! Progress and lifecycle events, for progress bars and custom telemetry.

use orca_manifest::{Descriptor, Digest};

/// Which [`ArtifactStore`](crate::ArtifactStore) call an event belongs to (also the
/// `call` label of the metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Call {
    /// [`ArtifactStore::fetch`](crate::ArtifactStore::fetch).
    Fetch,
    /// [`ArtifactStore::push_dir`](crate::ArtifactStore::push_dir),
    /// [`push_files`](crate::ArtifactStore::push_files) or
    /// [`push_blob`](crate::ArtifactStore::push_blob).
    Push,
    /// [`ArtifactStore::copy`](crate::ArtifactStore::copy).
    Copy,
    /// [`ArtifactStore::resolve`](crate::ArtifactStore::resolve).
    Resolve,
    /// [`ArtifactStore::fetch_manifest`](crate::ArtifactStore::fetch_manifest).
    FetchManifest,
    /// [`ArtifactStore::push_manifest`](crate::ArtifactStore::push_manifest).
    PushManifest,
    /// [`ArtifactStore::tags`](crate::ArtifactStore::tags).
    Tags,
    /// [`ArtifactStore::catalog`](crate::ArtifactStore::catalog).
    Catalog,
    /// [`ArtifactStore::referrers`](crate::ArtifactStore::referrers).
    Referrers,
    /// [`ArtifactStore::tag`](crate::ArtifactStore::tag).
    Tag,
    /// [`ArtifactStore::delete`](crate::ArtifactStore::delete).
    Delete,
}

impl Call {
    /// The lower-case name (`fetch`, `push`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Fetch => "fetch",
            Call::Push => "push",
            Call::Copy => "copy",
            Call::Resolve => "resolve",
            Call::FetchManifest => "fetch_manifest",
            Call::PushManifest => "push_manifest",
            Call::Tags => "tags",
            Call::Catalog => "catalog",
            Call::Referrers => "referrers",
            Call::Tag => "tag",
            Call::Delete => "delete",
        }
    }
}

/// Which way content moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// From a registry (or the cache) to here.
    Download,
    /// From here to a registry.
    Upload,
}

/// How a blob transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferOutcome {
    /// Its bytes were sent or received.
    Transferred,
    /// It was read from the content cache: no request.
    Cached,
    /// The registry already had it: nothing was uploaded (a large file whose upload
    /// started while it was hashed had that upload abandoned).
    Skipped,
    /// The registry mounted it from another repository.
    Mounted,
}

/// What an [`Observer`] is told.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A call started.
    Started {
        /// The call.
        call: Call,
        /// The reference it was given.
        reference: String,
    },
    /// The reference was resolved to a manifest.
    Resolved {
        /// The manifest's descriptor.
        descriptor: Descriptor,
    },
    /// A blob transfer starts (the layers of a fetch or push, the blobs of a copy).
    TransferStarted {
        /// Which way.
        direction: Direction,
        /// The blob.
        descriptor: Descriptor,
    },
    /// More bytes of a blob moved.
    Progress {
        /// Which way.
        direction: Direction,
        /// The blob.
        digest: Digest,
        /// Bytes moved since the last event for this blob.
        bytes: u64,
    },
    /// A blob transfer finished.
    TransferFinished {
        /// Which way.
        direction: Direction,
        /// The blob.
        descriptor: Descriptor,
        /// How.
        outcome: TransferOutcome,
    },
    /// A call finished.
    Finished {
        /// The call.
        call: Call,
        /// `None` on success, else the [`Error::code`](crate::Error::code).
        error_code: Option<&'static str>,
    },
}

/// Receives [`Event`]s as a call progresses (progress bars, logs).
///
/// Called on the async runtime's threads, possibly from several tasks at once: keep it
/// quick and never block. Any `Fn(&Event) + Send + Sync` closure is an observer.
pub trait Observer: Send + Sync {
    /// One event.
    fn on_event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> Observer for F {
    fn on_event(&self, event: &Event) {
        self(event);
    }
}
