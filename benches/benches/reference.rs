//! Reference parsing: strict and Docker-normalised, on a few typical references.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use orca_reference::Reference;

const STRICT: &[(&str, &str)] = &[
    ("acr_tag", "myacr.azurecr.io/configs/anonymization:default"),
    ("localhost_port", "localhost:5000/team/app"),
    (
        "tag_and_digest",
        "registry.example.com:443/org/team/app:1.2.3@sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ),
    ("ipv6", "[2001:db8::1]:5000/repo:tag"),
];

const FAMILIAR: &[(&str, &str)] = &[
    ("official", "ubuntu"),
    ("user_tag", "user/app:1.0"),
    ("legacy_hub", "index.docker.io/library/debian:12"),
];

fn reference(c: &mut Criterion) {
    let mut group = c.benchmark_group("reference");
    for (name, input) in STRICT {
        group.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| Reference::parse(black_box(input)).expect("valid reference"));
        });
    }
    for (name, input) in FAMILIAR {
        group.bench_function(format!("parse_normalized/{name}"), |b| {
            b.iter(|| Reference::parse_normalized(black_box(input)).expect("valid reference"));
        });
    }
    group.bench_function("parse/error", |b| {
        b.iter(|| {
            Reference::parse(black_box("myacr.azurecr.io/Team/app:1")).expect_err("upper case")
        });
    });
    let parsed = Reference::parse(STRICT[2].1).expect("valid reference");
    group.bench_function("display/tag_and_digest", |b| {
        b.iter(|| black_box(&parsed).to_string());
    });
    group.finish();
}

criterion_group!(benches, reference);
criterion_main!(benches);
