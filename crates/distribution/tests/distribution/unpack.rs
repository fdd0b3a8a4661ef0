//! A pulled layer streams from the socket into `orca-unpack`, against `orca-mock-registry`.

use std::path::Path;

use bytes::Bytes;
use orca_distribution::{Client, ClientConfig, ErrorKind, PushOptions};
use orca_manifest::Descriptor;
use orca_mock_registry::{Config, Fault, MockRegistry};
use orca_reference::Reference;
use orca_unpack::{LayerOptions, PackOptions, Written, pack_dir, write_layer_async};

/// A folder `<root>/config` with a nested file, packed as an ORAS folder layer.
fn packed_folder(root: &Path) -> (Bytes, Descriptor) {
    let folder = root.join("config");
    std::fs::create_dir_all(folder.join("rules")).expect("mkdir");
    std::fs::write(folder.join("settings.json"), br#"{"mode":"strict"}"#).expect("write");
    let big: Vec<u8> = (0..300_000u32).flat_map(u32::to_le_bytes).collect();
    std::fs::write(folder.join("rules/table.bin"), &big).expect("write");
    let mut out = Vec::new();
    let descriptor = pack_dir(&folder, &mut out, &PackOptions::default()).expect("pack");
    (Bytes::from(out), descriptor)
}

async fn setup() -> (MockRegistry, Client, Reference) {
    let registry = MockRegistry::start(Config::default()).await.expect("mock");
    let config = ClientConfig::builder()
        .plain_http(registry.host().parse().expect("registry"))
        .build();
    let client = Client::new(config).expect("client");
    let repo = Reference::new(registry.host(), "team/configs").expect("reference");
    (registry, client, repo)
}

#[tokio::test]
async fn a_folder_layer_streams_from_the_registry_into_a_directory() {
    let source = tempfile::tempdir().expect("tempdir");
    let (layer, descriptor) = packed_folder(source.path());
    let (_registry, client, repo) = setup().await;
    client
        .push_blob(&repo, &descriptor, layer, &PushOptions::default())
        .await
        .expect("push");

    let out = tempfile::tempdir().expect("tempdir");
    let reader = client
        .fetch_blob(&repo, &descriptor)
        .await
        .expect("fetch")
        .into_async_read();
    let written = write_layer_async(
        descriptor.clone(),
        reader,
        out.path().to_owned(),
        LayerOptions::default(),
    )
    .await
    .expect("the layer unpacks");
    let Written::Extracted { path, summary } = written else {
        panic!("a folder layer is extracted: {written:?}");
    };
    assert_eq!(path, out.path().join("config"));
    assert_eq!(summary.compressed_bytes, descriptor.size);
    assert_eq!(
        std::fs::read(path.join("settings.json")).expect("read"),
        br#"{"mode":"strict"}"#
    );
    assert_eq!(
        std::fs::read(path.join("rules/table.bin")).expect("read"),
        std::fs::read(source.path().join("config/rules/table.bin")).expect("read")
    );

    // The same bytes under a title without the unpack annotation: written as one file.
    let mut file_layer = Descriptor::new(
        "application/vnd.oci.image.layer.v1.tar+gzip",
        descriptor.digest.clone(),
        descriptor.size,
    );
    file_layer
        .annotations
        .insert("org.opencontainers.image.title".into(), "config.tgz".into());
    let reader = client
        .fetch_blob(&repo, &file_layer)
        .await
        .expect("fetch")
        .into_async_read();
    let written = write_layer_async(
        file_layer.clone(),
        reader,
        out.path().to_owned(),
        LayerOptions::default(),
    )
    .await
    .expect("the file is written");
    assert!(
        matches!(&written, Written::File { path, size } if *path == out.path().join("config.tgz") && *size == descriptor.size),
        "{written:?}"
    );
}

#[tokio::test]
async fn a_corrupted_layer_leaves_nothing_behind() {
    let source = tempfile::tempdir().expect("tempdir");
    let (layer, descriptor) = packed_folder(source.path());
    let (registry, client, repo) = setup().await;
    client
        .push_blob(&repo, &descriptor, layer, &PushOptions::default())
        .await
        .expect("push");
    registry.faults().add(Fault::corrupt_blobs().on("GET"));

    let out = tempfile::tempdir().expect("tempdir");
    let reader = client
        .fetch_blob(&repo, &descriptor)
        .await
        .expect("the response starts")
        .into_async_read();
    let e = write_layer_async(
        descriptor.clone(),
        reader,
        out.path().to_owned(),
        LayerOptions::default(),
    )
    .await
    .expect_err("corrupted bytes are refused");
    // Whichever check meets the corruption first (the stream's digest, the extractor's,
    // or the gzip or tar structure it breaks) refuses the layer...
    assert!(!e.to_string().is_empty());
    // ...and nothing is left in the destination: no folder, no temporary.
    let left: Vec<_> = std::fs::read_dir(out.path())
        .expect("read_dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The stream itself refuses the corrupted blob when read to its end.
    let reader = client
        .fetch_blob(&repo, &descriptor)
        .await
        .expect("the response starts")
        .into_async_read();
    let mut sink = tokio::io::sink();
    let mut reader = reader;
    let io_error = tokio::io::copy(&mut reader, &mut sink)
        .await
        .expect_err("the digest check fails");
    let inner = io_error
        .get_ref()
        .and_then(|e| e.downcast_ref::<orca_distribution::Error>())
        .expect("the client's error inside");
    assert_eq!(inner.kind(), ErrorKind::DigestMismatch, "{inner}");
    assert_eq!(io_error.kind(), std::io::ErrorKind::InvalidData);
}
