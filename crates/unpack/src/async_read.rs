//! The async adapters (feature `tokio`): [`extract_async`] and [`write_layer_async`].

use std::io::{self, Read};
use std::path::PathBuf;

use orca_manifest::Descriptor;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::error::Error;
use crate::extract::{ExtractOptions, Summary, extract};
use crate::layer::{LayerOptions, Written, write_layer};

/// Chunks in flight between the async reader and the extractor: bounds memory to
/// `CHANNEL_DEPTH × CHUNK` bytes.
const CHANNEL_DEPTH: usize = 8;
const CHUNK: usize = 64 * 1024;

/// A blocking [`Read`] over chunks sent from async code.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// [`extract`] from an [`AsyncRead`] (for a stream of `Bytes`, wrap it in
/// `tokio_util::io::StreamReader`).
///
/// The synchronous extractor runs on tokio's blocking pool (`spawn_blocking`) and is fed
/// through a bounded channel, so at most 512 KiB of the stream is buffered and a slow disk
/// slows the reader down. Must be called within a tokio runtime. Available with the
/// `tokio` feature.
///
/// # Errors
///
/// As [`extract`]; a read error of `reader` is [`Error::Read`].
///
/// # Panics
///
/// Resumes a panic of the extraction task (there is none by design).
pub async fn extract_async<R>(
    reader: R,
    dest: PathBuf,
    options: ExtractOptions,
) -> Result<Summary, Error>
where
    R: AsyncRead + Unpin,
{
    feed_blocking(reader, move |reader| extract(reader, &dest, &options)).await
}

/// [`write_layer`] from an [`AsyncRead`]: a layer streamed from the network (for example
/// `orca_distribution::BlobStream::into_async_read`) is extracted, or written as one file,
/// as it arrives, with ORAS title and file-versus-folder handling, without holding the
/// layer in memory.
///
/// Runs like [`extract_async`]: the synchronous writer on tokio's blocking pool, fed
/// through a bounded channel (at most 512 KiB in flight). A skipped layer (no title) stops
/// reading at once. Must be called within a tokio runtime. Available with the `tokio`
/// feature.
///
/// # Errors
///
/// As [`write_layer`]; a read error of `reader` is [`Error::Read`], and on any error
/// nothing is left at the target.
///
/// # Panics
///
/// Resumes a panic of the writing task (there is none by design).
pub async fn write_layer_async<R>(
    descriptor: Descriptor,
    reader: R,
    dest: PathBuf,
    options: LayerOptions,
) -> Result<Written, Error>
where
    R: AsyncRead + Unpin,
{
    feed_blocking(reader, move |reader| {
        write_layer(&descriptor, reader, &dest, &options)
    })
    .await
}

/// Run `work` on the blocking pool over a [`Read`] fed from `reader` through a bounded
/// channel; stop reading as soon as `work` stops reading.
async fn feed_blocking<R, T, F>(mut reader: R, work: F) -> Result<T, Error>
where
    R: AsyncRead + Unpin,
    T: Send + 'static,
    F: FnOnce(ChannelReader) -> Result<T, Error> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let task = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        };
        work(reader)
    });
    loop {
        let mut chunk = vec![0; CHUNK];
        let sent = match reader.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                chunk.truncate(n);
                tx.send(Ok(chunk)).await
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                break;
            }
        };
        // The work stopped early (it failed, or it needs no more): its result says why.
        if sent.is_err() {
            break;
        }
    }
    drop(tx);
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Read(io::Error::other(e))),
    }
}
