//! The same workflow against Debian's `docker-registry` (distribution 2.8), when installed.

use std::fs;

use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};

use crate::harness::Home;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn push_pull_tag_copy_delete_against_docker_registry() {
    let rt = runtime();
    let Some(registry) = rt
        .block_on(ReferenceRegistry::start(ReferenceOptions::default()))
        .unwrap()
    else {
        return; // printed "skipped: …"
    };
    let home = Home::new();
    let host = registry.host().to_owned();
    let file = home.join("notes.txt");
    fs::write(&file, b"pushed by orca").unwrap();
    let dir = home.join("folder");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("a.txt"), b"a").unwrap();
    let reference = format!("{host}/orca/e2e:v1");

    let pushed = home.json(&[
        "push",
        "--plain-http",
        &reference,
        file.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    let out = home.join("out");
    home.json(&[
        "pull",
        "--plain-http",
        &reference,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), b"pushed by orca");
    assert_eq!(fs::read(out.join("folder/a.txt")).unwrap(), b"a");

    home.json(&["tag", "--plain-http", &reference, "stable"]);
    let tags = home.json(&["repo", "tags", "--plain-http", &format!("{host}/orca/e2e")]);
    let mut tags: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["stable", "v1"]);
    let copied = home.json(&[
        "copy",
        "--plain-http",
        &reference,
        &format!("{host}/orca/copy:v1"),
    ]);
    assert_eq!(copied["digest"], digest.as_str());
    let repos = home.json(&["repo", "ls", "--plain-http", &host]);
    assert_eq!(
        repos["repositories"],
        serde_json::json!(["orca/copy", "orca/e2e"])
    );

    home.json(&["delete", "--plain-http", &format!("{host}/orca/copy:v1")]);
    home.run(&[
        "resolve",
        "--plain-http",
        &format!("{host}/orca/copy:v1"),
        "--output",
        "json",
    ])
    .fails_with(3, "ArtifactNotFound");
}

#[test]
fn login_over_tls_with_basic_auth_then_push_and_pull() {
    let rt = runtime();
    let options = ReferenceOptions {
        tls: true,
        users: vec![(
            "admin".to_owned(),
            orca_mock_registry::Secret::new("s3cret"),
        )],
    };
    let Some(registry) = rt.block_on(ReferenceRegistry::start(options)).unwrap() else {
        return;
    };
    let home = Home::new();
    let ca = home.join("ca.pem");
    fs::write(&ca, registry.ca_pem().unwrap()).unwrap();
    let ca = ca.to_str().unwrap();
    let host = registry.host().to_owned();
    let reference = format!("{host}/secure/app:v1");
    let file = home.join("app.toml");
    fs::write(&file, b"level = 1\n").unwrap();

    home.run(&[
        "push",
        "--ca-file",
        ca,
        &reference,
        file.to_str().unwrap(),
        "--output",
        "json",
    ])
    .fails_with(4, "Unauthorized");
    home.run(&[
        "push",
        &reference,
        file.to_str().unwrap(),
        "--output",
        "json",
    ])
    .fails_with(7, "FailedToConnectToArtifactStore");

    home.json(&[
        "login",
        "--ca-file",
        ca,
        &host,
        "-u",
        "admin",
        "-p",
        "s3cret",
    ]);
    home.json(&["push", "--ca-file", ca, &reference, file.to_str().unwrap()]);
    let out = home.join("out");
    home.json(&[
        "pull",
        "--ca-file",
        ca,
        &reference,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(out.join("app.toml")).unwrap(), b"level = 1\n");

    // --insecure skips verification for the registry named, instead of trusting the CA.
    let resolved = home.json(&["resolve", "--insecure", &reference]);
    assert!(resolved["digest"].as_str().unwrap().starts_with("sha256:"));
}
