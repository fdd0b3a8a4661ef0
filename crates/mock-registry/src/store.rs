//! Content and metadata: blobs (content-addressed, shared by every repository), the links
//! that make a blob visible in a repository, manifests, tags and upload sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use orca_manifest::{Algorithm, Digest, Hasher};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::Error;
use crate::config::Storage;

/// What the registry knows about a stored manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ManifestMeta {
    pub(crate) media_type: String,
    pub(crate) size: u64,
    /// `artifactType`, or the config media type of an image manifest without one.
    pub(crate) artifact_type: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) annotations: Option<BTreeMap<String, String>>,
}

/// One repository.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Repository {
    /// Digests of the blobs linked into this repository.
    pub(crate) blobs: BTreeSet<String>,
    /// Manifests by digest.
    pub(crate) manifests: BTreeMap<String, ManifestMeta>,
    /// Tag → manifest digest.
    pub(crate) tags: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) repositories: BTreeMap<String, Repository>,
}

enum Backend {
    Memory(Mutex<HashMap<String, Bytes>>),
    Directory(PathBuf),
}

/// Where a blob's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum BlobSource {
    Memory(Bytes),
    File(PathBuf),
}

/// An upload session's bytes so far.
pub(crate) enum Sink {
    Memory(BytesMut),
    File {
        file: tokio::fs::File,
        path: PathBuf,
    },
}

/// An upload session.
pub(crate) struct Upload {
    pub(crate) repository: String,
    pub(crate) size: u64,
    hasher: Hasher,
    sink: Sink,
    /// A chunk shorter than the minimum chunk length arrived: it must have been the last.
    pub(crate) short_chunk: bool,
}

impl Upload {
    /// Append bytes.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        match &mut self.sink {
            Sink::Memory(buf) => buf.extend_from_slice(bytes),
            Sink::File { file, .. } => file.write_all(bytes).await?,
        }
        Ok(())
    }
}

pub(crate) struct Store {
    backend: Backend,
    meta: Mutex<Meta>,
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Upload>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn storage_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Storage {
        path: path.to_owned(),
        source,
    }
}

/// A random identifier: 32 lowercase hex characters.
pub(crate) fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Store {
    pub(crate) fn open(storage: &Storage) -> Result<Store, Error> {
        let (backend, meta) = match storage {
            Storage::Memory => (Backend::Memory(Mutex::default()), Meta::default()),
            Storage::Directory(dir) => {
                for sub in ["blobs", "uploads"] {
                    let path = dir.join(sub);
                    std::fs::create_dir_all(&path).map_err(storage_error(&path))?;
                }
                let state = dir.join("state.json");
                let meta = match std::fs::read(&state) {
                    Ok(bytes) => {
                        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptState {
                            path: state.clone(),
                            reason: e.to_string(),
                        })?
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Meta::default(),
                    Err(e) => return Err(storage_error(&state)(e)),
                };
                (Backend::Directory(dir.clone()), meta)
            }
        };
        Ok(Store {
            backend,
            meta: Mutex::new(meta),
            uploads: Mutex::default(),
        })
    }

    /// Read the metadata.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Meta) -> R) -> R {
        f(&lock(&self.meta))
    }

    /// Change the metadata; a directory store writes `state.json` (temp file and rename).
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Meta) -> R) -> io::Result<R> {
        let mut meta = lock(&self.meta);
        let result = f(&mut meta);
        if let Backend::Directory(dir) = &self.backend {
            let bytes = serde_json::to_vec(&*meta).map_err(io::Error::other)?;
            let tmp = dir.join(format!("uploads/state-{}.json", random_id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, dir.join("state.json"))?;
        }
        Ok(result)
    }

    fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
        dir.join("blobs")
            .join(digest.algorithm_str())
            .join(digest.encoded())
    }

    /// The blob's bytes, wherever they are, and its size; `None` if not stored.
    pub(crate) fn blob(&self, digest: &Digest) -> Option<(BlobSource, u64)> {
        match &self.backend {
            Backend::Memory(map) => lock(map)
                .get(digest.as_str())
                .map(|b| (BlobSource::Memory(b.clone()), b.len() as u64)),
            Backend::Directory(dir) => {
                let path = Store::blob_path(dir, digest);
                let len = std::fs::metadata(&path).ok()?.len();
                Some((BlobSource::File(path), len))
            }
        }
    }

    /// A small blob (a manifest) read whole.
    pub(crate) fn blob_bytes(&self, digest: &Digest) -> io::Result<Option<Bytes>> {
        match self.blob(digest) {
            None => Ok(None),
            Some((BlobSource::Memory(b), _)) => Ok(Some(b)),
            Some((BlobSource::File(path), _)) => std::fs::read(path).map(|v| Some(v.into())),
        }
    }

    /// Store bytes whose digest the caller computed.
    pub(crate) fn put_blob_bytes(&self, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        match &self.backend {
            Backend::Memory(map) => {
                lock(map).insert(digest.as_str().to_owned(), bytes);
            }
            Backend::Directory(dir) => {
                let tmp = dir.join("uploads").join(random_id());
                std::fs::write(&tmp, &bytes)?;
                let dest = Store::blob_path(dir, digest);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::rename(&tmp, dest)?;
            }
        }
        Ok(())
    }

    /// Start an upload session; returns its id.
    pub(crate) async fn start_upload(&self, repository: &str) -> io::Result<String> {
        let id = random_id();
        let sink = match &self.backend {
            Backend::Memory(_) => Sink::Memory(BytesMut::new()),
            Backend::Directory(dir) => {
                let path = dir.join("uploads").join(&id);
                let file = tokio::fs::File::create(&path).await?;
                Sink::File { file, path }
            }
        };
        let upload = Upload {
            repository: repository.to_owned(),
            size: 0,
            hasher: Hasher::sha256(),
            sink,
            short_chunk: false,
        };
        lock(&self.uploads).insert(id.clone(), Arc::new(tokio::sync::Mutex::new(upload)));
        Ok(id)
    }

    /// The upload session `id`, if it exists.
    pub(crate) fn upload(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<Upload>>> {
        lock(&self.uploads).get(id).cloned()
    }

    /// Forget an upload session and delete its bytes.
    pub(crate) fn cancel_upload(&self, id: &str) -> bool {
        let removed = lock(&self.uploads).remove(id);
        if let Some(upload) = &removed
            && let Ok(upload) = upload.try_lock()
            && let Sink::File { path, .. } = &upload.sink
        {
            // Best effort: a leftover temporary file is never visible as a blob.
            let _ = std::fs::remove_file(path);
        }
        removed.is_some()
    }

    /// Finish upload `id` (already removed from the table by the caller holding it):
    /// verify `expected` and move the bytes into place. Returns `Ok(false)` on a digest
    /// mismatch (the bytes are discarded).
    pub(crate) async fn commit_upload(
        &self,
        upload: &mut Upload,
        expected: &Digest,
    ) -> io::Result<bool> {
        let sink = std::mem::replace(&mut upload.sink, Sink::Memory(BytesMut::new()));
        let hasher = std::mem::replace(&mut upload.hasher, Hasher::sha256());
        match sink {
            Sink::Memory(buf) => {
                let bytes = buf.freeze();
                let actual = match expected.algorithm() {
                    Algorithm::Sha256 => hasher.finish(),
                    other => match Digest::compute(&other, &bytes) {
                        Ok(d) => d,
                        Err(_) => return Ok(false),
                    },
                };
                if &actual != expected {
                    return Ok(false);
                }
                self.put_blob_bytes(expected, bytes)?;
                Ok(true)
            }
            Sink::File { mut file, path } => {
                file.flush().await?;
                file.sync_all().await?;
                drop(file);
                let actual = match expected.algorithm() {
                    Algorithm::Sha256 => Some(hasher.finish()),
                    other => {
                        let path = path.clone();
                        tokio::task::spawn_blocking(move || hash_file(&path, &other))
                            .await
                            .map_err(io::Error::other)??
                    }
                };
                if actual.as_ref() != Some(expected) {
                    let _ = std::fs::remove_file(&path);
                    return Ok(false);
                }
                let Backend::Directory(dir) = &self.backend else {
                    return Err(io::Error::other("file upload in a memory store"));
                };
                let dest = Store::blob_path(dir, expected);
                if let Some(parent) = dest.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::rename(&path, &dest).await?;
                Ok(true)
            }
        }
    }

    /// Remove an upload from the table (to complete it).
    pub(crate) fn take_upload(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<Upload>>> {
        lock(&self.uploads).remove(id)
    }
}

fn hash_file(path: &Path, algorithm: &Algorithm) -> io::Result<Option<Digest>> {
    let Ok(mut hasher) = Hasher::new(algorithm) else {
        return Ok(None);
    };
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(Some(hasher.finish()));
        }
        hasher.update(&buf[..n]);
    }
}
