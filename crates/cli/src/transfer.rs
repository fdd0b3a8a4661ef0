//! The facade's observer events turned into progress bars, one line per blob.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use orca::{Descriptor, Digest, Direction, Event, Observer, TransferOutcome};

use crate::progress::{Bar, Progress};

/// Draws a bar for each blob a call transfers.
#[derive(Debug)]
pub(crate) struct ProgressObserver {
    progress: Progress,
    bars: Mutex<HashMap<Digest, Bar>>,
}

impl ProgressObserver {
    pub(crate) fn new(progress: Progress) -> ProgressObserver {
        ProgressObserver {
            progress,
            bars: Mutex::default(),
        }
    }

    /// Remove every bar still drawn (after a failure).
    pub(crate) fn clear(&self) {
        let mut bars = self.bars.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, bar) in bars.drain() {
            bar.abandon();
        }
    }

    fn label(direction: Direction, descriptor: &Descriptor) -> String {
        let arrow = match direction {
            Direction::Upload => "↑",
            _ => "↓",
        };
        let name = descriptor
            .title()
            .map_or_else(|| descriptor.digest.to_string(), str::to_owned);
        format!("{arrow} {name}")
    }
}

impl Observer for ProgressObserver {
    fn on_event(&self, event: &Event) {
        if !self.progress.is_visible() {
            return;
        }
        let mut bars = self.bars.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::TransferStarted {
                direction,
                descriptor,
            } => {
                let bar = self
                    .progress
                    .bar(&Self::label(*direction, descriptor), Some(descriptor.size));
                if let Some(old) = bars.insert(descriptor.digest.clone(), bar) {
                    old.abandon();
                }
            }
            Event::Progress { digest, bytes, .. } => {
                if let Some(bar) = bars.get(digest) {
                    bar.inc(*bytes);
                }
            }
            Event::TransferFinished {
                descriptor,
                outcome,
                ..
            } => {
                let bar = bars.remove(&descriptor.digest).unwrap_or_else(|| {
                    self.progress.bar(
                        &Self::label(Direction::Download, descriptor),
                        Some(descriptor.size),
                    )
                });
                bar.set_position(descriptor.size);
                bar.finish(match outcome {
                    TransferOutcome::Cached => "cached ",
                    TransferOutcome::Skipped => "exists ",
                    TransferOutcome::Mounted => "mounted",
                    _ => "done   ",
                });
            }
            _ => {}
        }
    }
}
