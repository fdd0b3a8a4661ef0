//! The ORAS workflow end to end against `orca serve`, JSON parsed back, exit codes checked.

use std::fs;

use crate::harness::{Home, Served, closed_port};

const PLAIN: &str = "--plain-http";

fn write_inputs(home: &Home) -> (String, String) {
    let file = home.join("config.json");
    fs::write(&file, br#"{"version": "1.0", "environment": "production"}"#).unwrap();
    let dir = home.join("site");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("index.html"), b"<h1>hi</h1>").unwrap();
    fs::write(dir.join("sub/data.txt"), b"data").unwrap();
    (
        file.to_string_lossy().into_owned(),
        dir.to_string_lossy().into_owned(),
    )
}

#[test]
fn push_resolve_fetch_manifest_pull_files_and_folders() {
    let home = Home::new();
    let reg = Served::start(&home, &[]);
    let (file, dir) = write_inputs(&home);
    let reference = reg.at("samples/app:v1");

    let pushed = home.json(&[
        "push",
        PLAIN,
        &reference,
        &format!("{file}:application/json"),
        &dir,
        "--artifact-type",
        "application/vnd.example.config.v1",
        "--annotation",
        "org.opencontainers.image.source=https://example.invalid/app",
        "--concurrency",
        "1",
    ]);
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{pushed}");
    assert_eq!(pushed["artifactType"], "application/vnd.example.config.v1");
    assert_eq!(pushed["layers"].as_array().unwrap().len(), 2);

    let resolved = home.json(&["resolve", PLAIN, &reference]);
    assert_eq!(resolved["digest"], digest.as_str());
    let text = home.run(&["resolve", PLAIN, &reference]);
    assert_eq!(text.success().stdout.trim(), digest);

    let manifest = home.json(&["manifest", "fetch", PLAIN, &reference]);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers[0]["mediaType"], "application/json");
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "config.json"
    );
    assert_eq!(
        layers[1]["annotations"]["io.deis.oras.content.unpack"],
        "true"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"],
        "https://example.invalid/app"
    );
    // Without --pretty the bytes are printed as received: they hash to the digest.
    let raw = home.run(&["manifest", "fetch", PLAIN, &reference]);
    raw.success();
    let descriptor = home.json(&["manifest", "fetch", PLAIN, "--descriptor", &reference]);
    assert_eq!(
        descriptor["size"].as_u64().unwrap(),
        raw.stdout.trim_end().len() as u64
    );

    let out = home.join("out");
    let pulled = home.json(&["pull", PLAIN, &reference, "-o", out.to_str().unwrap()]);
    assert_eq!(pulled["digest"], digest.as_str());
    assert_eq!(
        fs::read(out.join("config.json")).unwrap(),
        fs::read(&file).unwrap()
    );
    assert_eq!(
        fs::read(out.join("site/index.html")).unwrap(),
        b"<h1>hi</h1>"
    );
    assert_eq!(fs::read(out.join("site/sub/data.txt")).unwrap(), b"data");

    // Blobs by digest.
    let layer = layers[0]["digest"].as_str().unwrap();
    let blob_out = home.join("blob");
    home.run(&[
        "blob",
        "fetch",
        PLAIN,
        &format!("{}@{layer}", reg.at("samples/app")),
        "-O",
        blob_out.to_str().unwrap(),
    ])
    .success();
    assert_eq!(fs::read(&blob_out).unwrap(), fs::read(&file).unwrap());
    let blob_ref = format!("{}@{layer}", reg.at("samples/app"));
    let to_stdout = home.run(&["blob", "fetch", PLAIN, &blob_ref, "-O", "-"]);
    assert_eq!(
        to_stdout.success().stdout.as_bytes(),
        fs::read(&file).unwrap()
    );
    let described = home.json(&["blob", "fetch", PLAIN, "--descriptor", &blob_ref]);
    assert_eq!(described["digest"], layer);
    assert_eq!(described["size"], layers[0]["size"]);
    home.json(&["blob", "delete", PLAIN, &blob_ref]);
    home.run(&[
        "blob",
        "fetch",
        PLAIN,
        "--descriptor",
        &blob_ref,
        "--output",
        "json",
    ])
    .fails_with(3, "ArtifactNotFound");
}

#[test]
fn tags_repositories_and_delete() {
    let home = Home::new();
    let reg = Served::start(&home, &[]);
    let (file, _) = write_inputs(&home);
    let reference = reg.at("team/config:v1");
    home.json(&["push", PLAIN, &reference, &file]);
    home.json(&["push", PLAIN, &reg.at("team/other:1"), &file]);

    let tagged = home.json(&["tag", PLAIN, &reference, "v1.0", "latest"]);
    assert_eq!(tagged["tags"], serde_json::json!(["v1.0", "latest"]));
    let tags = home.json(&["repo", "tags", PLAIN, &reg.at("team/config")]);
    assert_eq!(tags["tags"], serde_json::json!(["latest", "v1", "v1.0"]));
    let after = home.json(&[
        "repo",
        "tags",
        PLAIN,
        &reg.at("team/config"),
        "--last",
        "v1",
    ]);
    assert_eq!(after["tags"], serde_json::json!(["v1.0"]));

    let long = home.json(&["repo", "tags", PLAIN, "--long", &reg.at("team/config")]);
    let first = &long["tags"][0];
    assert!(
        first["digest"].as_str().unwrap().starts_with("sha256:"),
        "{long}"
    );
    assert_eq!(first["artifactType"], "application/vnd.unknown.artifact.v1");
    assert!(
        first["typeName"]
            .as_str()
            .unwrap()
            .contains("ORAS artifact"),
        "{long}"
    );
    let text = home.run(&["repo", "tags", PLAIN, "--long", &reg.at("team/config")]);
    assert!(
        text.success().stdout.contains("(ORAS artifact)"),
        "{}",
        text.stdout
    );

    let repos = home.json(&["repo", "ls", PLAIN, &reg.host]);
    assert_eq!(
        repos["repositories"],
        serde_json::json!(["team/config", "team/other"])
    );
    let after = home.json(&["repo", "ls", PLAIN, &reg.host, "--last", "team/config"]);
    assert_eq!(after["repositories"], serde_json::json!(["team/other"]));
    let ns = home.run(&["repo", "ls", PLAIN, &reg.at("team")]);
    assert_eq!(ns.success().stdout, "config\nother\n");

    let deleted = home.json(&["manifest", "delete", PLAIN, &reference]);
    assert!(deleted["digest"].as_str().unwrap().starts_with("sha256:"));
    let gone = home.run(&["resolve", PLAIN, &reference, "--output", "json"]);
    let v = gone.fails_with(3, "ArtifactNotFound");
    assert_eq!(v["http_status"], 404);
    // Text mode: the message on stderr, nothing on stdout.
    let gone = home.run(&["resolve", PLAIN, &reference]);
    assert_eq!(gone.code, 3);
    assert!(gone.stdout.is_empty());
    assert!(gone.stderr.contains("not found"), "{}", gone.stderr);
}

/// Attach a signature and an SBOM to `subject`, and a signature to the SBOM; returns
/// what the first push printed.
fn push_referrers(home: &Home, src: &Served, subject: &str) -> serde_json::Value {
    let sig = home.join("sig.json");
    fs::write(&sig, b"{\"signature\": true}").unwrap();
    let sbom = home.join("sbom.spdx.json");
    fs::write(&sbom, b"{\"spdxVersion\": \"SPDX-2.3\"}").unwrap();
    let signature = home.json(&[
        "push",
        PLAIN,
        &src.at("app"),
        sig.to_str().unwrap(),
        "--subject",
        subject,
        "--artifact-type",
        "application/vnd.cncf.notary.signature",
    ]);
    let sbom_pushed = home.json(&[
        "push",
        PLAIN,
        &src.at("app"),
        sbom.to_str().unwrap(),
        "--subject",
        subject,
        "--artifact-type",
        "application/spdx+json",
    ]);
    // A signature of the SBOM: the tree is two levels deep.
    let sbom_ref = format!(
        "{}@{}",
        src.at("app"),
        sbom_pushed["digest"].as_str().unwrap()
    );
    home.json(&[
        "push",
        PLAIN,
        &src.at("app"),
        sig.to_str().unwrap(),
        "--subject",
        &sbom_ref,
        "--artifact-type",
        "application/vnd.cncf.notary.signature",
    ]);

    signature
}

#[test]
fn referrers_discover_and_copy_with_referrers() {
    let home = Home::new();
    let src = Served::start(&home, &[]);
    let dst = Served::start(&home, &[]);
    let (file, _) = write_inputs(&home);
    let subject = src.at("app:v1");
    home.json(&["push", PLAIN, &subject, &file]);
    let signature = push_referrers(&home, &src, &subject);

    let found = home.json(&["discover", PLAIN, &subject]);
    let referrers = found["referrers"].as_array().unwrap();
    assert_eq!(referrers.len(), 2, "{found}");
    let sbom_node = referrers
        .iter()
        .find(|r| r["artifactType"] == "application/spdx+json")
        .unwrap();
    assert_eq!(sbom_node["typeName"], "application/spdx+json (SBOM (SPDX))");
    assert_eq!(sbom_node["referrers"].as_array().unwrap().len(), 1);
    let only = home.json(&[
        "discover",
        PLAIN,
        &subject,
        "--artifact-type",
        "application/vnd.cncf.notary.signature",
    ]);
    assert_eq!(only["referrers"].as_array().unwrap().len(), 1);
    assert_eq!(only["referrers"][0]["digest"], signature["digest"]);
    let tree = home.run(&["discover", PLAIN, &subject]);
    let tree = &tree.success().stdout;
    assert!(tree.contains("├── ") && tree.contains("└── "), "{tree}");
    assert!(
        tree.contains("Notary signature") && tree.contains("SBOM (SPDX)"),
        "{tree}"
    );

    // --include-subject: the signature and what it signs.
    let both = home.join("both");
    let sig_ref = format!(
        "{}@{}",
        src.at("app"),
        signature["digest"].as_str().unwrap()
    );
    let pulled = home.json(&[
        "pull",
        PLAIN,
        "--include-subject",
        &sig_ref,
        "-o",
        both.to_str().unwrap(),
    ]);
    assert_eq!(pulled.as_array().map(Vec::len), Some(2), "{pulled}");
    assert_eq!(
        fs::read(both.join("sig.json")).unwrap(),
        b"{\"signature\": true}"
    );
    assert_eq!(
        fs::read(both.join("config.json")).unwrap(),
        fs::read(&file).unwrap()
    );

    let copied = home.json(&["copy", PLAIN, "-r", &subject, &dst.at("mirror/app:v1")]);
    assert!(copied["referrers"].as_u64().unwrap() >= 2, "{copied}");
    let mirrored = home.json(&["discover", PLAIN, &dst.at("mirror/app:v1")]);
    assert_eq!(
        mirrored["referrers"].as_array().unwrap().len(),
        2,
        "{mirrored}"
    );
    let out = home.join("mirror-out");
    home.json(&[
        "pull",
        PLAIN,
        &dst.at("mirror/app:v1"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read(out.join("config.json")).unwrap(),
        fs::read(&file).unwrap()
    );
}

#[test]
fn fetch_enforces_the_store_registry_and_limits() {
    let home = Home::new();
    let reg = Served::start(&home, &[]);
    let (file, _) = write_inputs(&home);
    let reference = reg.at("configs/anonymization:default");
    home.json(&["push", PLAIN, &reference, &file]);
    let out = home.join("fetched");
    let out = out.to_str().unwrap();

    let unregistered = home.run(&[
        "fetch",
        PLAIN,
        &reference,
        "--operation",
        "anonymization",
        "-o",
        out,
        "--output",
        "json",
    ]);
    unregistered.fails_with(6, "ArtifactStoreIsNotRegistered");

    home.json(&[
        "store",
        "add",
        &reg.host,
        PLAIN,
        "--limit",
        "anonymization=1MiB",
        "--limit",
        "tiny=10B",
    ]);
    let listed = home.json(&["store", "list"]);
    assert_eq!(listed["stores"][0]["registry"], reg.host.as_str());
    assert_eq!(listed["stores"][0]["limits"]["tiny"], 10);
    // ORCA_STORES names another stores file, as --stores does.
    let elsewhere = home.join("elsewhere-stores.toml");
    let listed = home
        .orca()
        .args(["store", "list", "--output", "json"])
        .env("ORCA_STORES", &elsewhere)
        .output()
        .unwrap();
    assert!(listed.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        listed["stores"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );

    let fetched = home.json(&[
        "fetch",
        &reference,
        "--operation",
        "anonymization",
        "-o",
        out,
    ]);
    assert_eq!(fetched["files"][0]["path"], "config.json");
    assert_eq!(
        fs::read(home.join("fetched/config.json")).unwrap(),
        fs::read(&file).unwrap()
    );

    let too_large = home.run(&[
        "fetch",
        &reference,
        "--operation",
        "tiny",
        "-o",
        out,
        "--output",
        "json",
    ]);
    let v = too_large.fails_with(5, "TooLargeArtifacts");
    assert_eq!(v["http_status"], 400);

    home.json(&["store", "remove", &reg.host]);
    let empty = home.json(&["store", "list"]);
    assert_eq!(empty["stores"], serde_json::json!([]));
}

#[test]
fn unreachable_and_unauthorized_have_their_exit_codes() {
    let home = Home::new();
    let port = closed_port();
    let run = home.run(&[
        "resolve",
        PLAIN,
        &format!("127.0.0.1:{port}/app:v1"),
        "--output",
        "json",
    ]);
    let v = run.fails_with(7, "FailedToConnectToArtifactStore");
    // The JSON form carries the hint beside the facade's three fields.
    assert!(
        v["hint"]
            .as_str()
            .is_some_and(|h| h.contains("is the registry running")),
        "{v}"
    );

    let reg = Served::start(&home, &["--auth", "basic", "--user", "admin:s3cret"]);
    let run = home.run(&["resolve", PLAIN, &reg.at("app:v1"), "--output", "json"]);
    let v = run.fails_with(4, "Unauthorized");
    assert_eq!(v["http_status"], 401);
    assert!(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"));
}

#[test]
fn login_then_pull_then_logout() {
    let home = Home::new();
    let (file, _) = write_inputs(&home);
    for auth in ["basic", "bearer"] {
        let reg = Served::start(&home, &["--auth", auth, "--user", "admin:s3cret"]);
        let reference = reg.at("private/app:v1");

        let wrong = home.run(&[
            "login", PLAIN, &reg.host, "-u", "admin", "-p", "wrong", "--output", "json",
        ]);
        wrong.fails_with(4, "Unauthorized");
        let config = fs::read_to_string(home.join("docker/config.json")).unwrap_or_default();
        assert!(
            !config.contains(&reg.host),
            "a refused login was stored: {config}"
        );

        let mut login = home.orca();
        login
            .args(["login", PLAIN, &reg.host, "-u", "admin", "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = login.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"s3cret\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "Login Succeeded"
        );
        let config = fs::read_to_string(home.join("docker/config.json")).unwrap();
        assert!(
            config.contains(&reg.host) && !config.contains("s3cret"),
            "{config}"
        );

        home.json(&["push", PLAIN, &reference, &file]);
        let out = home.join(format!("out-{auth}").as_str());
        home.json(&["pull", PLAIN, &reference, "-o", out.to_str().unwrap()]);
        assert_eq!(
            fs::read(out.join("config.json")).unwrap(),
            fs::read(&file).unwrap()
        );
        // Tracing at its most verbose names no credential: not the password, not its
        // Basic encoding, not the token header.
        let traced = home.run(&["resolve", PLAIN, &reference, "-vvv"]);
        traced.success();
        assert!(traced.stderr.contains("DEBUG") || traced.stderr.contains("TRACE"));
        for secret in ["s3cret", "YWRtaW46czNjcmV0", "Bearer ey", "Basic YW"] {
            assert!(
                !traced.stderr.contains(secret),
                "{secret}: {}",
                traced.stderr
            );
        }

        home.json(&["logout", &reg.host]);
        home.run(&["resolve", PLAIN, &reference, "--output", "json"])
            .fails_with(4, "Unauthorized");
    }
}

#[test]
fn demo_round_trip() {
    let home = Home::new();
    let demo = home.json(&["demo"]);
    assert_eq!(demo["identical"], true, "{demo}");
    assert_eq!(demo["referrers"], 1, "{demo}");
    assert!(
        demo["refused"]
            .as_str()
            .unwrap()
            .starts_with("TooLargeArtifacts"),
        "{demo}"
    );
    let text = home.run(&["demo"]);
    assert!(
        text.success().stdout.contains("7. fetch for operation"),
        "{}",
        text.stdout
    );
}

#[test]
fn registry_config_and_cache_flags() {
    let home = Home::new();
    let (file, _) = write_inputs(&home);
    let reg = Served::start(&home, &["--auth", "basic", "--user", "admin:s3cret"]);
    let auth_file = home.join("elsewhere/auth.json");
    let auth_file = auth_file.to_str().unwrap();
    home.json(&[
        "login",
        PLAIN,
        "--registry-config",
        auth_file,
        &reg.host,
        "-u",
        "admin",
        "-p",
        "s3cret",
    ]);
    assert!(!home.join("docker/config.json").exists());
    let reference = reg.at("cached/app:v1");
    home.run(&["push", PLAIN, &reference, &file, "--output", "json"])
        .fails_with(4, "Unauthorized");
    home.json(&[
        "push",
        PLAIN,
        "--registry-config",
        auth_file,
        &reference,
        &file,
    ]);

    // --no-cache leaves the cache alone; the default cache fills; --cache DIR is used.
    let out = home.join("out");
    let out = out.to_str().unwrap();
    let with = |extra: &[&str]| {
        let mut args = vec![
            "pull",
            PLAIN,
            "--registry-config",
            auth_file,
            &reference,
            "-o",
            out,
        ];
        args.extend_from_slice(extra);
        home.json(&args)
    };
    with(&["--no-cache", "--concurrency", "1"]);
    assert!(!home.join("cache/orca").join("index.json").exists());
    with(&[]);
    let listed = home.json(&["cache", "ls"]);
    assert!(listed["blobs"].as_u64().unwrap() >= 1, "{listed}");
    let custom = home.join("my-cache");
    with(&["--cache", custom.to_str().unwrap()]);
    let listed = home.json(&["cache", "ls", "--cache", custom.to_str().unwrap()]);
    assert!(listed["blobs"].as_u64().unwrap() >= 1, "{listed}");
    let pruned = home.json(&["cache", "prune", "--cache", custom.to_str().unwrap()]);
    assert!(pruned["freedBytes"].as_u64().unwrap() > 0, "{pruned}");
    let listed = home.json(&["cache", "ls", "--cache", custom.to_str().unwrap()]);
    assert_eq!(listed["bytes"], 0, "{listed}");
}

/// Text output with the registry's address and every digest replaced, for snapshots.
fn redact(text: &str, host: &str) -> String {
    let text = text.replace(host, "<registry>");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("sha256:") {
        out.push_str(&rest[..i + 7]);
        rest = &rest[i + 7..];
        let hex = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        // Whole digests and the 12-digit short form of the progress lines.
        if hex >= 12 {
            out.push_str("<digest>");
        } else {
            out.push_str(&rest[..hex]);
        }
        rest = &rest[hex..];
    }
    out.push_str(rest);
    out
}

#[test]
fn text_output_snapshots() {
    let home = Home::new();
    let reg = Served::start(&home, &[]);
    let (file, dir) = write_inputs(&home);
    let reference = reg.at("text/app:v1");
    let text = |args: &[&str]| {
        let run = home.run(args);
        run.success();
        redact(&run.stdout, &reg.host).replace(home.join("").to_str().unwrap(), "<home>/")
    };
    // The folder layer's gzip bytes (and so its digest) are fixed, file times aside: the
    // digests are redacted anyway.
    insta::assert_snapshot!("push", text(&["push", PLAIN, &reference, &file, &dir]));
    let sig = home.join("sig.json");
    fs::write(&sig, b"{}").unwrap();
    home.json(&[
        "push",
        PLAIN,
        &reg.at("text/app"),
        sig.to_str().unwrap(),
        "--subject",
        &reference,
        "--artifact-type",
        "application/vnd.cncf.notary.signature",
    ]);
    insta::assert_snapshot!(
        "repo_tags_long",
        text(&["repo", "tags", PLAIN, "--long", &reg.at("text/app")])
    );
    insta::assert_snapshot!("discover_tree", text(&["discover", PLAIN, &reference]));
    insta::assert_snapshot!(
        "discover_table",
        text(&["discover", PLAIN, "--format", "table", &reference])
    );
    let out = home.join("out");
    insta::assert_snapshot!(
        "pull",
        text(&["pull", PLAIN, &reference, "-o", out.to_str().unwrap()])
    );
    // Pushed again (last, so the listings above stay as they are), the file is one the
    // repository has: said as ORAS says it, not as an upload.
    let again = text(&["push", PLAIN, &reg.at("text/app:again"), &file]);
    assert!(
        again.starts_with("Exists    sha256:<digest> config.json\n"),
        "{again}"
    );
}

#[test]
fn store_entries_name_where_credentials_come_from() {
    let home = Home::new();
    let stores = home.join("stores.toml");
    let stores = stores.to_str().unwrap();
    let with_env = |args: &[&str]| {
        let mut all = vec!["--stores", stores, "--output", "json"];
        all.extend_from_slice(args);
        let out = home
            .orca()
            .env("REG_USER", "svc")
            .args(&all)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    };
    with_env(&[
        "store",
        "add",
        "a.example",
        "--username-env",
        "REG_USER",
        "--password-env",
        "REG_PASS",
    ]);
    with_env(&[
        "store",
        "add",
        "b.example",
        "--docker-config",
        "--limit",
        "*=1GiB",
    ]);
    with_env(&[
        "store",
        "add",
        "c.example:5000",
        "--plain-http",
        "--limit",
        "export=10MiB",
    ]);
    let listed = home.json(&["--stores", stores, "store", "list"]);
    let list = listed["stores"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{listed}");
    // The user name's variable is recorded by name, not read now.
    assert_eq!(list[0]["credentials"]["kind"], "basic-env-vars");
    assert_eq!(list[0]["credentials"]["username_env"], "REG_USER");
    assert_eq!(list[0]["credentials"]["password_env"], "REG_PASS");
    assert_eq!(list[1]["credentials"]["kind"], "docker-config");
    assert_eq!(list[1]["defaultLimit"], 1u64 << 30);
    assert_eq!(list[2]["plainHttp"], true);
    assert_eq!(list[2]["limits"]["export"], 10u64 << 20);
    // The file names the variables, never their values.
    let text = fs::read_to_string(home.join("stores.toml")).unwrap();
    assert!(
        text.contains("REG_PASS") && text.contains("REG_USER") && !text.contains("svc"),
        "{text}"
    );

    let bad = home.run(&[
        "--stores",
        stores,
        "store",
        "add",
        "d.example",
        "--limit",
        "x=lots",
        "--output",
        "json",
    ]);
    bad.fails_with(2, "InvalidArgument");
    let missing = home.run(&[
        "--stores",
        stores,
        "store",
        "remove",
        "nowhere.example",
        "--output",
        "json",
    ]);
    missing.fails_with(6, "ArtifactStoreIsNotRegistered");
    // A variable not set when the store is added is fine: it is read at use.
    home.json(&[
        "--stores",
        stores,
        "store",
        "add",
        "e.example",
        "--username-env",
        "NOT_SET_ANYWHERE",
        "--password-env",
        "P",
    ]);
}

/// `store add --username-env U --password-env P`: both variables are read when the store
/// is used, so a changed user name is picked up and a missing one is named.
#[test]
fn store_credentials_from_variables_are_read_at_use() {
    let home = Home::new();
    let reg = Served::start(&home, &["--auth", "basic", "--user", "svc:s3cret"]);
    let stores = home.join("stores.toml");
    let stores = stores.to_str().unwrap();
    let (file, _) = write_inputs(&home);
    let reference = reg.at("vars/app:v1");
    home.json(&[
        "--stores",
        stores,
        "store",
        "add",
        &reg.host,
        PLAIN,
        "--username-env",
        "REG_USER",
        "--password-env",
        "REG_PASS",
    ]);
    let with = |user: Option<&str>, args: &[&str]| {
        let mut cmd = home.orca();
        cmd.env("REG_PASS", "s3cret");
        if let Some(user) = user {
            cmd.env("REG_USER", user);
        }
        let mut all = vec!["--stores", stores, "--output", "json"];
        all.extend_from_slice(args);
        let out = cmd.args(&all).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = with(Some("svc"), &["push", &reference, &file]);
    assert_eq!(code, Some(0), "{stdout}");
    let (code, stdout) = with(Some("someone-else"), &["resolve", &reference]);
    assert_eq!(code, Some(4), "the new user name was used: {stdout}");
    let (code, stdout) = with(None, &["resolve", &reference]);
    assert_ne!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("REG_USER"),
        "the missing variable is named: {stdout}"
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");
}

/// `--azure` end to end: an Azure CLI on `PATH` (a script printing a token) gives the Azure
/// AD token, which orca exchanges at the registry's `/oauth2/exchange` (the embedded
/// registry in ACR mode), as `az acr login` would, without storing anything.
#[cfg(unix)]
#[test]
fn azure_credentials_from_the_environment() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let bin = home.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let az = bin.join("az");
    fs::write(
        &az,
        "#!/bin/sh\necho '{\"accessToken\": \"aad-token-for-tests\", \"expiresOn\": \"2999-01-01 00:00:00.000000\"}'\n",
    )
    .unwrap();
    fs::set_permissions(&az, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let reg = Served::start(
        &home,
        &["--auth", "acr", "--aad-token", "aad-token-for-tests"],
    );
    let (file, _) = write_inputs(&home);
    let reference = reg.at("azure/app:v1");
    let orca = |args: &[&str]| {
        let out = home.orca().env("PATH", &path).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    let (code, stdout) = orca(&["push", PLAIN, &reference, &file, "--output", "json"]);
    assert_eq!(code, Some(4), "{stdout}");
    let (code, stdout) = orca(&[
        "push", PLAIN, "--azure", &reference, &file, "--output", "json",
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        !home.join("docker/config.json").exists(),
        "--azure stored something"
    );

    let (code, stdout) = orca(&[
        "store", "add", &reg.host, PLAIN, "--azure", "--limit", "op=1MiB",
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    let out = home.join("fetched");
    let (code, stdout) = orca(&[
        "fetch",
        &reference,
        "--operation",
        "op",
        "-o",
        out.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(
        fs::read(out.join("config.json")).unwrap(),
        fs::read(&file).unwrap()
    );
}

#[test]
fn push_annotation_file_config_and_export_manifest() {
    let home = Home::new();
    let reg = Served::start(&home, &[]);
    let (file, _) = write_inputs(&home);
    let annotations = home.join("annotations.json");
    fs::write(
        &annotations,
        format!(
            r#"{{"$manifest": {{"org.opencontainers.image.version": "1.2.3"}}, {file:?}: {{"purpose": "settings"}}}}"#
        ),
    )
    .unwrap();
    let config = home.join("config.toml");
    fs::write(&config, b"kind = \"demo\"\n").unwrap();
    let exported = home.join("manifest.json");
    let reference = reg.at("options/app:v1,stable");
    home.json(&[
        "push",
        PLAIN,
        &reference,
        &file,
        "--annotation-file",
        annotations.to_str().unwrap(),
        "--config",
        &format!(
            "{}:application/vnd.example.config.v1+toml",
            config.display()
        ),
        "--export-manifest",
        exported.to_str().unwrap(),
    ]);
    let manifest = home.json(&["manifest", "fetch", PLAIN, &reg.at("options/app:stable")]);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        "1.2.3"
    );
    assert_eq!(manifest["layers"][0]["annotations"]["purpose"], "settings");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.example.config.v1+toml"
    );
    assert_eq!(manifest["config"]["size"], 14);
    let raw = home.run(&["manifest", "fetch", PLAIN, &reg.at("options/app:v1")]);
    assert_eq!(
        fs::read_to_string(&exported).unwrap(),
        raw.success().stdout.trim_end()
    );

    // An annotation file naming a file that is not pushed is refused before any upload.
    fs::write(&annotations, r#"{"other.txt": {"a": "b"}}"#).unwrap();
    home.run(&[
        "push",
        PLAIN,
        &reference,
        &file,
        "--annotation-file",
        annotations.to_str().unwrap(),
        "--output",
        "json",
    ])
    .fails_with(2, "InvalidArgument");
}

#[test]
fn push_overlap_from_uploads_while_hashing() {
    const OVERLAPPED: &str = "uploading while a second reader hashes";
    let home = Home::new();
    let reg = Served::start(&home, &[]);
    let (file, _) = write_inputs(&home);

    // Below the default threshold (16 MiB) a file is hashed first.
    let plain = home.run(&["push", PLAIN, &reg.at("overlap/app:v1"), &file, "--debug"]);
    assert!(
        !plain.success().stderr.contains(OVERLAPPED),
        "{}",
        plain.stderr
    );

    // --overlap-from 0 overlaps every file; what arrives is the same artifact.
    let overlapped = home.run(&[
        "push",
        PLAIN,
        &reg.at("overlap/app:v2"),
        &file,
        "--overlap-from",
        "0",
        "--debug",
    ]);
    assert!(
        overlapped.success().stderr.contains(OVERLAPPED),
        "{}",
        overlapped.stderr
    );
    let v1 = home.json(&["resolve", PLAIN, &reg.at("overlap/app:v1")]);
    let v2 = home.json(&["resolve", PLAIN, &reg.at("overlap/app:v2")]);
    assert_eq!(v1["digest"], v2["digest"]);
    let out = home.join("out");
    home.json(&[
        "pull",
        PLAIN,
        &reg.at("overlap/app:v2"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read(out.join("config.json")).unwrap(),
        fs::read(&file).unwrap()
    );

    // A size that does not parse is a usage error naming the flag.
    let bad = home.run(&[
        "push",
        PLAIN,
        &reg.at("overlap/app:v3"),
        &file,
        "--overlap-from",
        "lots",
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--overlap-from"), "{}", bad.stderr);
}

/// `manifest fetch-config`: the bytes as pushed, as JSON with `--output json`, to a file
/// with `-O`, or the descriptor.
#[test]
fn manifest_fetch_config_prints_the_config() {
    let home = Home::new();
    let reg = Served::start(&home, &[]);
    let config = home.join("config.json");
    fs::write(&config, br#"{"answer": 42}"#).unwrap();
    let file = home.join("f.txt");
    fs::write(&file, b"x").unwrap();
    let reference = reg.at("app:v1");
    home.json(&[
        "push",
        PLAIN,
        &reference,
        file.to_str().unwrap(),
        "--config",
        &format!("{}:application/vnd.example.config+json", config.display()),
    ]);
    let raw = home.run(&["manifest", "fetch-config", PLAIN, &reference]);
    assert_eq!(raw.success().stdout, r#"{"answer": 42}"#);
    let value = home.json(&["manifest", "fetch-config", PLAIN, &reference]);
    assert_eq!(value["answer"], 42);
    let descriptor = home.json(&[
        "manifest",
        "fetch-config",
        PLAIN,
        &reference,
        "--descriptor",
    ]);
    assert_eq!(
        descriptor["mediaType"],
        "application/vnd.example.config+json"
    );
    assert_eq!(descriptor["size"], 14);
    let out = home.join("out.json");
    home.json(&[
        "manifest",
        "fetch-config",
        PLAIN,
        &reference,
        "-O",
        out.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(&out).unwrap(), br#"{"answer": 42}"#);
}
