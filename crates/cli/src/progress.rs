//! Progress bars on stderr: one line per blob with bytes, rate and ETA.
//!
//! Hidden when stderr is not a terminal or with `--no-progress`, so piped output and
//! scripts see nothing of them.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one command.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars on stderr when `wanted` and stderr is a terminal; otherwise nothing is drawn.
    pub(crate) fn new(wanted: bool) -> Progress {
        let multi = (wanted && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Progress { multi }
    }

    /// Whether bars are drawn.
    pub(crate) fn is_visible(&self) -> bool {
        self.multi.is_some()
    }

    /// A new bar labelled `label` for `total` bytes (a spinner when unknown).
    pub(crate) fn bar(&self, label: &str, total: Option<u64>) -> Bar {
        let Some(multi) = &self.multi else {
            return Bar(None);
        };
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(bytes_style()),
            None => ProgressBar::new_spinner().with_style(spinner_style()),
        };
        let bar = multi.add(bar.with_prefix(short_label(label)));
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar(Some(bar))
    }
}

/// One blob's bar; does nothing when bars are hidden.
#[derive(Debug, Clone)]
pub(crate) struct Bar(Option<ProgressBar>);

impl Bar {
    /// `n` more bytes transferred.
    pub(crate) fn inc(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    /// Set the bytes transferred so far (a resumed or restarted transfer).
    pub(crate) fn set_position(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(n);
        }
    }

    /// Done; the line stays with a final word (`done`, `exists`, `cached`, ...).
    pub(crate) fn finish(&self, word: &str) {
        if let Some(bar) = &self.0 {
            bar.set_style(done_style());
            bar.finish_with_message(word.to_owned());
        }
    }

    /// Failed or cancelled: the bar is removed.
    pub(crate) fn abandon(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:24} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:24} {spinner} {bytes:>10} {binary_bytes_per_sec:>12}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn done_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:24} {msg} {total_bytes:>10} in {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A label fitting 24 columns: digests are shortened to `sha256:abcdef123456`, long names
/// keep their end.
fn short_label(label: &str) -> String {
    const WIDTH: usize = 24;
    if let Some((alg, hex)) = label.split_once(':')
        && hex.len() > 12
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return format!("{alg}:{}", &hex[..12]);
    }
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= WIDTH {
        label.to_owned()
    } else {
        let tail: String = chars[chars.len() - (WIDTH - 1)..].iter().collect();
        format!("…{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fit() {
        assert_eq!(short_label("config.json"), "config.json");
        assert_eq!(
            short_label(&format!("sha256:{}", "ab".repeat(32))),
            "sha256:abababababab"
        );
        let long = short_label("a/very/long/path/to/some/file/name.tar.gz");
        assert_eq!(long.chars().count(), 24);
        assert!(long.ends_with("name.tar.gz"));
    }

    #[test]
    fn hidden_bars_do_nothing() {
        let p = Progress { multi: None };
        let bar = p.bar("x", Some(10));
        bar.inc(5);
        bar.finish("done");
        assert!(!p.is_visible());
    }
}
