//! Manifest parsing: a typical 5-layer image manifest and a 50-entry index, each parsed from
//! bytes with its Content-Type (JSON parse, checks and the sha256 of the body), and the
//! canonical serialisation of the artifact manifest orca pushes.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orca_benches::pseudo_random_bytes;
use orca_manifest::{
    Descriptor, ImageIndex, ImageManifest, Manifest, Platform, annotations, media_types,
};

fn five_layer_manifest() -> ImageManifest {
    let config =
        Descriptor::for_bytes(media_types::OCI_IMAGE_CONFIG, &pseudo_random_bytes(1500, 1));
    let layers = (0..5)
        .map(|i| {
            Descriptor::for_bytes(media_types::OCI_LAYER_TAR_GZIP, &pseudo_random_bytes(64, i))
                .with_annotation(annotations::TITLE, format!("layer-{i}.tar.gz"))
        })
        .collect();
    ImageManifest::new(config, layers)
        .with_annotation(annotations::CREATED, "2025-01-01T00:00:00Z")
        .with_annotation(annotations::SOURCE, "https://github.com/example/app")
}

fn fifty_entry_index() -> ImageIndex {
    let manifests = (0..50)
        .map(|i| {
            let mut d = Descriptor::for_bytes(
                media_types::OCI_IMAGE_MANIFEST,
                &pseudo_random_bytes(128, 100 + i),
            );
            d.platform = Some(Platform {
                architecture: ["amd64", "arm64", "arm", "ppc64le", "s390x"][(i % 5) as usize]
                    .into(),
                os: "linux".into(),
                variant: (i % 5 == 2).then(|| "v7".into()),
                ..Platform::default()
            });
            d
        })
        .collect();
    ImageIndex::new(manifests)
}

fn manifest(c: &mut Criterion) {
    let image = five_layer_manifest().to_bytes();
    let index = fifty_entry_index().to_bytes();
    let mut group = c.benchmark_group("manifest");

    group.throughput(Throughput::Bytes(image.len() as u64));
    group.bench_function("parse_oci_image_5_layers", |b| {
        b.iter(|| {
            Manifest::parse(image.clone(), Some(media_types::OCI_IMAGE_MANIFEST))
                .expect("the manifest parses")
        });
    });
    group.throughput(Throughput::Bytes(index.len() as u64));
    group.bench_function("parse_oci_index_50_entries", |b| {
        b.iter(|| {
            Manifest::parse(index.clone(), Some(media_types::OCI_IMAGE_INDEX))
                .expect("the index parses")
        });
    });
    let artifact = ImageManifest::artifact(
        "application/vnd.example.config.v1",
        five_layer_manifest().layers,
    )
    .expect("valid artifact type");
    group.throughput(Throughput::Bytes(artifact.to_bytes().len() as u64));
    group.bench_function("serialise_artifact_5_layers", |b| {
        b.iter(|| artifact.to_bytes());
    });
    group.finish();
}

criterion_group!(benches, manifest);
criterion_main!(benches);
