//! Extracts an archive with the default limits and prints what it wrote.
//!
//! ```text
//! cargo run -p orca-unpack --example unpack -- ARCHIVE DEST
//! ```
//!
//! `ARCHIVE` is a tar or tar+gzip file (detected from its first bytes) or `-` for standard
//! input. `DEST` is created, or replaced atomically when it exists. On refusal the error is
//! printed and the exit code is 1 (2 for wrong usage); nothing is written.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use orca_unpack::{EntryKind, ExtractOptions, extract};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [archive, dest] = args.as_slice() else {
        eprintln!("usage: unpack ARCHIVE DEST   (ARCHIVE may be - for standard input)");
        return ExitCode::from(2);
    };
    let input: Box<dyn Read> = if archive == "-" {
        Box::new(io::stdin().lock())
    } else {
        match File::open(archive) {
            Ok(file) => Box::new(file),
            Err(e) => {
                eprintln!("error: cannot open {archive}: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let dest = PathBuf::from(dest);
    match extract(input, &dest, &ExtractOptions::default()) {
        Ok(summary) => {
            for entry in &summary.entries {
                let kind = match entry.kind {
                    EntryKind::File => "file",
                    EntryKind::Directory => "dir ",
                    EntryKind::Symlink => "link",
                    EntryKind::Hardlink => "hard",
                    _ => "?   ",
                };
                println!("{kind} {:>12} {}", entry.size, entry.path.display());
            }
            println!(
                "{} entries, {} bytes written to {} ({:?}, {} bytes read{})",
                summary.entries.len(),
                summary.bytes,
                dest.display(),
                summary.compression,
                summary.compressed_bytes,
                if summary.replaced {
                    ", replaced the previous content"
                } else {
                    ""
                }
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprint!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprint!(": {cause}");
                source = cause.source();
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}
