//! `orca serve --cache-rules`: the caching front before a bearer-mode upstream, its rule
//! and credential set from the stores file, pulled through with `orca pull`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use crate::harness::{Home, Served};

const PLAIN: &str = "--plain-http";

/// `orca serve --cache-rules …` as a child with `UP_TOKEN` set; killed on drop.
struct Front {
    child: Child,
    host: String,
    rules: u64,
    users: u64,
}

impl Front {
    fn start(home: &Home, stores: &str, storage: &str, token: &str) -> Front {
        Front::start_with(home, stores, storage, token, &[])
    }

    fn start_with(home: &Home, stores: &str, storage: &str, token: &str, extra: &[&str]) -> Front {
        let mut child = home
            .orca()
            .env("UP_TOKEN", token)
            .args(["serve", "--addr", "127.0.0.1:0", "--output", "json"])
            .args(["--stores", stores, "--cache-rules", "--storage", storage])
            .args(["--revalidate", "0s"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("orca serve --cache-rules printed {line:?}: {e}"));
        Front {
            child,
            host: v["host"].as_str().unwrap().to_owned(),
            rules: v["cache_rules"].as_u64().unwrap(),
            users: v["users"].as_u64().unwrap(),
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_cache_rules_pulls_through_a_bearer_upstream_with_the_credential_set() {
    let home = Home::new();
    let upstream = Served::start(&home, &["--auth", "bearer", "--user", "puller:up-s3cret"]);
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
    fs::write(&file, b"hello through the front").unwrap();
    publisher.json(&[
        "push",
        PLAIN,
        &upstream.at("mirror/app:1"),
        file.to_str().unwrap(),
    ]);

    let stores = home.join("front-stores.toml");
    let stores = stores.to_str().unwrap();
    let orca = |args: &[&str]| {
        let mut all = vec!["--stores", stores];
        all.extend(args);
        home.json(&all)
    };
    orca(&["store", "add", &upstream.host, PLAIN]);
    orca(&[
        "cache",
        "credential-set",
        "add",
        "up",
        "--username",
        "puller",
        "--password-env",
        "UP_TOKEN",
    ]);
    orca(&[
        "cache",
        "rule",
        "add",
        "library/*",
        &format!("{}/mirror/*", upstream.host),
        "--credential-set",
        "up",
    ]);

    let storage = home.join("front-storage");
    let front = Front::start(&home, stores, storage.to_str().unwrap(), "up-s3cret");
    assert_eq!((front.rules, front.users), (1, 0));
    let reference = format!("{}/library/app:1", front.host);
    for round in ["miss", "hit"] {
        let out = home.join(&format!("out-{round}"));
        let pulled = home.json(&["pull", PLAIN, &reference, "-o", out.to_str().unwrap()]);
        assert!(pulled["digest"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(
            fs::read(out.join("motd.txt")).unwrap(),
            b"hello through the front",
            "{round}"
        );
    }
    let blobs = fs::read_dir(storage.join("blobs/sha256")).unwrap().count();
    assert!(blobs >= 2, "the manifest and its blobs are stored: {blobs}");
    drop(front);

    // With the wrong secret the upstream refuses and the front says its rule's
    // credentials need fixing (403, exit 4, no login hint: logging in to the front would
    // not help), without the secret; what is stored is still served.
    let refused_front = Front::start(&home, stores, storage.to_str().unwrap(), "wrong-secret");
    let other = format!("{}/library/other:1", refused_front.host);
    let refused = home.run(&[
        "pull",
        PLAIN,
        &other,
        "-o",
        home.join("x").to_str().unwrap(),
        "--output",
        "json",
    ]);
    let error = refused.fails_with(4, "Unauthorized");
    assert!(
        error["message"].as_str().unwrap().contains("cache rule"),
        "{error}"
    );
    assert!(!refused.stdout.contains("orca login"), "{error}");
    assert!(!refused.stdout.contains("wrong-secret") && !refused.stderr.contains("wrong-secret"));
    let out = home.join("out-stale");
    home.json(&[
        "pull",
        PLAIN,
        &format!("{}/library/app:1", refused_front.host),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read(out.join("motd.txt")).unwrap(),
        b"hello through the front"
    );
}

/// A stores file registering `upstream` (plain HTTP) with the rule
/// `library/* -> UPSTREAM/mirror/*`, no credential set; returns its path.
fn stores_with_a_rule(home: &Home, upstream: &Served) -> String {
    let stores = home.join("front-stores.toml");
    let stores = stores.to_str().unwrap().to_owned();
    home.json(&["--stores", &stores, "store", "add", &upstream.host, PLAIN]);
    home.json(&[
        "--stores",
        &stores,
        "cache",
        "rule",
        "add",
        "library/*",
        &format!("{}/mirror/*", upstream.host),
    ]);
    stores
}

#[test]
fn serve_cache_rules_over_https_with_a_certificate() {
    let home = Home::new();
    let upstream = Served::start(&home, &[]);
    let file = home.join("motd.txt");
    fs::write(&file, b"hello over https").unwrap();
    home.json(&[
        "push",
        PLAIN,
        &upstream.at("mirror/app:1"),
        file.to_str().unwrap(),
    ]);
    let stores = stores_with_a_rule(&home, &upstream);
    let stores = stores.as_str();
    let (cert_path, key_path) = crate::serve_tls::certificate(&home);
    let (cert_path, key_path) = (cert_path.as_str(), key_path.as_str());

    let storage = home.join("front-storage");
    let front = Front::start_with(
        &home,
        stores,
        storage.to_str().unwrap(),
        "",
        &["--tls-cert", cert_path, "--tls-key", key_path],
    );
    let reference = format!("{}/library/app:1", front.host);
    let out = home.join("out");
    home.json(&[
        "pull",
        &reference,
        "-o",
        out.to_str().unwrap(),
        "--ca-file",
        cert_path,
    ]);
    assert_eq!(fs::read(out.join("motd.txt")).unwrap(), b"hello over https");
    // Without trusting the certificate, the failure names it.
    let untrusted = home.run(&["pull", &reference, "-o", out.to_str().unwrap()]);
    assert_eq!(untrusted.code, 7, "{}", untrusted.stderr);
    assert!(
        untrusted.stderr.contains("certificate"),
        "{}",
        untrusted.stderr
    );
    drop(front);

    // A certificate file that holds none is a usage error, before anything is served.
    let refused = home.run(&[
        "--stores",
        stores,
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--cache-rules",
        "--storage",
        storage.to_str().unwrap(),
        "--tls-cert",
        stores,
        "--tls-key",
        key_path,
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("certificate"), "{}", refused.stderr);
}

#[test]
fn serve_cache_rules_with_users_asks_for_a_login() {
    let home = Home::new();
    let upstream = Served::start(&home, &[]);
    let file = home.join("motd.txt");
    fs::write(&file, b"hello, member").unwrap();
    home.json(&[
        "push",
        PLAIN,
        &upstream.at("mirror/app:1"),
        file.to_str().unwrap(),
    ]);
    let stores = stores_with_a_rule(&home, &upstream);
    let users = home.join("front-users");
    // An htpasswd line (`htpasswd -nbB -C 4 puller front-s3cret`), as distribution's.
    fs::write(
        &users,
        "# who may pull\n\npuller:$2y$04$DC4NA9An6SMu/uJXAid93eQs5U5WvBfujMdzVQLczOlGyQ0Dq940O\n",
    )
    .unwrap();
    let storage = home.join("front-storage");
    let front = Front::start_with(
        &home,
        &stores,
        storage.to_str().unwrap(),
        "",
        &["--auth", "basic", "--users-file", users.to_str().unwrap()],
    );
    assert_eq!(front.users, 1);
    let reference = format!("{}/library/app:1", front.host);
    let out = home.join("out");
    let refused = home.run(&[
        "pull",
        PLAIN,
        &reference,
        "-o",
        out.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let error = refused.fails_with(4, "Unauthorized");
    assert!(
        error["hint"].as_str().unwrap().contains("orca login"),
        "{error}"
    );
    let wrong = home.run(&[
        "login",
        PLAIN,
        &front.host,
        "-u",
        "puller",
        "-p",
        "guess",
        "--output",
        "json",
    ]);
    wrong.fails_with(4, "Unauthorized");
    home.json(&[
        "login",
        PLAIN,
        &front.host,
        "-u",
        "puller",
        "-p",
        "front-s3cret",
    ]);
    home.json(&["pull", PLAIN, &reference, "-o", out.to_str().unwrap()]);
    assert_eq!(fs::read(out.join("motd.txt")).unwrap(), b"hello, member");
}

#[test]
fn serve_cache_rules_with_a_size_bound_keeps_its_storage_under_it() {
    let home = Home::new();
    let upstream = Served::start(&home, &[]);
    let stores = stores_with_a_rule(&home, &upstream);
    let stores = stores.as_str();
    for name in ["a", "b"] {
        let file = home.join(&format!("{name}.bin"));
        fs::write(&file, vec![name.as_bytes()[0]; 20_000]).unwrap();
        home.json(&[
            "push",
            PLAIN,
            &upstream.at(&format!("mirror/{name}:1")),
            file.to_str().unwrap(),
        ]);
    }
    let storage = home.join("front-storage");
    let front = Front::start_with(
        &home,
        stores,
        storage.to_str().unwrap(),
        "",
        &["--max-size", "30KB"],
    );
    let bytes_kept = || -> u64 {
        fs::read_dir(storage.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    // Each artifact is a 20 kB layer and two small blobs: the second evicts the first's
    // layer, and the first pulled again is fetched upstream again, whole.
    for name in ["a", "b", "a"] {
        let out = home.join(&format!("out-{name}"));
        home.json(&[
            "pull",
            PLAIN,
            &format!("{}/library/{name}:1", front.host),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(
            fs::read(out.join(format!("{name}.bin"))).unwrap(),
            vec![name.as_bytes()[0]; 20_000]
        );
        assert!(bytes_kept() <= 30_000, "{} bytes kept", bytes_kept());
    }
}

#[test]
fn serve_cache_rules_refuses_what_does_not_apply() {
    let home = Home::new();
    for (args, needle) in [
        (vec!["serve", "--cache-rules"], "--storage"),
        (
            vec![
                "serve",
                "--cache-rules",
                "--storage",
                "d",
                "--auth",
                "basic",
            ],
            "--auth",
        ),
        (
            vec![
                "serve",
                "--cache-rules",
                "--storage",
                "d",
                "--revalidate",
                "soon",
            ],
            "--revalidate",
        ),
        (
            vec![
                "serve",
                "--cache-rules",
                "--storage",
                "d",
                "--auth",
                "bearer",
            ],
            "--auth",
        ),
        (
            vec!["serve", "--cache-rules", "--storage", "d", "--user", "a:b"],
            "--auth is none",
        ),
        (
            vec![
                "serve",
                "--cache-rules",
                "--storage",
                "d",
                "--auth",
                "basic",
                "--users-file",
                "no-such-file",
            ],
            "--users-file no-such-file",
        ),
        (vec!["serve", "--user", "a:b"], "--auth is none"),
        (vec!["serve", "--revalidate", "5m"], "--cache-rules"),
        (vec!["serve", "--max-size", "1GiB"], "--cache-rules"),
        (
            vec![
                "serve",
                "--cache-rules",
                "--storage",
                "d",
                "--max-size",
                "lots",
            ],
            "--max-size",
        ),
    ] {
        let run = home.run(&args);
        assert_eq!(run.code, 2, "{}: {} {}", run.args, run.stdout, run.stderr);
        assert!(
            run.stdout.contains(needle) || run.stderr.contains(needle),
            "{}: {} {}",
            run.args,
            run.stdout,
            run.stderr
        );
    }
}
