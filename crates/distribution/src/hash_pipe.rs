//! Hashing on a thread of its own, shared by downloads, streamed pushes and one-pass
//! pushes: the task that moves bytes queues each piece (a clone of its `Bytes`, no copy)
//! and goes on receiving or sending the next while this one is hashed.

use bytes::Bytes;
use orca_manifest::{Hasher, Verifier};

/// What a [`HashPipe`] feeds: a running hash or a verifier.
pub(crate) trait Update: Send + 'static {
    fn update(&mut self, bytes: &[u8]);
}

impl Update for Verifier {
    fn update(&mut self, bytes: &[u8]) {
        Verifier::update(self, bytes);
    }
}

impl Update for Hasher {
    fn update(&mut self, bytes: &[u8]) {
        Hasher::update(self, bytes);
    }
}

/// A hash on a blocking thread, fed through a small bounded queue (8 pieces), so memory
/// stays bounded when hashing is the slower side.
pub(crate) struct HashPipe<H> {
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    worker: Option<tokio::task::JoinHandle<H>>,
}

impl<H: Update> HashPipe<H> {
    pub(crate) fn start(mut hash: H) -> HashPipe<H> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        let worker = tokio::task::spawn_blocking(move || {
            while let Some(piece) = rx.blocking_recv() {
                hash.update(&piece);
            }
            hash
        });
        HashPipe {
            tx: Some(tx),
            worker: Some(worker),
        }
    }

    /// Queue a piece; false when the thread is gone.
    pub(crate) async fn feed(&self, piece: Bytes) -> bool {
        match &self.tx {
            Some(tx) => tx.send(piece).await.is_ok(),
            None => false,
        }
    }

    /// The hash after every queued piece; `None` when the thread failed.
    pub(crate) async fn finish(mut self) -> Option<H> {
        drop(self.tx.take());
        self.worker.take()?.await.ok()
    }
}
