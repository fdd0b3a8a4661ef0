//! Response bodies: whole, empty, or streamed from a producer task.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use tokio::sync::mpsc;

/// The body type of every response.
pub(crate) type ResBody = BoxBody<Bytes, io::Error>;

/// A whole body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ResBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// No body.
pub(crate) fn empty() -> ResBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body fed through a channel by a producer task; an `Err` aborts the connection.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    len: u64,
}

impl ChannelBody {
    /// A body of `len` bytes and the sender its producer writes to.
    pub(crate) fn channel(len: u64) -> (mpsc::Sender<io::Result<Bytes>>, ResBody) {
        let (tx, rx) = mpsc::channel(4);
        (tx, ChannelBody { rx, len }.boxed())
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(bytes))) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}
