//! Limits and safe, atomic extraction of tar and tar+gzip layers; ORAS-compatible folder
//! packing.
//!
//! An artifact from a registry is untrusted input that ends up on disk. This crate
//! extracts it so that it cannot write outside its destination, cannot exhaust the disk or
//! memory, and never leaves a half-written destination behind; and it packs folders the
//! way the ORAS CLI does, so that orca and ORAS exchange folders both ways.
//!
//! - [`extract`]: a tar or tar+gzip stream into a directory, with [`Limits`] and digest
//!   checks, atomically; [`extract_buffered`] decodes straight from a
//!   [`BufRead`](std::io::BufRead)'s own buffer.
//! - [`pack_dir`] / [`pack_file`]: a folder into an ORAS folder layer, a file into a
//!   titled layer descriptor.
//! - [`write_layer`] / [`write_layers`]: what an ORAS pull writes for the layers of a
//!   manifest; [`write_layer_buffered`] writes a single file straight from a
//!   [`BufRead`](std::io::BufRead)'s own buffer (pieces already in memory).
//! - [`check_path`]: the pure path check used for entries and titles.
//!
//! The crate does file IO only below the destinations it is given (and their temporary
//! siblings); it does no network IO, reads no clock and contains no `unsafe`. The async
//! adapter [`extract_async`] exists with the `tokio` feature (off by default).
//!
//! ```
//! use orca_unpack::{ExtractOptions, PackOptions, extract, pack_dir};
//!
//! let work = tempfile::tempdir()?;
//! let folder = work.path().join("config");
//! std::fs::create_dir(&folder)?;
//! std::fs::write(folder.join("app.toml"), "answer = 42\n")?;
//!
//! let mut layer = Vec::new();
//! let descriptor = pack_dir(&folder, &mut layer, &PackOptions::default())?;
//! assert_eq!(descriptor.title(), Some("config"));
//!
//! let mut options = ExtractOptions::default();
//! options.layer_digest = Some(descriptor.digest.clone());
//! let summary = extract(layer.as_slice(), &work.path().join("out"), &options)?;
//! assert_eq!(summary.bytes, 12);
//! assert_eq!(std::fs::read_to_string(work.path().join("out/config/app.toml"))?, "answer = 42\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Atomic replacement
//!
//! An extraction is written into `<parent>/.<name>.orca-tmp-XXXXXX` and moved to `<dest>`
//! only once it is complete and verified. When `<dest>` does not exist this is one
//! `rename`. When it exists:
//!
//! - On Linux the two are swapped with one `renameat2(RENAME_EXCHANGE)`, which is atomic:
//!   a reader sees either the old tree or the new one, and a crash at any point leaves
//!   `<dest>` complete (old or new) plus possibly the other tree under the temporary name.
//! - Where the exchange is unavailable (other systems, or file systems that refuse it),
//!   `<dest>` is renamed to `<parent>/.<name>.orca-old-XXXXXX/<name>`, the new tree is
//!   renamed to `<dest>`, and the old tree is removed; if the second rename fails the old
//!   tree is put back. Between the two renames `<dest>` does not exist: a crash there
//!   leaves the old tree under `.orca-old-` and the new one under `.orca-tmp-`, and a
//!   concurrent reader may see no `<dest>` for that instant. It never sees a mix.
//!
//! Leftover `.<name>.orca-tmp-*` and `.<name>.orca-old-*` entries are never read by this
//! crate and can be removed. A staging directory is locked while its extraction runs
//! ([`Staging`]); the next extraction to the same destination removes the `.orca-tmp-`
//! ones a killed process left. `.orca-old-` ones may hold a previous destination an error
//! message pointed at, and are left alone.

mod error;
mod extract;
mod layer;
mod limits;
mod pack;
mod path;
mod replace;
mod staging;

#[cfg(feature = "tokio")]
mod async_read;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "tokio")]
pub use async_read::{extract_async, write_layer_async};
pub use error::{DigestTarget, EntryType, Error, LinkKind, PathProblem};
pub use extract::{
    Compression, Duplicates, EntryKind, ExtractOptions, ExtractOptionsBuilder, Extracted,
    HEADER_BYTES, Summary, TRAILING_BYTES, extract, extract_buffered,
};
pub use layer::{
    LayerOptions, LayerOptionsBuilder, Written, write_layer, write_layer_buffered, write_layers,
};
pub use limits::{LimitKind, Limits, LimitsBuilder};
pub use pack::{PackOptions, PackOptionsBuilder, pack_dir, pack_file};
pub use path::{RelativePath, check_path};
pub use replace::replace_with;
pub use staging::Staging;
