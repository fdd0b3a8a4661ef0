//! `orca serve --cache-rules --backing`: two fronts keep what they fetch in one Debian
//! `docker-registry`; the second serves a pull the first fetched, with the upstream gone.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};

use crate::harness::{Home, Served};

const PLAIN: &str = "--plain-http";

/// `orca serve --cache-rules --backing …` as a child; killed on drop.
struct Front {
    child: Child,
    host: String,
    storage: String,
}

impl Front {
    fn start(home: &Home, stores: &str, backing: &str) -> Front {
        let mut child = home
            .orca()
            .args(["serve", "--addr", "127.0.0.1:0", "--output", "json"])
            .args(["--stores", stores, "--cache-rules", "--backing", backing])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("orca serve --backing printed {line:?}: {e}"));
        Front {
            child,
            host: v["host"].as_str().unwrap().to_owned(),
            storage: v["storage"].as_str().unwrap().to_owned(),
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
fn two_fronts_share_a_docker_registry_backing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(backing) = rt
        .block_on(ReferenceRegistry::start(ReferenceOptions::default()))
        .unwrap()
    else {
        return; // printed "skipped: …"
    };
    let home = Home::new();
    let upstream = Served::start(&home, &[]);
    let file = home.join("motd.txt");
    fs::write(&file, b"kept in the backing registry").unwrap();
    home.json(&[
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
    orca(&["store", "add", backing.host(), PLAIN]);
    orca(&[
        "cache",
        "rule",
        "add",
        "library/*",
        &format!("{}/mirror/*", upstream.host),
    ]);
    let location = format!("{}/cache", backing.host());

    let a = Front::start(&home, stores, &location);
    assert_eq!(a.storage, location);
    let out = home.join("out-a");
    home.json(&[
        "pull",
        PLAIN,
        &format!("{}/library/app:1", a.host),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read(out.join("motd.txt")).unwrap(),
        b"kept in the backing registry"
    );
    // Its blobs land just after they verified, then the manifest (bounded wait).
    let in_backing = format!("{location}/library/app:1");
    let mut last = String::new();
    let landed = (0..100).any(|_| {
        let run = home.run(&["resolve", PLAIN, &in_backing, "--output", "json"]);
        last = format!("{} {}", run.stdout, run.stderr);
        run.code == 0 || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(
        landed,
        "the front pushed what it fetched to {in_backing}: {last}"
    );
    drop(a);

    // The upstream goes away; a second front on the same backing still serves the pull.
    drop(upstream);
    let b = Front::start(&home, stores, &location);
    let out = home.join("out-b");
    home.json(&[
        "pull",
        PLAIN,
        &format!("{}/library/app:1", b.host),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read(out.join("motd.txt")).unwrap(),
        b"kept in the backing registry"
    );
}

#[test]
fn serve_backing_refuses_what_does_not_apply() {
    let home = Home::new();
    for (args, needle) in [
        (
            vec![
                "serve",
                "--cache-rules",
                "--storage",
                "d",
                "--backing",
                "x.io",
            ],
            "--backing",
        ),
        (vec!["serve", "--backing", "x.io"], "--cache-rules"),
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
    // Not a registered store: refused by name, before listening.
    let unregistered = home.run(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--cache-rules",
        "--backing",
        "unregistered.example:5000/cache",
        "--output",
        "json",
    ]);
    assert_ne!(unregistered.code, 0);
    assert!(
        unregistered.stdout.contains("not registered")
            || unregistered.stderr.contains("not registered"),
        "{} {}",
        unregistered.stdout,
        unregistered.stderr
    );
}
