//! `orca cache rule` and `orca cache credential-set` on the stores file, and `orca fetch`
//! through the rules: a cache registry and a bearer-mode upstream, both `orca serve`.

use std::fs;

use crate::harness::{Home, Run, Served};

const PLAIN: &str = "--plain-http";

/// `orca args… --output json` with `UP_TOKEN` set to `token`.
fn run_with_token(home: &Home, token: &str, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let output = home
        .orca()
        .env("UP_TOKEN", token)
        .args(&all)
        .output()
        .unwrap();
    Run {
        args: all.join(" "),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn rules_and_credential_sets_are_managed_in_the_stores_file() {
    let home = Home::new();
    let stores = home.join("stores.toml");
    let stores = stores.to_str().unwrap();
    let orca = |args: &[&str]| {
        let mut all = vec!["--stores", stores];
        all.extend(args);
        home.json(&all)
    };
    let fails = |args: &[&str], code: i32| {
        let mut all = vec!["--stores", stores];
        all.extend(args);
        all.extend(["--output", "json"]);
        let run = home.run(&all);
        assert_eq!(
            run.code, code,
            "{}: {} {}",
            run.args, run.stdout, run.stderr
        );
        run.stdout_json()["message"].as_str().unwrap().to_owned()
    };

    orca(&["store", "add", "cache.example:5000", PLAIN]);
    let set = orca(&[
        "cache",
        "credential-set",
        "add",
        "hub",
        "--username-env",
        "HUB_USER",
        "--password-env",
        "HUB_TOKEN",
    ]);
    assert_eq!(set["added"]["passwordEnv"], "HUB_TOKEN");
    orca(&[
        "cache",
        "credential-set",
        "add",
        "quay",
        "--username",
        "robot",
        "--password-file",
        "quay.token",
    ]);
    orca(&["cache", "credential-set", "add", "ghcr", "--helper", "pass"]);
    let added = orca(&[
        "cache",
        "rule",
        "add",
        "library/*",
        "docker.io/library/*",
        "--credential-set",
        "hub",
        "--registry",
        "cache.example:5000",
    ]);
    assert_eq!(added["registry"], "cache.example:5000");
    orca(&[
        "cache",
        "rule",
        "add",
        "library/nginx",
        "ghcr.io/nginx/nginx",
        "--credential-set",
        "ghcr",
    ]);
    orca(&["cache", "rule", "add", "*", "quay.io/*"]);

    let listed = orca(&["cache", "rule", "list"]);
    assert_eq!(listed["registry"], "cache.example:5000");
    assert_eq!(listed["strictOverlap"], false);
    assert_eq!(
        listed["rules"],
        serde_json::json!([
            {"target": "library/*", "upstream": "docker.io/library/*", "credentialSet": "hub"},
            {"target": "library/nginx", "upstream": "ghcr.io/nginx/nginx", "credentialSet": "ghcr"},
            {"target": "*", "upstream": "quay.io/*", "credentialSet": null},
        ])
    );
    let sets = orca(&["cache", "credential-set", "list"]);
    let names: Vec<&str> = sets["credentialSets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ghcr", "hub", "quay"]);
    // The file path was made absolute; the file holds references only.
    let quay = &sets["credentialSets"][2];
    assert!(
        quay["passwordFile"]
            .as_str()
            .unwrap()
            .ends_with("/quay.token"),
        "{quay}"
    );
    let text = fs::read_to_string(stores).unwrap();
    assert!(
        text.contains("[[cache.rules]]") && text.contains("password_env = \"HUB_TOKEN\""),
        "{text}"
    );

    // Text form.
    let run = home.run(&["--stores", stores, "cache", "rule", "list"]);
    run.success();
    assert!(
        run.stdout.contains("Cache registry: cache.example:5000"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("library/nginx  ghcr.io/nginx/nginx"),
        "{}",
        run.stdout
    );

    // Refusals name the problem.
    let m = fails(
        &[
            "cache",
            "rule",
            "add",
            "library/nginx",
            "docker.io/library/nginx",
        ],
        1,
    );
    assert!(
        m.contains("exists already: library/nginx -> ghcr.io/nginx/nginx"),
        "{m}"
    );
    let m = fails(
        &[
            "cache",
            "rule",
            "add",
            "x/*",
            "docker.io/x/*",
            "--credential-set",
            "nope",
        ],
        1,
    );
    assert!(
        m.contains("credential set nope, which is not defined"),
        "{m}"
    );
    let m = fails(&["cache", "rule", "add", "lib*", "docker.io/lib*"], 2);
    assert!(m.contains("wildcard"), "{m}");
    let m = fails(
        &[
            "cache",
            "rule",
            "add",
            "a",
            "docker.io/a",
            "--registry",
            "other.example",
        ],
        6,
    );
    assert!(m.contains("orca store add other.example"), "{m}");
    let m = fails(&["cache", "credential-set", "remove", "hub"], 1);
    assert!(m.contains("used by the cache rule library/*"), "{m}");
    let m = fails(
        &[
            "cache",
            "credential-set",
            "add",
            "bad name",
            "--helper",
            "pass",
        ],
        2,
    );
    assert!(m.contains("credential-set name"), "{m}");
    fails(&["cache", "rule", "remove", "not/there"], 3);
    fails(&["cache", "credential-set", "remove", "not-there"], 3);
    // clap: a secret source is required, and only one.
    let run = home.run(&[
        "--stores",
        stores,
        "cache",
        "credential-set",
        "add",
        "x",
        "--username",
        "u",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = home.run(&[
        "--stores",
        stores,
        "cache",
        "credential-set",
        "add",
        "x",
        "--username",
        "u",
        "--password-env",
        "A",
        "--helper",
        "pass",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    // Settings: strict overlap is refused while `library/*` and `*` overlap.
    let m = fails(&["cache", "rule", "config", "--strict-overlap", "true"], 1);
    assert!(m.contains("overlaps"), "{m}");
    let shown = orca(&["cache", "rule", "config"]);
    assert_eq!(shown["strictOverlap"], false);
    assert_eq!(shown["registry"], "cache.example:5000");

    // Removal.
    orca(&["cache", "rule", "remove", "library/*"]);
    orca(&["cache", "credential-set", "remove", "hub"]);
    let listed = orca(&["cache", "rule", "list"]);
    assert_eq!(listed["rules"].as_array().unwrap().len(), 2);
    // No overlap left: strict mode on, then an overlapping wildcard is refused.
    let set = orca(&[
        "cache",
        "rule",
        "config",
        "--strict-overlap",
        "true",
        "--no-registry",
    ]);
    assert_eq!(set["strictOverlap"], true);
    assert_eq!(set["registry"], serde_json::Value::Null);
    let m = fails(&["cache", "rule", "add", "quay/*", "quay.io/x/*"], 1);
    assert!(m.contains("overlaps * -> quay.io/*"), "{m}");
    let m = fails(
        &["cache", "rule", "config", "--registry", "nope.example"],
        6,
    );
    assert!(m.contains("orca store add nope.example"), "{m}");
}

#[test]
fn fetch_goes_through_the_rules_of_the_cache_registry() {
    let home = Home::new();
    let cache = Served::start(&home, &[]);
    let upstream = Served::start(&home, &["--auth", "bearer", "--user", "puller:up-s3cret"]);

    // Publish upstream from another home, logged in there.
    let publisher = Home::new();
    publisher.json(&[
        "login",
        PLAIN,
        &upstream.host,
        "-u",
        "puller",
        "-p",
        "up-s3cret",
    ]);
    let file = publisher.join("motd.txt");
    fs::write(&file, b"hello through the cache").unwrap();
    publisher.json(&[
        "push",
        PLAIN,
        &upstream.at("library/app:1"),
        file.to_str().unwrap(),
    ]);

    home.json(&["store", "add", &cache.host, PLAIN]);
    home.json(&["store", "add", &upstream.host, PLAIN]);
    home.json(&[
        "cache",
        "credential-set",
        "add",
        "up",
        "--username",
        "puller",
        "--password-env",
        "UP_TOKEN",
    ]);
    home.json(&[
        "cache",
        "rule",
        "add",
        "library/*",
        &format!("{}/library/*", upstream.host),
        "--credential-set",
        "up",
        "--registry",
        &cache.host,
    ]);

    let out = home.join("out");
    let out = out.to_str().unwrap();
    let cached = cache.at("library/app:1");

    // The cache registry does not have it; without the secret the upstream refuses.
    let refused = run_with_token(
        &home,
        "wrong-token-value",
        &["fetch", &cached, "--operation", "x", "-o", out],
    );
    refused.fails_with(4, "Unauthorized");
    assert!(
        !refused.stdout.contains("wrong-token-value")
            && !refused.stderr.contains("wrong-token-value")
    );
    let unset = run_with_token(
        &home,
        "",
        &["fetch", &cached, "--operation", "x", "-o", out],
    );
    assert_ne!(unset.code, 0);
    assert!(
        unset.stdout.contains("UP_TOKEN is not set"),
        "{}",
        unset.stdout
    );
    assert!(
        unset.stdout.contains("set it, or change the entry"),
        "the hint says what to do: {}",
        unset.stdout
    );

    // With it: fetched upstream, stored in the cache registry, written out.
    let fetched = run_with_token(
        &home,
        "up-s3cret",
        &["fetch", &cached, "--operation", "x", "-o", out],
    );
    fetched.success();
    assert_eq!(
        fs::read(home.join("out/motd.txt")).unwrap(),
        b"hello through the cache"
    );
    let tags = home.json(&["repo", "tags", PLAIN, &cache.at("library/app")]);
    assert!(tags.to_string().contains("\"1\""), "{tags}");

    // A credential set answered by a docker credential helper (a script on PATH).
    let bin = home.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let script = bin.join("docker-credential-fake");
    fs::write(
        &script,
        "#!/bin/sh\nread server\n[ \"$1\" = get ] || exit 1\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"puller\",\"Secret\":\"up-s3cret\"}' \"$server\"\n",
    )
    .unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    home.json(&[
        "cache",
        "credential-set",
        "add",
        "via-helper",
        "--helper",
        "fake",
    ]);
    home.json(&[
        "cache",
        "rule",
        "add",
        "helped/*",
        &format!("{}/library/*", upstream.host),
        "--credential-set",
        "via-helper",
    ]);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out2 = home.join("out2");
    let helped = home
        .orca()
        .env("PATH", path)
        .args([
            "fetch",
            &cache.at("helped/app:1"),
            "--operation",
            "x",
            "-o",
            out2.to_str().unwrap(),
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        helped.status.success(),
        "{}",
        String::from_utf8_lossy(&helped.stdout)
    );
    assert_eq!(
        fs::read(out2.join("motd.txt")).unwrap(),
        b"hello through the cache"
    );

    // A repository no rule covers is the cache registry's alone.
    let missing = run_with_token(
        &home,
        "up-s3cret",
        &[
            "fetch",
            &cache.at("other/app:1"),
            "--operation",
            "x",
            "-o",
            out,
        ],
    );
    missing.fails_with(3, "ArtifactNotFound");
}
