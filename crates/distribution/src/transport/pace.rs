//! Bounded stalls: the minimum-throughput rule for bodies, and an operation's deadline
//! across its retries and resumes.
//!
//! A read timeout that restarts on every byte lets a registry sending 1 byte/s hold a
//! download for hours. Instead a body must move [`MinThroughput::bytes`] in every
//! [`MinThroughput::window`] ([`Pace`]), and an operation whose attempts keep stalling
//! ends once it made no progress for [`RegistryPolicy::max_stall`] or ran for
//! [`RegistryPolicy::operation_timeout`] ([`Deadline`]).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::Instant;

use crate::config::{MinThroughput, RegistryPolicy};
use crate::error::{BoxError, Error, redact_url};

/// Tumbling windows over one body: each window must see at least `min.bytes`.
#[derive(Debug)]
pub(crate) struct Pace {
    min: MinThroughput,
    window_start: Instant,
    in_window: u64,
}

/// A window closed with fewer bytes than the minimum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TooSlow {
    pub(crate) received: u64,
    pub(crate) min: MinThroughput,
}

impl TooSlow {
    pub(crate) fn into_error(self, method: &str, url: &str) -> Error {
        Error::TooSlow {
            method: method.to_owned(),
            url: redact_url(url),
            received: self.received,
            minimum: self.min.bytes,
            window: self.min.window,
        }
    }
}

impl Pace {
    pub(crate) fn new(min: MinThroughput) -> Pace {
        Pace {
            min,
            window_start: Instant::now(),
            in_window: 0,
        }
    }

    /// When the current window closes: wait for the next piece at most until then.
    pub(crate) fn window_end(&self) -> Instant {
        self.window_start + self.min.window
    }

    /// Count `n` bytes; `Ok(true)` when they complete this window's minimum (the
    /// transfer made progress), `Err` when a window closed short.
    pub(crate) fn record(&mut self, n: u64) -> Result<bool, TooSlow> {
        let before = self.in_window;
        self.in_window = self.in_window.saturating_add(n);
        let met_now = before < self.min.bytes && self.in_window >= self.min.bytes;
        self.check()?;
        Ok(met_now)
    }

    /// Time the other side of the transfer was not ours to blame (a consumer that did not
    /// read, a source that had nothing yet) does not count: the window moves by it.
    pub(crate) fn excuse(&mut self, paused: Duration) {
        self.window_start += paused;
    }

    /// Close the current window if its time is over: `Err` when it fell short.
    pub(crate) fn check(&mut self) -> Result<(), TooSlow> {
        let now = Instant::now();
        if now < self.window_end() {
            return Ok(());
        }
        if self.in_window < self.min.bytes {
            return Err(TooSlow {
                received: self.in_window,
                min: self.min,
            });
        }
        self.window_start = now;
        self.in_window = 0;
        Ok(())
    }
}

/// One operation's deadline, shared by its requests, retries and resumes: it ends
/// `max_stall` after the last progress, and `operation_timeout` after the start.
#[derive(Clone, Debug)]
pub(crate) struct Deadline {
    started: Instant,
    last_progress: Arc<Mutex<Instant>>,
    max_stall: Duration,
    total: Option<Duration>,
    min: MinThroughput,
}

impl Deadline {
    /// A deadline with the limits of the registry's `policy`.
    pub(crate) fn new(policy: &RegistryPolicy) -> Deadline {
        let now = Instant::now();
        Deadline {
            started: now,
            last_progress: Arc::new(Mutex::new(now)),
            max_stall: policy.max_stall,
            total: policy.operation_timeout,
            min: policy.min_throughput,
        }
    }

    /// The registry's minimum throughput, for the bodies of this operation.
    pub(crate) fn min_throughput(&self) -> MinThroughput {
        self.min
    }

    /// The transfer moved a window's worth of bytes (or finished a body).
    pub(crate) fn progress(&self) {
        *self
            .last_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// Time the caller held the transfer up (not reading a download, a slow upload
    /// source) is not the registry's stall: the stall deadline moves by it.
    pub(crate) fn excuse(&self, paused: Duration) {
        let mut last = self
            .last_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *last = (*last + paused).min(Instant::now());
    }

    /// When the operation must end.
    pub(crate) fn at(&self) -> Instant {
        let last = *self
            .last_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let stall = last + self.max_stall;
        match self.total {
            Some(total) => stall.min(self.started + total),
            None => stall,
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        Instant::now() >= self.at()
    }

    /// The error for an operation that reached its deadline.
    pub(crate) fn error(&self, method: &str, url: &str) -> Error {
        Error::Timeout {
            method: method.to_owned(),
            url: redact_url(url),
            after: self.started.elapsed(),
        }
    }
}

/// What a request body reports to the exchange that sends it.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    bytes: AtomicU64,
    done: AtomicBool,
    /// Since when the body's source has had nothing to give, and for how long it had
    /// nothing before that (not counted against the registry).
    source: Mutex<SourceWait>,
}

#[derive(Debug, Default)]
struct SourceWait {
    since: Option<Instant>,
    total: Duration,
}

impl Sent {
    /// How long the body's source made the transfer wait, up to now; each call returns
    /// the time since the previous one.
    pub(crate) fn take_source_wait(&self) -> Duration {
        let mut wait = self.source.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(since) = wait.since {
            let now = Instant::now();
            wait.total += now - since;
            wait.since = Some(now);
        }
        std::mem::take(&mut wait.total)
    }

    fn source_pending(&self, pending: bool) {
        let mut wait = self.source.lock().unwrap_or_else(PoisonError::into_inner);
        match (pending, wait.since) {
            (true, None) => wait.since = Some(Instant::now()),
            (false, Some(since)) => {
                wait.total += since.elapsed();
                wait.since = None;
            }
            _ => {}
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn done(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }
}

/// A request body that counts what hyper took from it and notes its end, so that the
/// throughput rule applies to uploads and the response-head timeout starts only once the
/// whole body was sent.
pub(crate) struct Counted<B> {
    inner: B,
    sent: Arc<Sent>,
}

impl<B> Counted<B> {
    pub(crate) fn new(inner: B, sent: Arc<Sent>) -> Counted<B>
    where
        B: http_body::Body,
    {
        // A body that is empty from the start may never be polled.
        if inner.is_end_stream() {
            sent.done.store(true, Ordering::Relaxed);
        }
        Counted { inner, sent }
    }
}

impl<B> http_body::Body for Counted<B>
where
    B: http_body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        self.sent.source_pending(polled.is_pending());
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.sent
                        .bytes
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                if self.inner.is_end_stream() {
                    self.sent.done.store(true, Ordering::Relaxed);
                }
            }
            Poll::Ready(None) => self.sent.done.store(true, Ordering::Relaxed),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(bytes: u64, window_ms: u64) -> MinThroughput {
        MinThroughput::new(bytes, Duration::from_millis(window_ms))
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_short_of_the_minimum_fails() {
        let mut pace = Pace::new(min(10, 1_000));
        assert!(!pace.record(4).unwrap());
        tokio::time::advance(Duration::from_millis(1_001)).await;
        let slow = pace.check().unwrap_err();
        assert_eq!(slow.received, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_that_met_the_minimum_starts_the_next() {
        let mut pace = Pace::new(min(10, 1_000));
        assert!(
            pace.record(10).unwrap(),
            "progress when the minimum is reached"
        );
        assert!(!pace.record(10).unwrap(), "reported once per window");
        tokio::time::advance(Duration::from_millis(1_001)).await;
        pace.check().unwrap();
        // The new window starts empty.
        tokio::time::advance(Duration::from_millis(1_001)).await;
        assert_eq!(pace.check().unwrap_err().received, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_caller_held_the_transfer_is_excused() {
        let mut pace = Pace::new(min(10, 1_000));
        let deadline = Deadline::new(
            &RegistryPolicy::builder()
                .max_stall(Duration::from_secs(5))
                .build(),
        );
        // The consumer did not read for 10 s; the registry then sent nothing for 0.5 s.
        tokio::time::advance(Duration::from_secs(10)).await;
        pace.excuse(Duration::from_secs(10));
        deadline.excuse(Duration::from_secs(10));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(
            pace.check().is_ok(),
            "only 0.5 s of the window were the registry's"
        );
        assert!(!deadline.expired());
        tokio::time::advance(Duration::from_millis(501)).await;
        assert!(pace.check().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_with_nothing_to_give_is_counted_as_its_wait() {
        let sent = Sent::default();
        sent.source_pending(true);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(sent.take_source_wait(), Duration::from_secs(3));
        tokio::time::advance(Duration::from_secs(2)).await;
        sent.source_pending(false);
        assert_eq!(sent.take_source_wait(), Duration::from_secs(2));
        assert_eq!(sent.take_source_wait(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_moves_with_progress_but_not_past_the_total() {
        let policy = RegistryPolicy::builder()
            .max_stall(Duration::from_secs(10))
            .operation_timeout(Some(Duration::from_secs(25)))
            .build();
        let deadline = Deadline::new(&policy);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(!deadline.expired());
        deadline.progress();
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(!deadline.expired(), "progress moved the stall deadline");
        deadline.progress();
        tokio::time::advance(Duration::from_secs(8)).await;
        assert!(deadline.expired(), "the total is reached");
    }
}
