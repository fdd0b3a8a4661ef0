//! Response bodies (whole, empty, or streamed from a producer task) and the request body
//! wrapper that hands back what a handler left unread.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
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

/// Where a [`ReqBody`] puts what is left of it when dropped before its end.
pub(crate) type Leftover = Arc<Mutex<Option<Incoming>>>;

/// A request body that, dropped before its end (a handler answered without reading it, or
/// stopped early), hands the rest to its [`Leftover`], so the connection can read past it
/// to the next request.
pub(crate) struct ReqBody {
    inner: Option<Incoming>,
    leftover: Leftover,
}

impl ReqBody {
    /// Wrap `body`; what is left of it when the wrapper drops lands in the returned slot.
    pub(crate) fn new(body: Incoming) -> (ReqBody, Leftover) {
        let leftover = Leftover::default();
        let body = ReqBody {
            inner: Some(body),
            leftover: leftover.clone(),
        };
        (body, leftover)
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for ReqBody {
    fn drop(&mut self) {
        if let Some(body) = self.inner.take()
            && !body.is_end_stream()
        {
            *self.leftover.lock().unwrap_or_else(PoisonError::into_inner) = Some(body);
        }
    }
}
