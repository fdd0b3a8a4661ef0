//! The hostile-archive corpus: each archive is refused with the right error and nothing is
//! written: the destination's parent holds exactly what it held before (an earlier pull
//! included) and no temporary directory.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use orca_unpack::{
    Duplicates, Error, ExtractOptions, LimitKind, Limits, LinkKind, PathProblem, extract,
};

use crate::craft::{RawTar, gzip, many_empty_entries, zero_bomb};
use crate::snapshot;

type Check = fn(&Error) -> bool;

struct Case {
    name: &'static str,
    stream: Vec<u8>,
    options: ExtractOptions,
    check: Check,
}

fn links() -> ExtractOptions {
    let mut options = ExtractOptions::default();
    options.allow_symlinks = true;
    options.allow_hardlinks = true;
    options
}

fn with_limits(change: impl FnOnce(&mut Limits)) -> ExtractOptions {
    let mut limits = Limits::default();
    change(&mut limits);
    ExtractOptions::with_limits(limits)
}

fn unsafe_path(e: &Error, want: PathProblem) -> bool {
    matches!(e, Error::UnsafePath { problem, .. } if *problem == want)
}

fn case(name: &'static str, stream: Vec<u8>, options: ExtractOptions, check: Check) -> Case {
    Case {
        name,
        stream,
        options,
        check,
    }
}

#[allow(clippy::too_many_lines)] // one table of cases reads best in one place
fn cases() -> Vec<Case> {
    let d = ExtractOptions::default;
    let f = |name: &str| {
        RawTar::new()
            .file("ok.txt", b"fine")
            .file(name, b"evil")
            .finish()
    };
    let long_dotdot = "../".repeat(40) + "etc/evil";
    let mut strict = ExtractOptions::default();
    strict.duplicates = Duplicates::Error;
    let mut garbage = RawTar::new().file("a", b"a").finish();
    garbage.extend(std::iter::repeat_n(7u8, 2 * 1024 * 1024));
    let mut bad_checksum = RawTar::new().file("a", b"a").file("b", b"b").finish();
    bad_checksum[1024 + 10] ^= 1;
    let full = RawTar::new().file("a", &[1; 2000]).file("b", b"b").finish();
    vec![
        // Path traversal in every spelling.
        case("parent", f("../evil"), d(), |e| {
            unsafe_path(e, PathProblem::ParentDir)
        }),
        case("nested parent", f("a/../../evil"), d(), |e| {
            unsafe_path(e, PathProblem::ParentDir)
        }),
        case("dot parent", f("./a/./../../evil"), d(), |e| {
            unsafe_path(e, PathProblem::ParentDir)
        }),
        case("trailing parent", f("a/.."), d(), |e| {
            unsafe_path(e, PathProblem::ParentDir)
        }),
        case("absolute", f("/tmp/evil"), d(), |e| {
            unsafe_path(e, PathProblem::Absolute)
        }),
        case("double slash", f("//tmp/evil"), d(), |e| {
            unsafe_path(e, PathProblem::Absolute)
        }),
        case("windows drive", f("C:\\evil"), d(), |e| {
            unsafe_path(e, PathProblem::WindowsDrive)
        }),
        case("windows drive slash", f("c:/evil"), d(), |e| {
            unsafe_path(e, PathProblem::WindowsDrive)
        }),
        case("unc", f("\\\\server\\share\\evil"), d(), |e| {
            unsafe_path(e, PathProblem::Backslash)
        }),
        case("backslash parent", f("a\\..\\..\\evil"), d(), |e| {
            unsafe_path(e, PathProblem::Backslash)
        }),
        case("root only", f("./"), d(), |e| {
            unsafe_path(e, PathProblem::Empty)
        }),
        case(
            "gnu long name parent",
            RawTar::new()
                .gnu_long_name(long_dotdot.as_bytes())
                .file("x", b"evil")
                .finish(),
            d(),
            |e| unsafe_path(e, PathProblem::ParentDir),
        ),
        case(
            "pax path parent",
            RawTar::new()
                .pax(&[("path", b"../evil")])
                .file("x", b"evil")
                .finish(),
            d(),
            |e| unsafe_path(e, PathProblem::ParentDir),
        ),
        case(
            "pax path absolute",
            RawTar::new()
                .pax(&[("path", b"/etc/evil")])
                .file("x", b"evil")
                .finish(),
            d(),
            |e| unsafe_path(e, PathProblem::Absolute),
        ),
        case(
            "pax path nul",
            RawTar::new()
                .pax(&[("path", b"a\0/../../evil")])
                .file("x", b"evil")
                .finish(),
            d(),
            |e| unsafe_path(e, PathProblem::Nul),
        ),
        case(
            "non utf-8 name",
            RawTar::new()
                .entry(b"a\xff", b'0', b"x", b"", 0o644)
                .finish(),
            d(),
            |e| unsafe_path(e, PathProblem::NotUtf8),
        ),
        // Links.
        case(
            "symlink not allowed",
            RawTar::new().symlink("l", "sub").finish(),
            d(),
            |e| {
                matches!(
                    e,
                    Error::LinkNotAllowed {
                        kind: LinkKind::Symlink,
                        ..
                    }
                )
            },
        ),
        case(
            "symlink then file through it",
            RawTar::new()
                .dir("sub")
                .symlink("l", "sub")
                .file("l/x", b"evil")
                .finish(),
            links(),
            |e| matches!(e, Error::ThroughLink { conflict, .. } if conflict == "l"),
        ),
        case(
            "symlink outside then file through it",
            RawTar::new()
                .symlink("l", "../../..")
                .file("l/x", b"evil")
                .finish(),
            links(),
            |e| {
                matches!(
                    e,
                    Error::LinkEscapes {
                        kind: LinkKind::Symlink,
                        ..
                    }
                )
            },
        ),
        case(
            "symlink absolute",
            RawTar::new().symlink("etc", "/etc").finish(),
            links(),
            |e| {
                matches!(
                    e,
                    Error::LinkEscapes {
                        kind: LinkKind::Symlink,
                        ..
                    }
                )
            },
        ),
        case(
            "symlink chain",
            RawTar::new()
                .dir("d")
                .symlink("d/dot", ".")
                .symlink("x", "d/dot/../..")
                .finish(),
            links(),
            |e| matches!(e, Error::LinkEscapes { path, .. } if path == "x"),
        ),
        case(
            "symlink through unknown",
            RawTar::new().symlink("x", "later/../..").finish(),
            links(),
            |e| matches!(e, Error::LinkEscapes { .. }),
        ),
        case(
            "symlink replacing file outward",
            RawTar::new()
                .file("f", b"x")
                .symlink("f", "../../etc/passwd")
                .finish(),
            links(),
            |e| matches!(e, Error::LinkEscapes { .. }),
        ),
        case(
            "symlink long link outward",
            RawTar::new()
                .gnu_long_link(long_dotdot.as_bytes())
                .symlink("l", "x")
                .finish(),
            links(),
            |e| matches!(e, Error::LinkEscapes { .. }),
        ),
        case(
            "hardlink not allowed",
            RawTar::new().hardlink("passwd", "/etc/passwd").finish(),
            d(),
            |e| {
                matches!(
                    e,
                    Error::LinkNotAllowed {
                        kind: LinkKind::Hardlink,
                        ..
                    }
                )
            },
        ),
        case(
            "hardlink to /etc/passwd",
            RawTar::new().hardlink("passwd", "/etc/passwd").finish(),
            links(),
            |e| {
                matches!(
                    e,
                    Error::LinkEscapes {
                        kind: LinkKind::Hardlink,
                        ..
                    }
                )
            },
        ),
        case(
            "hardlink parent",
            RawTar::new().hardlink("x", "../outside").finish(),
            links(),
            |e| {
                matches!(
                    e,
                    Error::LinkEscapes {
                        kind: LinkKind::Hardlink,
                        ..
                    }
                )
            },
        ),
        case(
            "hardlink through symlink",
            RawTar::new()
                .dir("d")
                .file("d/f", b"f")
                .symlink("l", "d")
                .hardlink("h", "l/f")
                .finish(),
            links(),
            |e| {
                matches!(
                    e,
                    Error::LinkEscapes {
                        kind: LinkKind::Hardlink,
                        ..
                    }
                )
            },
        ),
        case(
            "hardlink to missing",
            RawTar::new().hardlink("h", "nothing").finish(),
            links(),
            |e| {
                matches!(
                    e,
                    Error::LinkEscapes {
                        kind: LinkKind::Hardlink,
                        ..
                    }
                )
            },
        ),
        // Special files.
        case(
            "character device",
            RawTar::new().entry(b"null", b'3', b"", b"", 0o666).finish(),
            links(),
            |e| matches!(e, Error::UnsupportedEntry { entry_type, .. } if entry_type.0 == b'3'),
        ),
        case(
            "block device",
            RawTar::new().entry(b"sda", b'4', b"", b"", 0o666).finish(),
            links(),
            |e| matches!(e, Error::UnsupportedEntry { entry_type, .. } if entry_type.0 == b'4'),
        ),
        case(
            "fifo",
            RawTar::new().entry(b"pipe", b'6', b"", b"", 0o666).finish(),
            links(),
            |e| matches!(e, Error::UnsupportedEntry { entry_type, .. } if entry_type.0 == b'6'),
        ),
        // Duplicates.
        case(
            "duplicate file",
            RawTar::new().file("a", b"1").file("a", b"2").finish(),
            strict,
            |e| {
                matches!(
                    e,
                    Error::Duplicate {
                        type_change: false,
                        ..
                    }
                )
            },
        ),
        case(
            "directory replaced by file",
            RawTar::new().dir("a").file("a", b"2").finish(),
            d(),
            |e| {
                matches!(
                    e,
                    Error::Duplicate {
                        type_change: true,
                        ..
                    }
                )
            },
        ),
        case(
            "file below a file",
            RawTar::new().file("a", b"1").file("a/b", b"2").finish(),
            d(),
            |e| matches!(e, Error::ThroughLink { conflict, .. } if conflict == "a"),
        ),
        // Limits.
        case(
            "long name",
            RawTar::new()
                .pax(&[("path", "a".repeat(5000).as_bytes())])
                .file("x", b"x")
                .finish(),
            d(),
            |e| {
                matches!(
                    e,
                    Error::Limit {
                        limit: LimitKind::PathLength,
                        value: 4096,
                        seen: 5000,
                        ..
                    }
                )
            },
        ),
        case(
            "deep name",
            RawTar::new()
                .pax(&[("path", "a/".repeat(65).as_bytes())])
                .file("x", b"x")
                .finish(),
            d(),
            |e| {
                matches!(
                    e,
                    Error::Limit {
                        limit: LimitKind::PathDepth,
                        value: 64,
                        seen: 65,
                        ..
                    }
                )
            },
        ),
        case(
            "huge pax header",
            RawTar::new()
                .pax(&[("comment", &vec![b'x'; 2 * 1024 * 1024])])
                .file("x", b"x")
                .finish(),
            d(),
            |e| {
                matches!(
                    e,
                    Error::Limit {
                        limit: LimitKind::HeaderBytes,
                        ..
                    }
                )
            },
        ),
        case("trailing garbage", garbage, d(), |e| {
            matches!(
                e,
                Error::Limit {
                    limit: LimitKind::TrailingBytes,
                    ..
                }
            )
        }),
        case(
            "entry bytes",
            RawTar::new().file("big", &[1; 3000]).finish(),
            with_limits(|l| l.max_entry_bytes = 2048),
            |e| {
                matches!(
                    e,
                    Error::Limit {
                        limit: LimitKind::EntryBytes,
                        value: 2048,
                        ..
                    }
                )
            },
        ),
        case(
            "total bytes",
            RawTar::new()
                .file("a", &[1; 1500])
                .file("b", &[1; 1500])
                .finish(),
            with_limits(|l| l.max_total_bytes = 2048),
            |e| {
                matches!(
                    e,
                    Error::Limit {
                        limit: LimitKind::TotalBytes,
                        value: 2048,
                        ..
                    }
                )
            },
        ),
        case(
            "entry count",
            RawTar::new()
                .file("a", b"")
                .file("b", b"")
                .file("c", b"")
                .finish(),
            with_limits(|l| l.max_entries = 2),
            |e| {
                matches!(
                    e,
                    Error::Limit {
                        limit: LimitKind::Entries,
                        value: 2,
                        seen: 3,
                        ..
                    }
                )
            },
        ),
        // Broken streams.
        case("empty stream", Vec::new(), d(), |e| {
            matches!(e, Error::Truncated { .. })
        }),
        case("truncated in data", full[..1024].to_vec(), d(), |e| {
            matches!(e, Error::Truncated { .. })
        }),
        case(
            "truncated in header",
            full[..2560 + 100].to_vec(),
            d(),
            |e| matches!(e, Error::Truncated { .. }),
        ),
        case(
            "no end marker",
            RawTar::new().file("a", b"a").unfinished(),
            d(),
            |e| matches!(e, Error::Truncated { .. }),
        ),
        case(
            "truncated gzip",
            {
                let gz = gzip(&full);
                gz[..gz.len() - 6].to_vec()
            },
            d(),
            |e| matches!(e, Error::Truncated { .. }),
        ),
        case(
            "corrupt gzip",
            {
                let mut gz = gzip(&RawTar::new().file("a", &[7; 5000]).finish());
                let n = gz.len();
                gz[n - 6] ^= 0xff;
                gz
            },
            d(),
            |e| matches!(e, Error::Malformed { .. }),
        ),
        case(
            "wrong checksum",
            bad_checksum,
            d(),
            |e| matches!(e, Error::Malformed { detail } if detail.contains("checksum")),
        ),
        case("zstd", vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0], d(), |e| {
            matches!(e, Error::UnsupportedCompression { format: "zstd" })
        }),
        case(
            "outside prefix",
            RawTar::new()
                .dir("config")
                .file("config/a", b"a")
                .file("other/b", b"b")
                .finish(),
            {
                let mut o = ExtractOptions::default();
                o.strip_prefix = Some("config".to_owned());
                o
            },
            |e| matches!(e, Error::OutsidePrefix { path, .. } if path == "other/b"),
        ),
    ]
}

/// Runs `stream` into `<parent>/dest`, where an earlier extraction left `old.txt`, and
/// checks that the parent is exactly as before.
fn refused(stream: impl std::io::Read, options: &ExtractOptions) -> Error {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("old.txt"), "earlier pull").unwrap();
    let before = snapshot(parent.path());
    let error = extract(stream, &dest, options).expect_err("the archive is refused");
    assert_eq!(snapshot(parent.path()), before, "after {error}");
    error
}

#[test]
fn hostile_corpus_is_refused_and_writes_nothing() {
    let cases = cases();
    assert_eq!(cases.len(), 51);
    let mut report = String::new();
    for case in cases {
        let error = refused(case.stream.as_slice(), &case.options);
        assert!((case.check)(&error), "{}: unexpected {error:?}", case.name);
        // gzip the same stream: the same refusal (except for the gzip-specific cases).
        if !case.name.contains("gzip") && !case.name.contains("zstd") && !case.stream.is_empty() {
            let gz = refused(gzip(&case.stream).as_slice(), &case.options);
            // Megabytes of one repeated byte may hit the ratio limit first: also a refusal.
            let ratio = matches!(
                gz,
                Error::Limit {
                    limit: LimitKind::CompressionRatio,
                    ..
                }
            );
            assert!(
                (case.check)(&gz) || (ratio && case.stream.len() > 1024 * 1024),
                "{} (gzip): unexpected {gz:?}",
                case.name
            );
        }
        writeln!(report, "{}: {error}", case.name).unwrap();
    }
    insta::assert_snapshot!(report);
}

#[test]
fn ten_gigabytes_of_zeros_stop_at_the_ratio_limit() {
    let bomb = zero_bomb(10_000_000_000);
    let taken = bomb.taken.clone();
    let error = refused(bomb, &ExtractOptions::default());
    assert!(
        matches!(
            error,
            Error::Limit {
                limit: LimitKind::CompressionRatio,
                value: 200,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.limit(), Some(LimitKind::CompressionRatio));
    // Stopped early: far less than the ~10 MB of the whole bomb was read.
    assert!(taken.get() < 2 * 1024 * 1024, "read {} bytes", taken.get());
}

#[test]
fn ten_gigabytes_of_zeros_stop_at_the_size_limit_without_a_ratio_limit() {
    let mut limits = Limits::large();
    limits.max_compression_ratio = u64::MAX;
    limits.max_entry_bytes = 64 * 1024 * 1024;
    let bomb = zero_bomb(10_000_000_000);
    let taken = bomb.taken.clone();
    let error = refused(bomb, &ExtractOptions::with_limits(limits));
    assert!(
        matches!(error, Error::Limit { limit: LimitKind::EntryBytes, value, .. } if value == 64 * 1024 * 1024),
        "{error:?}"
    );
    assert!(taken.get() < 1024 * 1024, "read {} bytes", taken.get());
}

#[test]
fn a_million_empty_entries_stop_at_the_entry_limit() {
    let error = refused(
        many_empty_entries(1_000_000),
        &ExtractOptions::with_limits(Limits::small()),
    );
    assert!(
        matches!(
            error,
            Error::Limit {
                limit: LimitKind::Entries,
                value: 10_000,
                seen: 10_001,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_refused_archive_leaves_no_destination_when_there_was_none() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let stream = RawTar::new().file("a", b"1").file("../b", b"2").finish();
    assert!(extract(stream.as_slice(), &dest, &ExtractOptions::default()).is_err());
    assert!(snapshot(parent.path()).is_empty());
    assert!(!Path::new(&dest).exists());
}

#[test]
fn nothing_is_written_through_a_replaced_link() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    // f is a file, then a link to g, then a file again: the last wins and g never appears.
    let stream = RawTar::new()
        .file("f", b"first")
        .symlink("f", "g")
        .file("f", b"last")
        .finish();
    let summary = extract(stream.as_slice(), &dest, &links()).unwrap();
    assert_eq!(summary.entries.len(), 3);
    assert_eq!(fs::read(dest.join("f")).unwrap(), b"last");
    assert!(fs::symlink_metadata(dest.join("f")).unwrap().is_file());
    assert!(!dest.join("g").exists());
}

#[test]
fn links_inside_are_created_when_allowed() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let stream = RawTar::new()
        .dir("d")
        .file("d/f", b"content")
        .symlink("rel", "d/f")
        .symlink("d/up", "../d")
        .hardlink("hard", "d/f")
        .finish();
    extract(stream.as_slice(), &dest, &links()).unwrap();
    assert_eq!(fs::read(dest.join("rel")).unwrap(), b"content");
    assert_eq!(fs::read(dest.join("hard")).unwrap(), b"content");
    assert_eq!(fs::read_link(dest.join("d/up")).unwrap(), Path::new("../d"));
}

#[cfg(unix)]
#[test]
fn modes_are_sanitised_and_mtimes_kept_when_asked() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let stream = RawTar::new()
        .file_mode("suid", b"x", 0o4755)
        .file_mode("sticky", b"x", 0o1644)
        .entry(b"locked", b'5', b"", b"", 0o2000)
        .finish();
    let mut options = ExtractOptions::default();
    options.keep_mtimes = true;
    extract(stream.as_slice(), &dest, &options).unwrap();
    let mode = |p: &str| fs::metadata(dest.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("suid") & 0o7000, 0);
    assert_eq!(mode("sticky") & 0o7000, 0);
    assert_eq!(mode("locked"), 0o700);
    let mtime = fs::metadata(dest.join("suid")).unwrap().modified().unwrap();
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_700_000_000
    );
}

#[test]
fn duplicate_files_last_wins_by_default() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let stream = RawTar::new().file("a", b"1").file("a", b"2").finish();
    extract(stream.as_slice(), &dest, &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"2");
}

#[test]
fn long_names_through_gnu_and_pax_records_are_extracted() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let gnu = format!("dir/{}", "g".repeat(200));
    let pax = format!("dir/{}/{}", "p".repeat(150), "q".repeat(150));
    let stream = RawTar::new()
        .gnu_long_name(gnu.as_bytes())
        .file("ignored-gnu", b"gnu")
        .pax(&[("path", pax.as_bytes())])
        .file("ignored-pax", b"pax")
        .finish();
    let summary = extract(gzip(&stream).as_slice(), &dest, &ExtractOptions::default()).unwrap();
    assert_eq!(summary.compression, orca_unpack::Compression::Gzip);
    assert_eq!(fs::read(dest.join(&gnu)).unwrap(), b"gnu");
    assert_eq!(fs::read(dest.join(&pax)).unwrap(), b"pax");
}

#[test]
fn a_failing_input_is_a_read_error_and_writes_nothing() {
    struct Failing(Vec<u8>);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "peer went away",
                ));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }
    let stream = RawTar::new().file("a", &[1; 5000]).finish();
    let error = refused(Failing(stream[..3000].to_vec()), &ExtractOptions::default());
    let Error::Read(source) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionReset);
}
