//! Streaming, entry-by-entry extraction into a fresh directory.

use std::cell::{Cell, RefCell};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use orca_manifest::{Digest, Hasher};

use crate::error::{DigestTarget, EntryType, Error, LinkKind, PathProblem};
use crate::limits::{LimitKind, Limits};
use crate::path::{Node, RelativePath, Tree, check_path, link_error};
use crate::replace;

/// Bytes of data accepted after the end-of-archive marker (tar writers pad to a record
/// size, 10 KiB for GNU tar and Python).
pub const TRAILING_BYTES: u64 = 1024 * 1024;

/// Bytes of tar metadata (headers, PAX and GNU long-name records, skipped data of
/// non-file entries) accepted between two entries. The `tar` crate holds extension records
/// in memory, so this also bounds memory.
pub const HEADER_BYTES: u64 = 1024 * 1024;

/// The buffer a plain reader is read through, and an entry's data copied through.
pub(crate) const BUFFER: usize = 256 * 1024;

/// What to do when two entries have the same path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Duplicates {
    /// The later entry replaces the earlier one, as `tar -x` does. The earlier file or link
    /// is unlinked first, so the new content is never written through it.
    #[default]
    LastWins,
    /// A second entry with the same path is [`Error::Duplicate`].
    Error,
}

/// How the stream was compressed, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (one or more members).
    Gzip,
}

/// Knobs of an extraction. `ExtractOptions::default()` is the safe choice: default limits,
/// no links, last duplicate wins, mtimes not kept, no digests checked.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExtractOptions {
    /// The limits.
    pub limits: Limits,
    /// Create symbolic links (each must resolve inside the destination).
    pub allow_symlinks: bool,
    /// Create hard links (each must name a regular file extracted earlier from the same
    /// archive).
    pub allow_hardlinks: bool,
    /// Duplicate paths.
    pub duplicates: Duplicates,
    /// Set files' and directories' modification times from the archive (otherwise they get
    /// the time of extraction).
    pub keep_mtimes: bool,
    /// The digest of the stream as given (the layer digest, over the compressed bytes).
    pub layer_digest: Option<Digest>,
    /// The size of the stream as given (the layer size); reading stops as soon as it is
    /// passed.
    pub layer_size: Option<u64>,
    /// The digest of the uncompressed tar stream (ORAS `io.deis.oras.content.digest`).
    pub content_digest: Option<Digest>,
    /// Every entry must be this folder or inside it, and is extracted without it (ORAS
    /// folder layers name entries `<title>/…`).
    pub strip_prefix: Option<String>,
}

impl ExtractOptions {
    /// Options with these limits and everything else default.
    pub fn with_limits(limits: Limits) -> ExtractOptions {
        ExtractOptions {
            limits,
            ..ExtractOptions::default()
        }
    }
}

impl ExtractOptions {
    /// A builder starting from [`ExtractOptions::default`].
    pub fn builder() -> ExtractOptionsBuilder {
        ExtractOptionsBuilder(ExtractOptions::default())
    }
}

/// Builds [`ExtractOptions`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ExtractOptionsBuilder(ExtractOptions);

impl ExtractOptionsBuilder {
    /// [`ExtractOptions::limits`].
    pub fn limits(mut self, value: Limits) -> Self {
        self.0.limits = value;
        self
    }

    /// [`ExtractOptions::allow_symlinks`].
    pub fn allow_symlinks(mut self, value: bool) -> Self {
        self.0.allow_symlinks = value;
        self
    }

    /// [`ExtractOptions::allow_hardlinks`].
    pub fn allow_hardlinks(mut self, value: bool) -> Self {
        self.0.allow_hardlinks = value;
        self
    }

    /// [`ExtractOptions::duplicates`].
    pub fn duplicates(mut self, value: Duplicates) -> Self {
        self.0.duplicates = value;
        self
    }

    /// [`ExtractOptions::keep_mtimes`].
    pub fn keep_mtimes(mut self, value: bool) -> Self {
        self.0.keep_mtimes = value;
        self
    }

    /// [`ExtractOptions::layer_digest`].
    pub fn layer_digest(mut self, value: Digest) -> Self {
        self.0.layer_digest = Some(value);
        self
    }

    /// [`ExtractOptions::layer_size`].
    pub fn layer_size(mut self, value: u64) -> Self {
        self.0.layer_size = Some(value);
        self
    }

    /// [`ExtractOptions::content_digest`].
    pub fn content_digest(mut self, value: Digest) -> Self {
        self.0.content_digest = Some(value);
        self
    }

    /// [`ExtractOptions::strip_prefix`].
    pub fn strip_prefix(mut self, value: impl Into<String>) -> Self {
        self.0.strip_prefix = Some(value.into());
        self
    }

    /// The options.
    pub fn build(self) -> ExtractOptions {
        self.0
    }
}

/// The kind of something extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A hard link to a file extracted earlier.
    Hardlink,
}

/// One entry written, relative to the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The path relative to the destination.
    pub path: PathBuf,
    /// What it is.
    pub kind: EntryKind,
    /// Bytes of content written (0 for everything but files).
    pub size: u64,
}

/// What an extraction did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Summary {
    /// Entries in archive order (an entry replaced by a later one is listed twice).
    pub entries: Vec<Extracted>,
    /// File content bytes written.
    pub bytes: u64,
    /// Bytes read from the input.
    pub compressed_bytes: u64,
    /// Bytes of the uncompressed tar stream.
    pub uncompressed_bytes: u64,
    /// The detected compression.
    pub compression: Compression,
    /// Whether an existing destination was replaced.
    pub replaced: bool,
}

/// Extracts a tar or tar+gzip stream into `dest`, atomically.
///
/// The stream is detected as gzip by its magic bytes (`1f 8b`), else read as tar. Entries
/// are written into a new directory `<parent>/.<name>.orca-tmp-XXXXXX` beside `dest`;
/// only when the whole stream has been read, every limit held and the digests in
/// `options` matched, it is moved to `dest` (replacing an existing `dest`, see
/// [`replace`](crate#atomic-replacement)). On any error the temporary directory is removed
/// and `dest` is untouched.
///
/// # Security
///
/// - Only regular files and directories are created unless links are allowed; devices,
///   fifos, sparse files and unknown types are refused.
/// - Paths are checked by [`check_path`]; nothing is ever written through a symbolic link
///   or below a file: each entry's parents must be directories this extraction created
///   (checked in memory and, on disk, with `symlink_metadata`), files are created with
///   `create_new` after any earlier entry of the same name is unlinked.
/// - Sizes are counted from bytes read. Modes keep only the permission bits (no setuid,
///   setgid or sticky), subject to the process umask; directories keep `u+rwx` so that a
///   later pull can replace them. Owners are never set.
///
/// # Errors
///
/// Every refusal has its own [`Error`] variant; see there.
pub fn extract<R: Read>(
    reader: R,
    dest: &Path,
    options: &ExtractOptions,
) -> Result<Summary, Error> {
    extract_buffered(BufReader::with_capacity(BUFFER, reader), dest, options)
}

/// [`extract`] from a [`BufRead`], decoding straight from the reader's own buffer
/// ([`BufRead::fill_buf`]) with no copy into one of its own: for a reader that already
/// holds the bytes in memory (pieces received from the network). Otherwise the same as
/// [`extract`].
///
/// # Errors
///
/// As [`extract`].
pub fn extract_buffered<R: BufRead>(
    reader: R,
    dest: &Path,
    options: &ExtractOptions,
) -> Result<Summary, Error> {
    let (parent, name) = replace::split_destination(dest)?;
    let staging = replace::staging_dir(&parent, &name)?;
    let mut summary = extract_into(reader, staging.path(), options)?;
    summary.replaced = replace::install(staging, dest, &parent, &name)?;
    Ok(summary)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Data,
    Trailer,
}

/// State shared by the reader layers and the entry loop.
struct State {
    compressed: Cell<u64>,
    uncompressed: Cell<u64>,
    phase: Cell<Phase>,
    phase_bytes: Cell<u64>,
    source_eof: Cell<bool>,
    tar_eof: Cell<bool>,
    gzip: Cell<bool>,
    failure: RefCell<Option<Error>>,
    layer_hasher: RefCell<Option<Hasher>>,
    content_hasher: RefCell<Option<ContentHasher>>,
    layer_size: Option<u64>,
    max_ratio: u64,
}

impl State {
    fn fail(&self, error: Error) -> io::Error {
        let message = error.to_string();
        self.failure.borrow_mut().get_or_insert(error);
        io::Error::other(message)
    }
}

/// The input: counts and hashes the bytes as given, as they first show in the reader's
/// buffer (so that a failure is an error of the read that brought them).
struct Source<R> {
    inner: R,
    state: Rc<State>,
    /// Bytes at the front of `inner`'s buffer already counted and hashed.
    seen: usize,
}

impl<R: BufRead> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let state = &self.state;
        let buf = match self.inner.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => return Err(state.fail(Error::Read(e))),
        };
        if buf.is_empty() {
            state.source_eof.set(true);
            return Ok(buf);
        }
        if buf.len() > self.seen {
            let new = &buf[self.seen..];
            let total = state.compressed.get() + new.len() as u64;
            state.compressed.set(total);
            if let Some(hasher) = state.layer_hasher.borrow_mut().as_mut() {
                hasher.update(new);
            }
            self.seen = buf.len();
            if let Some(expected) = state.layer_size
                && total > expected
            {
                return Err(state.fail(Error::SizeMismatch {
                    expected,
                    actual: total,
                    at_least: true,
                }));
            }
        }
        Ok(buf)
    }

    fn consume(&mut self, amount: usize) {
        self.seen = self.seen.saturating_sub(amount);
        self.inner.consume(amount);
    }
}

impl<R: BufRead> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The uncompressed tar stream: counts, hashes and bounds it.
struct Tap<R> {
    inner: R,
    state: Rc<State>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let state = &self.state;
        if n == 0 {
            state.tar_eof.set(true);
            return Ok(0);
        }
        if let Some(hasher) = state.content_hasher.borrow_mut().as_mut() {
            hasher.update(&buf[..n]);
        }
        let total = state.uncompressed.get() + n as u64;
        state.uncompressed.set(total);
        let compressed = state.compressed.get().max(1);
        if state.gzip.get()
            && total > Limits::RATIO_GRACE_BYTES
            && total / compressed >= state.max_ratio
            && total > state.max_ratio.saturating_mul(compressed)
        {
            return Err(state.fail(Error::Limit {
                limit: LimitKind::CompressionRatio,
                value: state.max_ratio,
                seen: total / compressed,
                entry: None,
            }));
        }
        let phase_bytes = state.phase_bytes.get() + n as u64;
        state.phase_bytes.set(phase_bytes);
        match state.phase.get() {
            Phase::Header if phase_bytes > HEADER_BYTES => Err(state.fail(Error::Limit {
                limit: LimitKind::HeaderBytes,
                value: HEADER_BYTES,
                seen: phase_bytes,
                entry: None,
            })),
            Phase::Trailer if phase_bytes > TRAILING_BYTES => Err(state.fail(Error::Limit {
                limit: LimitKind::TrailingBytes,
                value: TRAILING_BYTES,
                seen: phase_bytes,
                entry: None,
            })),
            _ => Ok(n),
        }
    }
}

/// Layers at least this large have their content digest computed on a thread of its own.
const HASH_THREAD_BYTES: u64 = 4 * 1024 * 1024;

/// Pieces handed to that thread.
const HASH_PIECE: usize = 256 * 1024;

/// The hasher of the uncompressed stream: inline for small layers, else on a thread of
/// its own, so that hashing overlaps with inflating and writing (a second core's work).
enum ContentHasher {
    Inline(Hasher),
    Thread(HashThread),
}

impl ContentHasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            ContentHasher::Inline(h) => h.update(bytes),
            ContentHasher::Thread(t) => t.update(bytes),
        }
    }

    /// The hasher after every byte; `None` when the thread failed.
    fn finish(self) -> Option<Hasher> {
        match self {
            ContentHasher::Inline(h) => Some(h),
            ContentHasher::Thread(t) => t.finish(),
        }
    }
}

/// A hasher on its own thread, fed full pieces through a bounded queue and handing the
/// emptied buffers back (three in all: at most 768 KiB in flight, no allocation per piece).
struct HashThread {
    full: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
    worker: Option<std::thread::JoinHandle<Hasher>>,
    failed: bool,
}

impl HashThread {
    fn start(mut hasher: Hasher) -> HashThread {
        const BUFFERS: usize = 3;
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(BUFFERS);
        let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(BUFFERS);
        for _ in 1..BUFFERS {
            let _ = empty_tx.send(Vec::with_capacity(HASH_PIECE));
        }
        let worker = std::thread::Builder::new()
            .name("orca-unpack-hash".to_owned())
            .spawn(move || {
                while let Ok(mut piece) = full_rx.recv() {
                    hasher.update(&piece);
                    piece.clear();
                    let _ = empty_tx.send(piece);
                }
                hasher
            });
        let (worker, failed) = match worker {
            Ok(w) => (Some(w), false),
            Err(_) => (None, true),
        };
        HashThread {
            full: Some(full_tx),
            empty: empty_rx,
            pending: Vec::with_capacity(HASH_PIECE),
            worker,
            failed,
        }
    }

    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.failed {
            let n = (HASH_PIECE - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.pending.len() == HASH_PIECE {
                self.send();
            }
        }
    }

    /// Hands the pending piece over and takes an empty buffer back (waiting for one).
    fn send(&mut self) {
        let Ok(next) = self.empty.recv() else {
            self.failed = true;
            return;
        };
        let piece = std::mem::replace(&mut self.pending, next);
        let sent = self.full.as_ref().is_some_and(|tx| tx.send(piece).is_ok());
        self.failed |= !sent;
    }

    fn finish(mut self) -> Option<Hasher> {
        if !self.pending.is_empty() {
            let piece = std::mem::take(&mut self.pending);
            let sent = self.full.as_ref().is_some_and(|tx| tx.send(piece).is_ok());
            self.failed |= !sent;
        }
        drop(self.full.take());
        let hasher = self.worker.take()?.join().ok()?;
        (!self.failed).then_some(hasher)
    }
}

fn hasher_for(digest: Option<&Digest>, what: DigestTarget) -> Result<Option<Hasher>, Error> {
    digest
        .map(|d| {
            Hasher::new(&d.algorithm()).map_err(|_| Error::UnsupportedDigest {
                what,
                digest: d.clone(),
            })
        })
        .transpose()
}

/// Turns an error from the decoder or the tar reader into ours.
fn classify(error: &io::Error, state: &State, entry: Option<&RelativePath>) -> Error {
    if let Some(failure) = state.failure.borrow_mut().take() {
        return match failure {
            Error::Limit {
                limit,
                value,
                seen,
                entry: None,
            } => Error::Limit {
                limit,
                value,
                seen,
                entry: entry.map(RelativePath::as_string),
            },
            other => other,
        };
    }
    let at = entry
        .map(|e| format!(" (in or after entry {:?})", e.as_string()))
        .unwrap_or_default();
    if error.kind() == io::ErrorKind::UnexpectedEof || state.tar_eof.get() {
        Error::Truncated {
            detail: format!("{error}{at}"),
        }
    } else {
        Error::Malformed {
            detail: format!("{error}{at}"),
        }
    }
}

/// Extracts into `root`, an existing empty directory. The caller removes it on error.
pub(crate) fn extract_into<R: BufRead>(
    reader: R,
    root: &Path,
    options: &ExtractOptions,
) -> Result<Summary, Error> {
    let state = Rc::new(State {
        compressed: Cell::new(0),
        uncompressed: Cell::new(0),
        phase: Cell::new(Phase::Header),
        phase_bytes: Cell::new(0),
        source_eof: Cell::new(false),
        tar_eof: Cell::new(false),
        gzip: Cell::new(false),
        failure: RefCell::new(None),
        layer_hasher: RefCell::new(hasher_for(
            options.layer_digest.as_ref(),
            DigestTarget::Layer,
        )?),
        content_hasher: RefCell::new(
            hasher_for(options.content_digest.as_ref(), DigestTarget::Content)?.map(|h| {
                if options.layer_size.is_some_and(|n| n >= HASH_THREAD_BYTES) {
                    ContentHasher::Thread(HashThread::start(h))
                } else {
                    ContentHasher::Inline(h)
                }
            }),
        ),
        layer_size: options.layer_size,
        max_ratio: options.limits.max_compression_ratio.max(1),
    });
    let prefix = match &options.strip_prefix {
        Some(prefix) => Some(check_path(prefix.as_bytes(), &options.limits)?),
        None => None,
    };
    let (decoded, compression) = open(reader, &state)?;
    let tap = Tap {
        inner: decoded,
        state: Rc::clone(&state),
    };
    let mut archive = tar::Archive::new(tap);
    let mut writer = Writer {
        root,
        options,
        tree: Tree::default(),
        entries: Vec::new(),
        bytes: 0,
        dirs: Vec::new(),
        root_mode: None,
        buf: vec![0; BUFFER],
    };
    read_entries(&mut archive, &mut writer, &state, prefix.as_ref())?;
    // Read what follows the end-of-archive marker, so that the digests cover the whole
    // stream (and a gzip trailer is checked), within a bound.
    state.phase.set(Phase::Trailer);
    state.phase_bytes.set(0);
    let mut tap = archive.into_inner();
    io::copy(&mut tap, &mut io::sink()).map_err(|e| classify(&e, &state, None))?;
    if let Some(expected) = options.layer_size
        && state.compressed.get() != expected
    {
        return Err(Error::SizeMismatch {
            expected,
            actual: state.compressed.get(),
            at_least: false,
        });
    }
    check_digest(
        options.layer_digest.as_ref(),
        state.layer_hasher.borrow_mut().take(),
        DigestTarget::Layer,
    )?;
    let content_hasher = match state.content_hasher.borrow_mut().take() {
        Some(hasher) => Some(hasher.finish().ok_or_else(|| {
            Error::Read(io::Error::other(
                "the content digest's hashing thread failed",
            ))
        })?),
        None => None,
    };
    check_digest(
        options.content_digest.as_ref(),
        content_hasher,
        DigestTarget::Content,
    )?;
    writer.finish()?;
    Ok(Summary {
        entries: writer.entries,
        bytes: writer.bytes,
        compressed_bytes: state.compressed.get(),
        uncompressed_bytes: state.uncompressed.get(),
        compression,
        replaced: false,
    })
}

/// Detects the compression and builds the decoding stack.
fn open<'r, R: BufRead + 'r>(
    reader: R,
    state: &Rc<State>,
) -> Result<(Box<dyn Read + 'r>, Compression), Error> {
    let mut source = Source {
        inner: reader,
        state: Rc::clone(state),
        seen: 0,
    };
    // The first four bytes, however the reader cuts them (a first read may bring fewer),
    // then put back in front of the rest.
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match source.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(classify(&e, state, None)),
        }
    }
    let compression = detect(&magic[..got])?;
    let stream = io::Cursor::new(magic).take(got as u64).chain(source);
    let decoded: Box<dyn Read + 'r> = match compression {
        Compression::Gzip => {
            state.gzip.set(true);
            Box::new(flate2::bufread::MultiGzDecoder::new(stream))
        }
        Compression::None => Box::new(stream),
    };
    Ok((decoded, compression))
}

/// Reads every entry and writes it.
fn read_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    writer: &mut Writer<'_>,
    state: &State,
    prefix: Option<&RelativePath>,
) -> Result<(), Error> {
    let max_entries = writer.options.limits.max_entries;
    let mut entries = archive.entries().map_err(|e| classify(&e, state, None))?;
    let mut count = 0u64;
    let mut last: Option<RelativePath> = None;
    loop {
        state.phase.set(Phase::Header);
        state.phase_bytes.set(0);
        let Some(entry) = entries.next() else { break };
        let mut entry = entry.map_err(|e| classify(&e, state, last.as_ref()))?;
        state.phase.set(Phase::Data);
        count += 1;
        if count > max_entries {
            return Err(Error::Limit {
                limit: LimitKind::Entries,
                value: max_entries,
                seen: count,
                entry: Some(String::from_utf8_lossy(&entry.path_bytes()).into_owned()),
            });
        }
        let Some(path) = writer.entry_path(&entry, prefix)? else {
            continue;
        };
        writer
            .write_entry(&mut entry, &path, prefix)
            .map_err(|e| match e {
                WriteError::Refused(e) => e,
                WriteError::Stream(e) => classify(&e, state, Some(&path)),
            })?;
        last = Some(path);
    }
    if state.tar_eof.get() {
        return Err(Error::Truncated {
            detail: "the stream ended before the end-of-archive marker".to_owned(),
        });
    }
    Ok(())
}

fn detect(magic: &[u8]) -> Result<Compression, Error> {
    Ok(match magic {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            return Err(Error::UnsupportedCompression { format: "zstd" });
        }
        [b'B', b'Z', b'h', ..] => return Err(Error::UnsupportedCompression { format: "bzip2" }),
        [0xfd, b'7', b'z', b'X', ..] => return Err(Error::UnsupportedCompression { format: "xz" }),
        _ => Compression::None,
    })
}

fn check_digest(
    expected: Option<&Digest>,
    hasher: Option<Hasher>,
    what: DigestTarget,
) -> Result<(), Error> {
    if let (Some(expected), Some(hasher)) = (expected, hasher) {
        let actual = hasher.finish();
        if &actual != expected {
            return Err(Error::DigestMismatch {
                what,
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(())
}

enum WriteError {
    /// A refusal or a file system error of ours.
    Refused(Error),
    /// Reading the entry's data failed: classified by the caller.
    Stream(io::Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Refused(e)
    }
}

struct Writer<'a> {
    root: &'a Path,
    options: &'a ExtractOptions,
    tree: Tree,
    entries: Vec<Extracted>,
    bytes: u64,
    /// Directories with the mode and mtime to give them once everything is written.
    dirs: Vec<(RelativePath, u32, Option<u64>)>,
    root_mode: Option<(u32, Option<u64>)>,
    buf: Vec<u8>,
}

fn sanitize_mode(mode: u32) -> u32 {
    mode & 0o777
}

impl Writer<'_> {
    /// The checked path of an entry, without the prefix; `None` for entries that carry no
    /// file (PAX global headers, the prefix folder itself).
    fn entry_path<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        prefix: Option<&RelativePath>,
    ) -> Result<Option<RelativePath>, Error> {
        let header = entry.header();
        let entry_type = header.entry_type();
        if entry_type.is_pax_global_extensions() {
            return Ok(None);
        }
        let raw = entry.path_bytes();
        let path = check_path(&raw, &self.options.limits)?;
        let path = match prefix {
            Some(prefix) => path
                .strip_prefix(prefix)
                .ok_or_else(|| Error::OutsidePrefix {
                    path: path.as_string(),
                    prefix: prefix.as_string(),
                })?,
            None => path,
        };
        if path.is_root() {
            if entry_type.is_dir() {
                let mode = header.mode().map_err(|e| Error::Malformed {
                    detail: e.to_string(),
                })?;
                self.root_mode = Some((sanitize_mode(mode) | 0o700, header.mtime().ok()));
                return Ok(None);
            }
            return Err(match prefix {
                Some(prefix) => Error::OutsidePrefix {
                    path: prefix.as_string(),
                    prefix: prefix.as_string(),
                },
                None => Error::UnsafePath {
                    path: String::from_utf8_lossy(&raw).into_owned(),
                    problem: PathProblem::Empty,
                },
            });
        }
        Ok(Some(path))
    }

    fn write_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &RelativePath,
        prefix: Option<&RelativePath>,
    ) -> Result<(), WriteError> {
        let header = entry.header();
        let flag = header.entry_type().as_byte();
        let is_dir_name = entry.path_bytes().ends_with(b"/");
        let mode = header.mode().map_err(|e| Error::Malformed {
            detail: format!("entry {:?}: {e}", path.as_string()),
        })?;
        let mtime = header.mtime().ok();
        match flag {
            b'5' => self.directory(path, mode, mtime).map_err(WriteError::from),
            b'0' | b'\0' | b'7' if is_dir_name => {
                self.directory(path, mode, mtime).map_err(WriteError::from)
            }
            b'0' | b'\0' | b'7' => self.file(entry, path, mode, mtime),
            b'2' => {
                let target = self.link_target(entry, path, LinkKind::Symlink)?;
                self.symlink(path, &target).map_err(WriteError::from)
            }
            b'1' => {
                let target = self.link_target(entry, path, LinkKind::Hardlink)?;
                self.hardlink(path, &target, prefix)
                    .map_err(WriteError::from)
            }
            other => Err(Error::UnsupportedEntry {
                path: path.as_string(),
                entry_type: EntryType(other),
            }
            .into()),
        }
    }

    fn link_target<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        path: &RelativePath,
        kind: LinkKind,
    ) -> Result<String, Error> {
        let raw = entry.link_name_bytes().unwrap_or_default();
        let lossy = String::from_utf8_lossy(&raw).into_owned();
        let allowed = match kind {
            LinkKind::Symlink => self.options.allow_symlinks,
            LinkKind::Hardlink => self.options.allow_hardlinks,
        };
        if !allowed {
            return Err(Error::LinkNotAllowed {
                path: path.as_string(),
                kind,
                target: lossy,
            });
        }
        if raw.len() as u64 > self.options.limits.max_path_length {
            return Err(Error::Limit {
                limit: LimitKind::PathLength,
                value: self.options.limits.max_path_length,
                seen: raw.len() as u64,
                entry: Some(path.as_string()),
            });
        }
        String::from_utf8(raw.into_owned()).map_err(|_| link_error(path, kind, &lossy))
    }

    fn full(&self, path: &RelativePath) -> PathBuf {
        self.root.join(path.to_path_buf())
    }

    /// Creates missing parents and makes sure every parent is a directory we created, in
    /// memory and on disk. Then deals with an earlier entry of the same path.
    fn prepare(&mut self, path: &RelativePath, new_is_dir: bool) -> Result<bool, Error> {
        let missing = self
            .tree
            .missing_parents(path)
            .map_err(|conflict| Error::ThroughLink {
                path: path.as_string(),
                conflict,
            })?;
        for dir in missing {
            let full = self.full(&dir);
            create_dir(&full)?;
            self.tree.insert(&dir, Node::Dir { explicit: false });
            self.dirs.push((dir, 0o755, None));
        }
        // On disk: no parent may have become anything but a real directory.
        let mut current = self.root.to_path_buf();
        for component in &path.components()[..path.components().len() - 1] {
            current.push(component);
            let meta =
                fs::symlink_metadata(&current).map_err(|e| Error::io("inspect", &current, e))?;
            if !meta.file_type().is_dir() {
                return Err(Error::ThroughLink {
                    path: path.as_string(),
                    conflict: component.clone(),
                });
            }
        }
        let duplicate = |type_change| Error::Duplicate {
            path: path.as_string(),
            type_change,
        };
        match self.tree.get(path) {
            None => Ok(false),
            Some(Node::Dir { explicit }) => {
                if !new_is_dir {
                    Err(duplicate(true))
                } else if *explicit && self.options.duplicates == Duplicates::Error {
                    Err(duplicate(false))
                } else {
                    Ok(true)
                }
            }
            Some(Node::File | Node::Symlink(_)) => {
                if self.options.duplicates == Duplicates::Error {
                    return Err(duplicate(false));
                }
                let full = self.full(path);
                fs::remove_file(&full).map_err(|e| Error::io("remove", &full, e))?;
                Ok(false)
            }
        }
    }

    fn directory(
        &mut self,
        path: &RelativePath,
        mode: u32,
        mtime: Option<u64>,
    ) -> Result<(), Error> {
        let exists = self.prepare(path, true)?;
        if !exists {
            create_dir(&self.full(path))?;
        }
        self.tree.insert(path, Node::Dir { explicit: true });
        self.dirs
            .push((path.clone(), sanitize_mode(mode) | 0o700, mtime));
        self.entries.push(Extracted {
            path: path.to_path_buf(),
            kind: EntryKind::Directory,
            size: 0,
        });
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &RelativePath,
        mode: u32,
        mtime: Option<u64>,
    ) -> Result<(), WriteError> {
        self.prepare(path, false)?;
        let full = self.full(path);
        let mut file = create_file(&full, sanitize_mode(mode))?;
        // Recorded before writing: from now on a later entry of the same path replaces it.
        self.tree.insert(path, Node::File);
        let limits = &self.options.limits;
        let mut written = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WriteError::Stream(e)),
            };
            let seen = written + n as u64;
            if seen > limits.max_entry_bytes {
                return Err(Error::Limit {
                    limit: LimitKind::EntryBytes,
                    value: limits.max_entry_bytes,
                    seen,
                    entry: Some(path.as_string()),
                }
                .into());
            }
            if self.bytes + n as u64 > limits.max_total_bytes {
                return Err(Error::Limit {
                    limit: LimitKind::TotalBytes,
                    value: limits.max_total_bytes,
                    seen: self.bytes + n as u64,
                    entry: Some(path.as_string()),
                }
                .into());
            }
            file.write_all(&self.buf[..n])
                .map_err(|e| Error::io("write", &full, e))?;
            written = seen;
            self.bytes += n as u64;
        }
        let announced = entry.size();
        if written != announced {
            return Err(Error::Truncated {
                detail: format!(
                    "entry {:?} announces {announced} bytes, the stream ended after {written}",
                    path.as_string()
                ),
            }
            .into());
        }
        if self.options.keep_mtimes
            && let Some(mtime) = mtime
        {
            file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
                .map_err(|e| Error::io("set the mtime of", &full, e))?;
        }
        self.entries.push(Extracted {
            path: path.to_path_buf(),
            kind: EntryKind::File,
            size: written,
        });
        Ok(())
    }

    fn symlink(&mut self, path: &RelativePath, target: &str) -> Result<(), Error> {
        self.tree
            .check_symlink(path, target)
            .map_err(|()| link_error(path, LinkKind::Symlink, target))?;
        self.prepare(path, false)?;
        let full = self.full(path);
        make_symlink(target, &full)?;
        self.tree.insert(path, Node::Symlink(target.to_owned()));
        self.entries.push(Extracted {
            path: path.to_path_buf(),
            kind: EntryKind::Symlink,
            size: 0,
        });
        Ok(())
    }

    fn hardlink(
        &mut self,
        path: &RelativePath,
        target: &str,
        prefix: Option<&RelativePath>,
    ) -> Result<(), Error> {
        let escapes = || link_error(path, LinkKind::Hardlink, target);
        let checked = check_path(target.as_bytes(), &self.options.limits).map_err(|_| escapes())?;
        let checked = match prefix {
            Some(prefix) => checked.strip_prefix(prefix).ok_or_else(escapes)?,
            None => checked,
        };
        if &checked == path {
            return Err(escapes());
        }
        self.tree.check_hardlink(&checked).map_err(|()| escapes())?;
        self.prepare(path, false)?;
        let full = self.full(path);
        let source = self.full(&checked);
        fs::hard_link(&source, &full).map_err(|e| Error::io("hard-link", &full, e))?;
        self.tree.insert(path, Node::File);
        self.entries.push(Extracted {
            path: path.to_path_buf(),
            kind: EntryKind::Hardlink,
            size: 0,
        });
        Ok(())
    }

    /// Directory modes and mtimes, deepest first (so that setting a child does not change
    /// its parent's mtime afterwards), then the root's.
    fn finish(&mut self) -> Result<(), Error> {
        // The last entry for a directory wins.
        let mut last = std::collections::HashMap::new();
        for (path, mode, mtime) in std::mem::take(&mut self.dirs) {
            last.insert(path, (mode, mtime));
        }
        let mut dirs: Vec<_> = last.into_iter().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.0.components().len()));
        for (path, (mode, mtime)) in dirs {
            self.finish_dir(&self.full(&path), mode, mtime)?;
        }
        let (mode, mtime) = self.root_mode.unwrap_or((0o755, None));
        self.finish_dir(self.root, mode, mtime)
    }

    fn finish_dir(&self, path: &Path, mode: u32, mtime: Option<u64>) -> Result<(), Error> {
        set_mode(path, mode)?;
        if self.options.keep_mtimes
            && let Some(mtime) = mtime
        {
            let dir = fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
            dir.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
                .map_err(|e| Error::io("set the mtime of", path, e))?;
        }
        Ok(())
    }
}

fn create_dir(path: &Path) -> Result<(), Error> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(|e| Error::io("create directory", path, e))
}

fn create_file(path: &Path, mode: u32) -> Result<fs::File, Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path).map_err(|e| Error::io("create", path, e))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("set the mode of", path, e))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

fn make_symlink(target: &str, path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, path).map_err(|e| Error::io("create symlink", path, e))
    }
    #[cfg(not(unix))]
    {
        Err(Error::io(
            "create symlink",
            path,
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("symbolic links to {target:?} are only created on Unix"),
            ),
        ))
    }
}
