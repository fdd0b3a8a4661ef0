//! Pack then unpack gives byte-identical files; packing twice gives the same digest.

use std::fs;
use std::path::Path;

use orca_manifest::{Digest, annotations, media_types};
use orca_unpack::{ExtractOptions, PackOptions, extract, pack_dir, pack_file};
use proptest::prelude::*;

use crate::snapshot;

fn sample_folder(root: &Path) {
    fs::create_dir_all(root.join("nested/deeper")).unwrap();
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    fs::write(root.join("a.txt"), "alpha\n").unwrap();
    fs::write(root.join("empty"), "").unwrap();
    fs::write(
        root.join("nested/b.bin"),
        (0..=255u8).cycle().take(100_000).collect::<Vec<_>>(),
    )
    .unwrap();
    fs::write(
        root.join("nested/deeper").join("ü-unicode ✓.txt"),
        "unicode",
    )
    .unwrap();
    fs::write(root.join("nested").join("l".repeat(150)), "long name").unwrap();
}

#[test]
fn pack_then_unpack_is_identical_and_packing_is_reproducible() {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("config");
    sample_folder(&folder);

    let mut first = Vec::new();
    let descriptor = pack_dir(&folder, &mut first, &PackOptions::default()).unwrap();
    let mut second = Vec::new();
    let again = pack_dir(&folder, &mut second, &PackOptions::default()).unwrap();
    assert_eq!(first, second);
    assert_eq!(descriptor, again);

    assert_eq!(descriptor.media_type, media_types::OCI_LAYER_TAR_GZIP);
    assert_eq!(descriptor.size, first.len() as u64);
    assert_eq!(descriptor.digest, Digest::sha256(&first));
    assert_eq!(descriptor.title(), Some("config"));
    assert_eq!(
        descriptor.annotation(annotations::ORAS_CONTENT_UNPACK),
        Some("true")
    );
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(first.as_slice()),
        &mut decoded,
    )
    .unwrap();
    assert_eq!(
        descriptor.annotation(annotations::ORAS_CONTENT_DIGEST),
        Some(Digest::sha256(&decoded).as_str())
    );

    let out = work.path().join("out");
    let mut options = ExtractOptions::default();
    options.layer_digest = Some(descriptor.digest.clone());
    options.layer_size = Some(descriptor.size);
    options.content_digest = Some(
        descriptor
            .annotation(annotations::ORAS_CONTENT_DIGEST)
            .unwrap()
            .parse()
            .unwrap(),
    );
    options.strip_prefix = Some("config".to_owned());
    extract(first.as_slice(), &out, &options).unwrap();
    assert_eq!(snapshot(&out), snapshot(&folder));
}

/// A reader that hands out one byte per read, as a slow network may.
struct ByteByByte<'a>(&'a [u8]);

impl std::io::Read for ByteByByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((byte, rest)), Some(slot)) => {
                *slot = *byte;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn a_gzip_stream_read_a_byte_at_a_time_is_still_detected_and_extracted() {
    // The compression is told from the first four bytes: a first read that brings fewer
    // (here one) must not make a gzip stream be read as plain tar.
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("config");
    sample_folder(&folder);
    let mut layer = Vec::new();
    let descriptor = pack_dir(&folder, &mut layer, &PackOptions::default()).unwrap();
    let options = ExtractOptions::builder()
        .layer_digest(descriptor.digest.clone())
        .strip_prefix("config")
        .build();
    let out = work.path().join("out");
    let summary = extract(ByteByByte(&layer), &out, &options).unwrap();
    assert_eq!(summary.compressed_bytes, layer.len() as u64);
    assert_eq!(snapshot(&out), snapshot(&folder));
}

#[test]
fn packed_headers_are_normalised_like_oras() {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("cfg");
    sample_folder(&folder);
    let mut layer = Vec::new();
    pack_dir(&folder, &mut layer, &PackOptions::default()).unwrap();
    assert_eq!(
        &layer[..10],
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255],
        "gzip header, mtime 0"
    );
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(header.uid().unwrap(), 0);
        assert_eq!(header.gid().unwrap(), 0);
        assert_eq!(header.username_bytes(), Some(&b""[..]));
        assert_eq!(header.mtime().unwrap(), 0);
        names.push(entry.path().unwrap().to_string_lossy().into_owned());
    }
    let long = format!("cfg/nested/{}", "l".repeat(150));
    let expected = [
        "cfg",
        "cfg/a.txt",
        "cfg/empty",
        "cfg/empty-dir",
        "cfg/nested",
        "cfg/nested/b.bin",
        "cfg/nested/deeper",
        "cfg/nested/deeper/ü-unicode ✓.txt",
        long.as_str(),
    ];
    assert_eq!(names, expected);
}

#[test]
fn a_single_file_gets_a_title_only() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("blob.json");
    fs::write(&file, b"{\"a\":1}").unwrap();
    let descriptor = pack_file(&file, &PackOptions::default()).unwrap();
    assert_eq!(descriptor.digest, Digest::sha256(b"{\"a\":1}"));
    assert_eq!(descriptor.size, 7);
    assert_eq!(descriptor.media_type, media_types::ORAS_DEFAULT_LAYER);
    assert_eq!(descriptor.title(), Some("blob.json"));
    assert_eq!(descriptor.annotations.len(), 1);
}

#[test]
fn mtimes_are_kept_when_not_reproducible() {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("t");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("f"), "x").unwrap();
    let mut options = PackOptions::default();
    options.reproducible = false;
    let mut layer = Vec::new();
    pack_dir(&folder, &mut layer, &options).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    let mtimes: Vec<u64> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().header().mtime().unwrap())
        .collect();
    assert_eq!(mtimes.len(), 2);
    assert!(mtimes.iter().all(|m| *m > 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn any_small_tree_round_trips(
        files in prop::collection::btree_map(
            prop::collection::vec("[a-z0-9_.-]{1,12}", 1..4),
            prop::collection::vec(any::<u8>(), 0..3000),
            1..12,
        )
    ) {
        let work = tempfile::tempdir().unwrap();
        let folder = work.path().join("tree");
        fs::create_dir(&folder).unwrap();
        for (components, content) in &files {
            let valid = components.iter().all(|c| c != "." && c != "..");
            prop_assume!(valid);
            let path = components.iter().fold(folder.clone(), |p, c| p.join(c));
            // A name that is both a file and a directory cannot exist: skip such trees.
            if fs::create_dir_all(path.parent().unwrap()).is_err() || path.is_dir() {
                return Ok(());
            }
            fs::write(&path, content).unwrap();
        }
        let mut layer = Vec::new();
        let descriptor = pack_dir(&folder, &mut layer, &PackOptions::default()).unwrap();
        let out = work.path().join("out");
        let mut options = ExtractOptions::default();
        options.layer_digest = Some(descriptor.digest.clone());
        options.strip_prefix = Some("tree".to_owned());
        extract(layer.as_slice(), &out, &options).unwrap();
        prop_assert_eq!(snapshot(&out), snapshot(&folder));
    }
}
