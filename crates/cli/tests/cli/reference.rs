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

/// Debian's `docker-registry` with `options`, or `None` (said on stderr) when it is not
/// installed.
fn start(rt: &tokio::runtime::Runtime, options: ReferenceOptions) -> Option<ReferenceRegistry> {
    rt.block_on(ReferenceRegistry::start(options)).unwrap()
}

#[test]
fn push_pull_tag_copy_delete_against_docker_registry() {
    let rt = runtime();
    let Some(registry) = start(&rt, ReferenceOptions::default()) else {
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

/// Debian's `docker-registry` over TLS with the user `admin` (password `s3cret`), a home
/// and the path of its CA certificate there; `None` when it is not installed.
fn secured(rt: &tokio::runtime::Runtime) -> Option<(ReferenceRegistry, Home, String)> {
    let options = ReferenceOptions {
        tls: true,
        users: vec![(
            "admin".to_owned(),
            orca_mock_registry::Secret::new("s3cret"),
        )],
    };
    let registry = start(rt, options)?;
    let home = Home::new();
    let ca = home.join("ca.pem");
    fs::write(&ca, registry.ca_pem().unwrap()).unwrap();
    let ca = ca.to_str().unwrap().to_owned();
    Some((registry, home, ca))
}

#[test]
fn login_over_tls_with_basic_auth_then_push_and_pull() {
    let rt = runtime();
    let Some((registry, home, ca)) = secured(&rt) else {
        return;
    };
    let ca = ca.as_str();
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

#[test]
fn credentials_on_the_command_line_are_used_once_against_docker_registry() {
    let rt = runtime();
    let Some((registry, home, ca)) = secured(&rt) else {
        return;
    };
    let ca = ca.as_str();
    let host = registry.host().to_owned();
    let reference = format!("{host}/given/app:v1");
    let file = home.join("app.toml");
    fs::write(&file, b"level = 2\n").unwrap();
    let file = file.to_str().unwrap();

    // -u/-p as ORAS takes them: push, tag and resolve with no login.
    let creds = ["--ca-file", ca, "-u", "admin", "-p", "s3cret"];
    home.json(&[&["push", &reference, file][..], &creds].concat());
    home.json(&[&["tag", &reference, "v2"][..], &creds].concat());
    let resolved = home.json(&[&["resolve", &format!("{host}/given/app:v2")][..], &creds].concat());
    assert!(resolved["digest"].as_str().unwrap().starts_with("sha256:"));
    // Nothing was stored: without them the registry refuses.
    assert!(
        !home.join("docker/config.json").exists(),
        "a credential was stored"
    );
    home.run(&["resolve", "--ca-file", ca, &reference, "--output", "json"])
        .fails_with(4, "Unauthorized");

    // A wrong password is refused, and not repeated in what is printed.
    let wrong = home.run(&[
        "pull",
        "--ca-file",
        ca,
        &reference,
        "-u",
        "admin",
        "-p",
        "w0ng-pass",
        "--output",
        "json",
    ]);
    wrong.fails_with(4, "Unauthorized");
    assert!(!wrong.stdout.contains("w0ng-pass") && !wrong.stderr.contains("w0ng-pass"));

    // --password-stdin.
    let out = home.join("out");
    let mut pull = home.orca();
    pull.args([
        "pull",
        "--ca-file",
        ca,
        &reference,
        "-o",
        out.to_str().unwrap(),
    ])
    .args(["-u", "admin", "--password-stdin", "--no-progress"])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = pull.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"s3cret\n").unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(fs::read(out.join("app.toml")).unwrap(), b"level = 2\n");

    // Half a credential, or one with --azure, is a usage error before any request.
    home.run(&[
        "pull",
        "--ca-file",
        ca,
        &reference,
        "-p",
        "s3cret",
        "--output",
        "json",
    ])
    .fails_with(2, "InvalidArgument");
    home.run(&[
        "pull",
        "--ca-file",
        ca,
        &reference,
        "-u",
        "admin",
        "--output",
        "json",
    ])
    .fails_with(2, "InvalidArgument");
    let both = home.run(&["pull", &reference, "-u", "admin", "--azure"]);
    assert_eq!(both.code, 2, "{}", both.stderr);
}

/// Runs `orca ARGS` with `secret` (and a newline) on stdin; asserts it succeeded.
fn run_with_stdin(home: &Home, args: &[&str], secret: &str) {
    let mut command = home.orca();
    command
        .args(args)
        .arg("--no-progress")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        format!("{secret}\n").as_bytes(),
    )
    .unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "orca {args:?}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

/// Two `docker-registry`s over TLS, the first with the user `alice` (`alice-pass`), the
/// second with `bob` (`bob-pass`), a home and a CA file there trusting both; `None` when
/// it is not installed.
fn two_secured(
    rt: &tokio::runtime::Runtime,
) -> Option<(ReferenceRegistry, ReferenceRegistry, Home, String)> {
    let user = |name: &str, password: &str| ReferenceOptions {
        tls: true,
        users: vec![(name.to_owned(), orca_mock_registry::Secret::new(password))],
    };
    let first = start(rt, user("alice", "alice-pass"))?;
    let second = start(rt, user("bob", "bob-pass"))?;
    let home = Home::new();
    let ca = home.join("ca.pem");
    let bundle = format!("{}{}", first.ca_pem()?, second.ca_pem()?);
    fs::write(&ca, bundle).unwrap();
    let ca = ca.to_str().unwrap().to_owned();
    Some((first, second, home, ca))
}

#[test]
fn copy_gives_each_registry_its_own_credential_against_docker_registry() {
    let rt = runtime();
    let Some((source, destination, home, ca)) = two_secured(&rt) else {
        return;
    };
    let ca = ca.as_str();
    let from = format!("{}/team/app:v1", source.host());
    let to = format!("{}/mirror/app:v1", destination.host());
    let file = home.join("app.toml");
    fs::write(&file, b"level = 3\n").unwrap();
    home.json(&[
        "push",
        "--ca-file",
        ca,
        &from,
        file.to_str().unwrap(),
        "-u",
        "alice",
        "-p",
        "alice-pass",
    ]);

    // Each side's own credential; the destination's from stdin.
    run_with_stdin(
        &home,
        &[
            "copy",
            "--ca-file",
            ca,
            &from,
            &to,
            "--from-username",
            "alice",
            "--from-password",
            "alice-pass",
            "--to-username",
            "bob",
            "--to-password-stdin",
        ],
        "bob-pass",
    );
    let out = home.join("out");
    home.json(&[
        "pull",
        "--ca-file",
        ca,
        &to,
        "-o",
        out.to_str().unwrap(),
        "-u",
        "bob",
        "-p",
        "bob-pass",
    ]);
    assert_eq!(fs::read(out.join("app.toml")).unwrap(), b"level = 3\n");
    let log = |registry: &ReferenceRegistry| {
        fs::read_to_string(registry.dir().join("registry.log")).unwrap()
    };
    assert!(
        !log(&destination).contains("alice"),
        "the source's credential reached the destination"
    );

    // -u/-p name one credential for both registries: the destination refuses alice's.
    home.run(&[
        "copy",
        "--ca-file",
        ca,
        &from,
        &to,
        "-u",
        "alice",
        "-p",
        "alice-pass",
        "--output",
        "json",
    ])
    .fails_with(4, "Unauthorized");
    // The registry's log names a user it refused, so the check above can see a leak.
    assert!(
        log(&destination).contains("alice"),
        "{}",
        destination.log_tail()
    );
    // ...and -u/-p with --to-* gives the destination its own.
    home.json(&[
        "copy",
        "--ca-file",
        ca,
        &from,
        &format!("{}/mirror/app:v2", destination.host()),
        "-u",
        "alice",
        "-p",
        "alice-pass",
        "--to-username",
        "bob",
        "--to-password",
        "bob-pass",
    ]);
}

/// `orca repo tags REPOSITORY EXTRA…`, sorted.
fn sorted_tags(home: &Home, repository: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["repo", "tags", "--plain-http", repository];
    args.extend(extra);
    let listed = home.json(&args);
    let mut tags: Vec<String> = listed["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    tags.sort_unstable();
    tags
}

/// `attach`, as `oras attach`: referrers pushed by digest beside the subject, found by
/// `discover` (docker-registry has no referrers API: the tag schema's index is used).
#[test]
fn attach_and_discover_against_docker_registry() {
    let rt = runtime();
    let Some(registry) = start(&rt, ReferenceOptions::default()) else {
        return; // printed "skipped: …"
    };
    let home = Home::new();
    let subject = format!("{}/orca/signed:v1", registry.host());
    let file = home.join("app.toml");
    fs::write(&file, b"level = 1\n").unwrap();
    let pushed = home.json(&["push", "--plain-http", &subject, file.to_str().unwrap()]);
    let sig = home.join("sig.json");
    fs::write(&sig, b"{\"signed\": true}").unwrap();
    let attached = home.json(&[
        "attach",
        "--plain-http",
        &subject,
        "--artifact-type",
        "application/vnd.example.signature",
        sig.to_str().unwrap(),
    ]);
    assert_eq!(attached["subject"], subject.as_str());
    assert_eq!(
        attached["artifactType"],
        "application/vnd.example.signature"
    );
    let referrer = attached["reference"].as_str().unwrap().to_owned();
    assert!(
        referrer.ends_with(attached["digest"].as_str().unwrap()),
        "{referrer}"
    );
    // Annotations alone are a referrer too.
    let note = home.json(&[
        "attach",
        "--plain-http",
        &subject,
        "--artifact-type",
        "application/vnd.example.note",
        "-a",
        "reviewed=yes",
    ]);
    let found = home.json(&["discover", "--plain-http", &subject]);
    let mut digests: Vec<&str> = found["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["digest"].as_str().unwrap())
        .collect();
    digests.sort_unstable();
    let mut expected = [
        attached["digest"].as_str().unwrap(),
        note["digest"].as_str().unwrap(),
    ];
    expected.sort_unstable();
    assert_eq!(digests, expected, "{found}");
    let out = home.join("out");
    home.json(&[
        "pull",
        "--plain-http",
        &referrer,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read(out.join("sig.json")).unwrap(),
        b"{\"signed\": true}"
    );
    // The subject's own tags: v1 and the tag schema's index, no tag for the referrers.
    let repository = format!("{}/orca/signed", registry.host());
    let subject_digest = pushed["digest"].as_str().unwrap().replace(':', "-");
    assert_eq!(
        sorted_tags(&home, &repository, &[]),
        [subject_digest.as_str(), "v1"]
    );
    assert_eq!(
        sorted_tags(&home, &repository, &["--exclude-digest-tags"]),
        ["v1"]
    );

    // Nothing to attach is a usage error; a subject that is not there, not found.
    let nothing = home.run(&[
        "attach",
        "--plain-http",
        &subject,
        "--artifact-type",
        "application/vnd.example.note",
    ]);
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);
    assert!(nothing.stderr.contains("annotations"), "{}", nothing.stderr);
    home.run(&[
        "attach",
        "--plain-http",
        &format!("{}/orca/signed:v2", registry.host()),
        "--artifact-type",
        "application/vnd.example.note",
        sig.to_str().unwrap(),
        "--output",
        "json",
    ])
    .fails_with(3, "ArtifactNotFound");
}

/// `blob push` of a file and of stdin, `blob fetch` back, against the reference registry.
#[test]
fn blob_push_and_fetch_against_docker_registry() {
    let rt = runtime();
    let Some(registry) = start(&rt, ReferenceOptions::default()) else {
        return; // printed "skipped: …"
    };
    let home = Home::new();
    let repository = format!("{}/orca/blobs", registry.host());
    let file = home.join("layer.bin");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&file, &content).unwrap();
    let pushed = home.json(&[
        "blob",
        "push",
        "--plain-http",
        &repository,
        file.to_str().unwrap(),
    ]);
    assert_eq!(pushed["existed"], false);
    let digest = pushed["descriptor"]["digest"].as_str().unwrap().to_owned();
    assert_eq!(pushed["descriptor"]["size"], 300_000);
    let again = home.json(&[
        "blob",
        "push",
        "--plain-http",
        &format!("{repository}@{digest}"),
        file.to_str().unwrap(),
    ]);
    assert_eq!(again["existed"], true);
    let back = home.join("back.bin");
    home.json(&[
        "blob",
        "fetch",
        "--plain-http",
        &format!("{repository}@{digest}"),
        "-O",
        back.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(&back).unwrap(), content);

    // From stdin, printing the descriptor with the media type asked for.
    let mut push = home.orca();
    push.args([
        "blob",
        "push",
        "--plain-http",
        &repository,
        "-",
        "--descriptor",
    ])
    .args(["--media-type", "text/plain"])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = push.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"from stdin\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let descriptor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(descriptor["mediaType"], "text/plain");
    assert_eq!(descriptor["size"], 11);
    let fetched = home.run(&[
        "blob",
        "fetch",
        "--plain-http",
        &format!("{repository}@{}", descriptor["digest"].as_str().unwrap()),
        "-O",
        "-",
    ]);
    assert_eq!(fetched.success().stdout, "from stdin\n");
}

/// `push --image-spec v1.0`, as ORAS packs it for registries that predate image-spec
/// 1.1: the artifact type as the config's media type, a `{}` config, no `artifactType`.
#[test]
fn push_with_image_spec_v1_0_against_docker_registry() {
    let rt = runtime();
    let Some(registry) = start(&rt, ReferenceOptions::default()) else {
        return; // printed "skipped: …"
    };
    let home = Home::new();
    let reference = format!("{}/orca/old-style:v1", registry.host());
    let file = home.join("app.toml");
    fs::write(&file, b"level = 1\n").unwrap();
    home.json(&[
        "push",
        "--plain-http",
        &reference,
        file.to_str().unwrap(),
        "--image-spec",
        "v1.0",
        "--artifact-type",
        "application/vnd.example.thing",
    ]);
    let manifest = home.json(&["manifest", "fetch", "--plain-http", &reference]);
    assert!(manifest.get("artifactType").is_none(), "{manifest}");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.example.thing"
    );
    assert_eq!(manifest["config"]["size"], 2);
    let config = home.run(&["manifest", "fetch-config", "--plain-http", &reference]);
    assert_eq!(config.success().stdout, "{}");
    let out = home.join("out");
    home.json(&[
        "pull",
        "--plain-http",
        &reference,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(out.join("app.toml")).unwrap(), b"level = 1\n");
    let refused = home.run(&[
        "push",
        "--plain-http",
        &reference,
        file.to_str().unwrap(),
        "--image-spec",
        "v1.0",
        "--subject",
        &reference,
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
}

#[test]
fn a_platform_asked_of_one_artifact_is_refused_against_docker_registry() {
    let rt = runtime();
    let Some(registry) = start(&rt, ReferenceOptions::default()) else {
        return; // printed "skipped: …"
    };
    let home = Home::new();
    let reference = format!("{}/orca/single:v1", registry.host());
    let file = home.join("app.toml");
    fs::write(&file, b"level = 1\n").unwrap();
    home.json(&["push", "--plain-http", &reference, file.to_str().unwrap()]);
    // Its config is not an image config, so it names no platform: refused rather than
    // pulled whatever it is for, and nothing written.
    let out = home.join("out");
    let refused = home
        .run(&[
            "pull",
            "--plain-http",
            &reference,
            "-o",
            out.to_str().unwrap(),
            "--platform",
            "linux/amd64",
            "--output",
            "json",
        ])
        .fails_with(1, "InvalidArtifact");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("not an image config"), "{message}");
    assert!(!out.exists());
}

#[test]
fn an_index_entry_is_resolved_and_fetched_per_platform_against_docker_registry() {
    let rt = runtime();
    let Some(registry) = start(&rt, ReferenceOptions::default()) else {
        return; // printed "skipped: …"
    };
    let home = Home::new();
    let host = registry.host().to_owned();
    let (entries, pushed) = push_platform_index(&home, &host);
    let index = format!("{host}/orca/tools:v1");
    let manifest = home.json(&[
        "manifest",
        "fetch",
        "--plain-http",
        &index,
        "--platform",
        "linux/amd64",
        "--descriptor",
    ]);
    assert_eq!(manifest["digest"], entries[0]["digest"]);
    assert_eq!(manifest["platform"]["architecture"], "amd64");

    // `resolve --platform` prints the entry's digest; without it, the index's.
    let resolved = home.run(&[
        "resolve",
        "--plain-http",
        &index,
        "--platform",
        "linux/arm64",
    ]);
    assert_eq!(
        resolved.success().stdout.trim(),
        entries[1]["digest"].as_str().unwrap()
    );
    let resolved = home.json(&["resolve", "--plain-http", &index]);
    assert_eq!(resolved["digest"], pushed["digest"]);
    let full = home.run(&["resolve", "--plain-http", "-l", &index]);
    assert_eq!(
        full.success().stdout.trim(),
        format!("{host}/orca/tools@{}", pushed["digest"].as_str().unwrap())
    );
    home.run(&[
        "resolve",
        "--plain-http",
        &index,
        "--platform",
        "linux/s390x",
        "--output",
        "json",
    ])
    .fails_with(3, "ArtifactNotFound");

    // `manifest fetch-config`: of an index, the config of the platform's entry (these
    // artifacts have the empty config); without a platform, the platforms are listed.
    let config = home.run(&[
        "manifest",
        "fetch-config",
        "--plain-http",
        &index,
        "--platform",
        "linux/arm64",
    ]);
    assert_eq!(config.success().stdout, "{}");
    let listed = home
        .run(&[
            "manifest",
            "fetch-config",
            "--plain-http",
            &index,
            "--output",
            "json",
        ])
        .fails_with(1, "InvalidArtifact");
    assert!(
        listed["message"].as_str().unwrap().contains("linux/amd64"),
        "{listed}"
    );
}

#[test]
fn copy_with_a_platform_copies_one_entry_against_docker_registry() {
    let rt = runtime();
    let Some(registry) = start(&rt, ReferenceOptions::default()) else {
        return; // printed "skipped: …"
    };
    let home = Home::new();
    let host = registry.host().to_owned();
    let (entries, pushed) = push_platform_index(&home, &host);
    let index = format!("{host}/orca/tools:v1");
    // `copy --platform` copies that entry alone, tagged: a plain manifest at the other end.
    let copied = home.json(&[
        "copy",
        "--plain-http",
        "--platform",
        "linux/arm64",
        &index,
        &format!("{host}/orca/arm:v1"),
    ]);
    assert_eq!(copied["digest"], entries[1]["digest"]);
    assert_eq!(copied["platform"], "linux/arm64/v8");
    assert_eq!(copied["index"], pushed["digest"]);
    assert_eq!(copied["manifests"], 1);
    let out = home.join("arm");
    let pulled = home.json(&[
        "pull",
        "--plain-http",
        &format!("{host}/orca/arm:v1"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(pulled["digest"], entries[1]["digest"]);
    assert_eq!(
        fs::read_to_string(out.join("settings.txt")).unwrap(),
        "settings for linux/arm64/v8\n"
    );
    // A platform the index lacks: nothing is pushed.
    let refused = home
        .run(&[
            "copy",
            "--plain-http",
            "--platform",
            "linux/s390x",
            &index,
            &format!("{host}/orca/s390x:v1"),
            "--output",
            "json",
        ])
        .fails_with(3, "ArtifactNotFound");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("linux/amd64, linux/arm64/v8"), "{message}");
    home.run(&[
        "resolve",
        "--plain-http",
        &format!("{host}/orca/s390x:v1"),
        "--output",
        "json",
    ])
    .fails_with(3, "ArtifactNotFound");

    // `attach --platform` and `discover --platform`: the platform's entry is the subject,
    // not the index.
    let sig = home.join("sig.json");
    fs::write(&sig, b"{}").unwrap();
    let entry = format!(
        "{host}/orca/tools@{}",
        entries[1]["digest"].as_str().unwrap()
    );
    let attached = home.json(&[
        "attach",
        "--plain-http",
        &index,
        "--platform",
        "linux/arm64",
        "--artifact-type",
        "application/vnd.example.signature",
        sig.to_str().unwrap(),
    ]);
    assert_eq!(attached["subject"], entry.as_str());
    let found = home.json(&[
        "discover",
        "--plain-http",
        &index,
        "--platform",
        "linux/arm64",
    ]);
    assert_eq!(found["digest"], entries[1]["digest"]);
    assert_eq!(found["referrers"][0]["digest"], attached["digest"]);
    let of_index = home.json(&["discover", "--plain-http", &index]);
    assert_eq!(of_index["referrers"], serde_json::json!([]));

    // `copy -r` of the index brings the entries' referrers too, as ORAS does.
    let mirror = format!("{host}/orca/mirror:v1");
    let copied = home.json(&["copy", "--plain-http", "-r", &index, &mirror]);
    assert_eq!(copied["referrers"], 1, "{copied}");
    let found = home.json(&[
        "discover",
        "--plain-http",
        &mirror,
        "--platform",
        "linux/arm64",
    ]);
    assert_eq!(found["referrers"][0]["digest"], attached["digest"]);
}

#[test]
fn a_multi_platform_index_is_pushed_and_pulled_per_platform_against_docker_registry() {
    let rt = runtime();
    let Some(registry) = start(&rt, ReferenceOptions::default()) else {
        return; // printed "skipped: …"
    };
    let home = Home::new();
    let host = registry.host().to_owned();
    let (entries, pushed) = push_platform_index(&home, &host);
    let resolved = home.json(&[
        "resolve",
        "--plain-http",
        &format!("{host}/orca/tools:latest"),
    ]);
    assert_eq!(resolved["digest"], pushed["digest"]);

    // Pull: the platform's entry; without one, the platforms are listed.
    let out = home.join("out");
    let pulled = home.json(&[
        "pull",
        "--plain-http",
        &format!("{host}/orca/tools:v1"),
        "-o",
        out.to_str().unwrap(),
        "--platform",
        "linux/arm64",
    ]);
    assert_eq!(pulled["digest"], entries[1]["digest"]);
    assert_eq!(pulled["platform"], "linux/arm64/v8");
    assert_eq!(pulled["index"], pushed["digest"]);
    assert_eq!(
        fs::read_to_string(out.join("settings.txt")).unwrap(),
        "settings for linux/arm64/v8\n"
    );
    let listed = home
        .run(&[
            "pull",
            "--plain-http",
            &format!("{host}/orca/tools:v1"),
            "-o",
            out.to_str().unwrap(),
            "--output",
            "json",
        ])
        .fails_with(1, "InvalidArtifact");
    let message = listed["message"].as_str().unwrap();
    assert!(
        message.contains("linux/amd64, linux/arm64/v8") && message.contains("--platform"),
        "{message}"
    );
    home.run(&[
        "pull",
        "--plain-http",
        &format!("{host}/orca/tools:v1"),
        "-o",
        out.to_str().unwrap(),
        "--platform",
        "windows/amd64",
        "--output",
        "json",
    ])
    .fails_with(3, "ArtifactNotFound");

    // A child the repository lacks: docker-registry refuses, the file stays unpushed.
    let index = home.join("index.json");
    home.run(&[
        "manifest",
        "push",
        "--plain-http",
        &format!("{host}/orca/other:v1"),
        index.to_str().unwrap(),
        "--output",
        "json",
    ])
    .fails_with(1, "InvalidArgument");
    home.run(&[
        "resolve",
        "--plain-http",
        &format!("{host}/orca/other:v1"),
        "--output",
        "json",
    ])
    .fails_with(3, "ArtifactNotFound");
}

/// Two single-file artifacts (`linux/amd64`, `linux/arm64/v8`) and an index of them under
/// `orca/tools:v1,latest`, pushed with the CLI: the entries and `manifest push`'s answer.
fn push_platform_index(home: &Home, host: &str) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut entries = Vec::new();
    for (platform, arch) in [("linux/amd64", "amd64"), ("linux/arm64/v8", "arm64")] {
        let file = home.join("settings.txt");
        fs::write(&file, format!("settings for {platform}\n")).unwrap();
        home.json(&[
            "push",
            "--plain-http",
            &format!("{host}/orca/tools:{arch}"),
            file.to_str().unwrap(),
        ]);
        let mut descriptor = home.json(&[
            "manifest",
            "fetch",
            "--plain-http",
            "--descriptor",
            &format!("{host}/orca/tools:{arch}"),
        ]);
        let mut parts = platform.split('/');
        descriptor["platform"] = serde_json::json!({
            "os": parts.next(),
            "architecture": parts.next(),
            "variant": parts.next(),
        });
        if descriptor["platform"]["variant"].is_null() {
            descriptor["platform"]
                .as_object_mut()
                .unwrap()
                .remove("variant");
        }
        entries.push(descriptor);
    }
    let index = home.join("index.json");
    fs::write(
        &index,
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }))
        .unwrap(),
    )
    .unwrap();
    let pushed = home.json(&[
        "manifest",
        "push",
        "--plain-http",
        &format!("{host}/orca/tools:v1,latest"),
        index.to_str().unwrap(),
    ]);
    assert_eq!(
        pushed["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    (entries, pushed)
}
