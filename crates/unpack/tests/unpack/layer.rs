//! ORAS pull semantics: what `write_layer` writes for each kind of layer.

use std::fs;

use orca_manifest::{Descriptor, annotations, media_types};
use orca_unpack::{
    DigestTarget, Error, LayerOptions, PackOptions, Written, pack_dir, write_layer,
    write_layer_buffered,
};

use crate::craft::{RawTar, gzip};
use crate::snapshot;

fn folder_layer() -> (tempfile::TempDir, Vec<u8>, Descriptor) {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("templates");
    fs::create_dir_all(folder.join("sub")).unwrap();
    fs::write(folder.join("sub/t.liquid"), "{{ x }}").unwrap();
    let mut layer = Vec::new();
    let descriptor = pack_dir(&folder, &mut layer, &PackOptions::default()).unwrap();
    (work, layer, descriptor)
}

#[test]
fn an_unpack_layer_is_extracted_under_its_title() {
    let (work, layer, descriptor) = folder_layer();
    let out = work.path().join("out");
    let written = write_layer(
        &descriptor,
        layer.as_slice(),
        &out,
        &LayerOptions::default(),
    )
    .unwrap();
    let Written::Extracted { path, summary } = written else {
        panic!("{written:?}")
    };
    assert_eq!(path, out.join("templates"));
    assert_eq!(summary.bytes, 7);
    assert_eq!(snapshot(&path), snapshot(&work.path().join("templates")));
}

#[test]
fn a_wrong_content_digest_is_refused() {
    let (work, layer, mut descriptor) = folder_layer();
    descriptor.annotations.insert(
        annotations::ORAS_CONTENT_DIGEST.to_owned(),
        orca_manifest::Digest::sha256(b"other").to_string(),
    );
    let out = work.path().join("out");
    let error = write_layer(
        &descriptor,
        layer.as_slice(),
        &out,
        &LayerOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            Error::DigestMismatch {
                what: DigestTarget::Content,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(snapshot(&out).is_empty());
}

#[test]
fn a_wrong_layer_digest_or_size_is_refused() {
    let (work, mut layer, descriptor) = folder_layer();
    let out = work.path().join("out");
    let mut longer = layer.clone();
    longer.push(0);
    let error = write_layer(
        &descriptor,
        longer.as_slice(),
        &out,
        &LayerOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, Error::SizeMismatch { at_least: true, .. }),
        "{error:?}"
    );
    let n = layer.len();
    layer[n - 1] ^= 1; // ISIZE of the gzip trailer: the stream still decodes as far as tar goes
    let error = write_layer(
        &descriptor,
        layer.as_slice(),
        &out,
        &LayerOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            Error::DigestMismatch {
                what: DigestTarget::Layer,
                ..
            } | Error::Malformed { .. }
        ),
        "{error:?}"
    );
    assert!(snapshot(&out).is_empty());
}

#[test]
fn other_layers_are_written_as_one_file() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let descriptor = Descriptor::for_bytes(media_types::ORAS_DEFAULT_LAYER, b"hello")
        .with_annotation(annotations::TITLE, "nested/dir/hello.txt");
    let written = write_layer(&descriptor, &b"hello"[..], &out, &LayerOptions::default()).unwrap();
    assert!(
        matches!(written, Written::File { size: 5, .. }),
        "{written:?}"
    );
    assert_eq!(
        fs::read(out.join("nested/dir/hello.txt")).unwrap(),
        b"hello"
    );
    // Again, with other content of the right digest: replaced in place.
    write_layer(&descriptor, &b"hello"[..], &out, &LayerOptions::default()).unwrap();
    let error =
        write_layer(&descriptor, &b"hellO"[..], &out, &LayerOptions::default()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::DigestMismatch {
                what: DigestTarget::Layer,
                ..
            }
        ),
        "{error:?}"
    );
    let error = write_layer(&descriptor, &b"hell"[..], &out, &LayerOptions::default()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::SizeMismatch {
                expected: 5,
                actual: 4,
                ..
            }
        ),
        "{error:?}"
    );
    let names: Vec<String> = snapshot(&out).into_keys().collect();
    assert_eq!(
        names,
        ["nested", "nested/dir", "nested/dir/hello.txt"],
        "no leftovers"
    );
}

#[test]
fn a_source_verified_by_the_caller_is_not_hashed_again_but_its_size_is_checked() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let descriptor = Descriptor::for_bytes(media_types::ORAS_DEFAULT_LAYER, b"hello")
        .with_annotation(annotations::TITLE, "hello.txt");
    let trusted = LayerOptions::builder().source_verified(true).build();
    // Other bytes of the right size pass: the caller's check is the one that counts.
    write_layer(&descriptor, &b"hellO"[..], &out, &trusted).unwrap();
    assert_eq!(fs::read(out.join("hello.txt")).unwrap(), b"hellO");
    let error = write_layer(&descriptor, &b"hello!"[..], &out, &trusted).unwrap_err();
    assert!(
        matches!(error, Error::SizeMismatch { expected: 5, .. }),
        "{error:?}"
    );
    let error = write_layer(&descriptor, &b"hell"[..], &out, &trusted).unwrap_err();
    assert!(
        matches!(error, Error::SizeMismatch { actual: 4, .. }),
        "{error:?}"
    );
}

/// A [`std::io::BufRead`] handing out its bytes in pieces of `piece` bytes, as the
/// network's pieces reach the facade.
struct Pieces<'a> {
    rest: &'a [u8],
    piece: usize,
}

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::io::BufRead::fill_buf(self)?.len().min(buf.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        std::io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl std::io::BufRead for Pieces<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(&self.rest[..self.piece.min(self.rest.len())])
    }

    fn consume(&mut self, amount: usize) {
        self.rest = &self.rest[amount..];
    }
}

/// `rest` in pieces of 777 bytes.
fn pieces(rest: &[u8]) -> Pieces<'_> {
    Pieces { rest, piece: 777 }
}

#[test]
fn a_buffered_reader_writes_files_from_its_own_pieces_with_the_same_checks() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let descriptor = Descriptor::for_bytes(media_types::ORAS_DEFAULT_LAYER, &content)
        .with_annotation(annotations::TITLE, "dir/data.bin");
    let written = write_layer_buffered(
        &descriptor,
        pieces(&content),
        &out,
        &LayerOptions::default(),
    )
    .unwrap();
    assert!(
        matches!(written, Written::File { size: 100_000, .. }),
        "{written:?}"
    );
    assert_eq!(fs::read(out.join("dir/data.bin")).unwrap(), content);
    let mut other = content.clone();
    other[99_999] ^= 1;
    let error = write_layer_buffered(&descriptor, pieces(&other), &out, &LayerOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::DigestMismatch {
                what: DigestTarget::Layer,
                ..
            }
        ),
        "{error:?}"
    );
    let trusted = LayerOptions::builder().source_verified(true).build();
    let error =
        write_layer_buffered(&descriptor, pieces(&content[1..]), &out, &trusted).unwrap_err();
    assert!(
        matches!(error, Error::SizeMismatch { actual: 99_999, .. }),
        "{error:?}"
    );
    other.push(0);
    let error = write_layer_buffered(&descriptor, pieces(&other), &out, &trusted).unwrap_err();
    assert!(
        matches!(
            error,
            Error::SizeMismatch {
                expected: 100_000,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        fs::read(out.join("dir/data.bin")).unwrap(),
        content,
        "the failed writes left the file as it was"
    );
    let names: Vec<String> = snapshot(&out).into_keys().collect();
    assert_eq!(names, ["dir", "dir/data.bin"], "no leftovers");
}

#[test]
fn a_buffered_reader_extracts_folders_from_its_own_pieces_with_the_same_checks() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let (folder_work, layer, folder) = folder_layer();
    let written =
        write_layer_buffered(&folder, pieces(&layer), &out, &LayerOptions::default()).unwrap();
    assert!(matches!(written, Written::Extracted { .. }), "{written:?}");
    assert_eq!(
        snapshot(&out.join("templates")),
        snapshot(&folder_work.path().join("templates"))
    );
    // One byte at a time too, and a damaged or cut folder layer is refused with nothing
    // written: the digest and size are counted from the reader's own buffer.
    let one_by_one = Pieces {
        rest: &layer,
        piece: 1,
    };
    let again = work.path().join("again");
    write_layer_buffered(&folder, one_by_one, &again, &LayerOptions::default()).unwrap();
    assert_eq!(
        snapshot(&again.join("templates")),
        snapshot(&folder_work.path().join("templates"))
    );
    let mut damaged = layer.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    let refused = work.path().join("refused");
    let error = write_layer_buffered(
        &folder,
        pieces(&damaged),
        &refused,
        &LayerOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            Error::DigestMismatch {
                what: DigestTarget::Layer,
                ..
            } | Error::Malformed { .. }
        ),
        "{error:?}"
    );
    let error = write_layer_buffered(
        &folder,
        pieces(&layer[..layer.len() - 1]),
        &refused,
        &LayerOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, Error::SizeMismatch { .. } | Error::Truncated { .. }),
        "{error:?}"
    );
    assert!(!refused.join("templates").exists());
}

#[test]
fn untitled_layers_are_skipped_unless_asked() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let descriptor = Descriptor::for_bytes(media_types::ORAS_DEFAULT_LAYER, b"x");
    let written = write_layer(&descriptor, &b"x"[..], &out, &LayerOptions::default()).unwrap();
    assert!(matches!(written, Written::Skipped));
    let mut options = LayerOptions::default();
    options.write_untitled = true;
    let written = write_layer(&descriptor, &b"x"[..], &out, &options).unwrap();
    let Written::File { path, .. } = written else {
        panic!("{written:?}")
    };
    assert_eq!(
        path,
        out.join(format!("sha256-{}", descriptor.digest.encoded()))
    );
}

#[test]
fn unsafe_titles_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let titles = ["../escape", "/etc/passwd", "a/../../b", "C:\\x", "", "."];
    assert_eq!(titles.len(), 6);
    for title in titles {
        let descriptor = Descriptor::for_bytes(media_types::ORAS_DEFAULT_LAYER, b"x")
            .with_annotation(annotations::TITLE, title);
        let error =
            write_layer(&descriptor, &b"x"[..], &out, &LayerOptions::default()).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidAnnotation { key, .. } if key == annotations::TITLE),
            "{title:?}: {error:?}"
        );
    }
    assert!(!work.path().join("escape").exists());
}

#[cfg(unix)]
#[test]
fn a_link_left_by_another_layer_is_not_written_through() {
    let work = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), out.join("a")).unwrap();
    let descriptor = Descriptor::for_bytes(media_types::ORAS_DEFAULT_LAYER, b"x")
        .with_annotation(annotations::TITLE, "a/x");
    let error = write_layer(&descriptor, &b"x"[..], &out, &LayerOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::ThroughLink { conflict, .. } if conflict == "a"),
        "{error:?}"
    );
    assert!(snapshot(elsewhere.path()).is_empty());
}

#[test]
fn python_style_tar_gzip_layers_are_files_by_default_and_extracted_when_asked() {
    let work = tempfile::tempdir().unwrap();
    let blob = gzip(&RawTar::new().dir("cfg").file("cfg/a", b"a").finish());
    // What the Python package pushes: a title, the tar+gzip media type, no unpack annotation.
    let descriptor = Descriptor::for_bytes(media_types::OCI_LAYER_TAR_GZIP, &blob)
        .with_annotation(annotations::TITLE, "cfg");
    let out = work.path().join("default");
    let written =
        write_layer(&descriptor, blob.as_slice(), &out, &LayerOptions::default()).unwrap();
    assert!(matches!(written, Written::File { .. }), "{written:?}");
    assert_eq!(fs::read(out.join("cfg")).unwrap(), blob);
    let mut options = LayerOptions::default();
    options.unpack_all_tar_gzip = true;
    let out = work.path().join("unpack-all");
    let written = write_layer(&descriptor, blob.as_slice(), &out, &options).unwrap();
    assert!(matches!(written, Written::Extracted { .. }), "{written:?}");
    assert_eq!(fs::read(out.join("cfg/a")).unwrap(), b"a");
}

#[test]
fn a_malformed_content_digest_annotation_is_refused() {
    let (work, layer, mut descriptor) = folder_layer();
    descriptor.annotations.insert(
        annotations::ORAS_CONTENT_DIGEST.to_owned(),
        "sha256:nothex".to_owned(),
    );
    let error = write_layer(
        &descriptor,
        layer.as_slice(),
        &work.path().join("o"),
        &LayerOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidAnnotation { key, .. } if key == annotations::ORAS_CONTENT_DIGEST),
        "{error:?}"
    );
}

#[test]
fn all_layers_of_a_manifest_are_written_and_untitled_ones_never_opened() {
    let (work, folder_blob, folder) = folder_layer();
    let file = Descriptor::for_bytes(media_types::ORAS_DEFAULT_LAYER, b"notes")
        .with_annotation(annotations::TITLE, "notes.txt");
    let untitled = Descriptor::for_bytes(media_types::ORAS_DEFAULT_LAYER, b"hidden");
    let layers = [folder.clone(), untitled.clone(), file.clone()];
    let out = work.path().join("out");
    let mut opened = Vec::new();
    let written = orca_unpack::write_layers(
        &layers,
        |layer| {
            opened.push(layer.digest.clone());
            let bytes = if layer == &folder {
                folder_blob.clone()
            } else {
                b"notes".to_vec()
            };
            Ok(std::io::Cursor::new(bytes))
        },
        &out,
        &LayerOptions::default(),
    )
    .unwrap();
    assert_eq!(written.len(), 3);
    assert!(matches!(written[1], Written::Skipped));
    assert_eq!(opened, [folder.digest.clone(), file.digest.clone()]);
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), b"notes");
    assert!(out.join("templates/sub/t.liquid").is_file());

    let twice = [
        file.clone(),
        file.with_annotation(annotations::TITLE, "./notes.txt"),
    ];
    let error = orca_unpack::write_layers(
        &twice,
        |_| -> std::io::Result<&[u8]> { panic!("nothing is opened") },
        &out,
        &LayerOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::Duplicate { path, .. } if path == "./notes.txt"),
        "{error:?}"
    );
    let error = orca_unpack::write_layers(
        &[untitled],
        |_| -> std::io::Result<&[u8]> { Err(std::io::Error::other("registry down")) },
        &out,
        &{
            let mut o = LayerOptions::default();
            o.write_untitled = true;
            o
        },
    )
    .unwrap_err();
    assert!(matches!(error, Error::Read(_)), "{error:?}");
}

/// A folder layer above 4 MiB, whose content digest is computed on a thread of its own.
fn large_folder_layer() -> (tempfile::TempDir, Vec<u8>, Descriptor) {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("data");
    fs::create_dir_all(folder.join("sub")).unwrap();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<u8> = (0..6 * 1024 * 1024 + 12_345)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    fs::write(folder.join("sub/noise.bin"), &noise).unwrap();
    fs::write(folder.join("small.txt"), "small").unwrap();
    let mut layer = Vec::new();
    let mut options = PackOptions::default();
    options.compression_level = 1;
    let descriptor = pack_dir(&folder, &mut layer, &options).unwrap();
    assert!(descriptor.size > 4 * 1024 * 1024, "{}", descriptor.size);
    (work, layer, descriptor)
}

#[test]
fn a_large_layer_checks_its_content_digest_off_the_extracting_thread() {
    let (work, layer, descriptor) = large_folder_layer();
    assert!(
        descriptor
            .annotation(annotations::ORAS_CONTENT_DIGEST)
            .is_some()
    );
    let out = work.path().join("out");
    write_layer(
        &descriptor,
        layer.as_slice(),
        &out,
        &LayerOptions::default(),
    )
    .unwrap();
    assert_eq!(
        snapshot(&out.join("data")),
        snapshot(&work.path().join("data"))
    );

    let mut wrong = descriptor.clone();
    wrong.annotations.insert(
        annotations::ORAS_CONTENT_DIGEST.to_owned(),
        orca_manifest::Digest::sha256(b"other").to_string(),
    );
    let refused = work.path().join("refused");
    let error =
        write_layer(&wrong, layer.as_slice(), &refused, &LayerOptions::default()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::DigestMismatch {
                what: DigestTarget::Content,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(snapshot(&refused).is_empty());

    // Cut short: a size error, and nothing written either.
    let cut = work.path().join("cut");
    let error = write_layer(
        &descriptor,
        &layer[..layer.len() - 1000],
        &cut,
        &LayerOptions::default(),
    )
    .unwrap_err();
    assert!(!matches!(error, Error::Io { .. }), "{error:?}");
    assert!(snapshot(&cut).is_empty());
}
