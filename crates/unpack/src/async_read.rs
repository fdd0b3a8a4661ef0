//! The async adapter (feature `tokio`).

use std::io::{self, Read};
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::error::Error;
use crate::extract::{ExtractOptions, Summary, extract};

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
    mut reader: R,
    dest: PathBuf,
    options: ExtractOptions,
) -> Result<Summary, Error>
where
    R: AsyncRead + Unpin,
{
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let task = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        };
        extract(reader, &dest, &options)
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
        // The extractor stopped early (it failed): its result says why.
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
