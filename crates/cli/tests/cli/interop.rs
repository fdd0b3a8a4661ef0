//! Interop with the Python `oras` package (installed by `cargo xtask ci` into
//! `target/oras-venv`): what `orca push` publishes it pulls byte for byte, and what it
//! pushes (files, folders and referrers) `orca pull --unpack-all` and `orca discover`
//! read. Skips with a reason when the package is absent.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{Home, Served};

fn python() -> Option<PathBuf> {
    let path = std::env::var_os("ORCA_ORAS_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/oras-venv/bin/python"),
        PathBuf::from,
    );
    let works = Command::new(&path)
        .args(["-c", "import oras.client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if works {
        Some(path)
    } else {
        println!(
            "skipped: the Python oras package is not available at {}",
            path.display()
        );
        None
    }
}

fn oras(python: &Path, cwd: &Path, args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cli/oras_interop.py");
    // The package leaves temporary files behind: keep them in a directory of ours.
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(python)
        .current_dir(cwd)
        .env("TMPDIR", scratch.path())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "oras_interop.py {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn sample(root: &Path) {
    fs::create_dir_all(root.join("folder/nested")).unwrap();
    fs::write(root.join("notes.txt"), b"orca and oras").unwrap();
    fs::write(root.join("folder/a.json"), br#"{"a": 1}"#).unwrap();
    fs::write(
        root.join("folder/nested/data.bin"),
        (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
}

fn same_file(a: &Path, b: &Path) {
    assert_eq!(
        fs::read(a).unwrap(),
        fs::read(b).unwrap(),
        "{} vs {}",
        a.display(),
        b.display()
    );
}

#[test]
fn oras_python_pulls_what_orca_pushes_and_the_other_way_round() {
    let Some(python) = python() else { return };
    let home = Home::new();
    let reg = Served::start(&home, &[]);
    let src = home.join("src");
    sample(&src);

    // orca → oras
    let pushed_by_orca = reg.at("interop/by-orca:v1");
    home.json(&[
        "push",
        "--plain-http",
        &pushed_by_orca,
        src.join("notes.txt").to_str().unwrap(),
        src.join("folder").to_str().unwrap(),
    ]);
    let oras_out = home.join("oras-out");
    fs::create_dir_all(&oras_out).unwrap();
    oras(
        &python,
        &src,
        &["pull", &pushed_by_orca, oras_out.to_str().unwrap()],
    );
    same_file(&src.join("notes.txt"), &oras_out.join("notes.txt"));
    same_file(&src.join("folder/a.json"), &oras_out.join("folder/a.json"));
    same_file(
        &src.join("folder/nested/data.bin"),
        &oras_out.join("folder/nested/data.bin"),
    );

    // oras → orca
    let pushed_by_oras = reg.at("interop/by-oras:v1");
    oras(
        &python,
        &src,
        &["push", &pushed_by_oras, "notes.txt", "folder"],
    );
    let orca_out = home.join("orca-out");
    home.json(&[
        "pull",
        "--plain-http",
        "--unpack-all",
        &pushed_by_oras,
        "-o",
        orca_out.to_str().unwrap(),
    ]);
    same_file(&src.join("notes.txt"), &orca_out.join("notes.txt"));
    same_file(&src.join("folder/a.json"), &orca_out.join("folder/a.json"));
    same_file(
        &src.join("folder/nested/data.bin"),
        &orca_out.join("folder/nested/data.bin"),
    );

    // A referrer the package pushes (a subject in its manifest): orca discovers it and
    // pulls it.
    let subject = home.json(&[
        "manifest",
        "fetch",
        "--plain-http",
        "--descriptor",
        &pushed_by_orca,
    ]);
    let (media_type, digest, size) = (
        subject["mediaType"].as_str().unwrap(),
        subject["digest"].as_str().unwrap(),
        subject["size"].as_u64().unwrap().to_string(),
    );
    let referrer = reg.at("interop/by-orca:note");
    oras(
        &python,
        &src,
        &["attach", &referrer, media_type, digest, &size, "notes.txt"],
    );
    let found = home.json(&["discover", "--plain-http", &pushed_by_orca]);
    let text = found.to_string();
    let referrer_digest = home.json(&["resolve", "--plain-http", &referrer])["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains(&referrer_digest), "{found}");
    let note_out = home.join("note-out");
    home.json(&[
        "pull",
        "--plain-http",
        &format!("{}@{referrer_digest}", reg.at("interop/by-orca")),
        "-o",
        note_out.to_str().unwrap(),
    ]);
    same_file(&src.join("notes.txt"), &note_out.join("notes.txt"));
}

fn skopeo() -> bool {
    let found = Command::new("skopeo")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("skipped: skopeo is not installed");
    }
    found
}

fn run_skopeo(home: &Home, args: &[&str]) -> String {
    let output = Command::new("skopeo")
        .env("HOME", home.join(""))
        .env("TMPDIR", home.join(""))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo {args:?}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn skopeo_reads_what_orca_pushes_and_shares_the_login() {
    if !skopeo() {
        return;
    }
    let home = Home::new();
    let reg = Served::start(&home, &["--auth", "basic", "--user", "admin:s3cret"]);
    let src = home.join("src");
    sample(&src);
    let auth_file = home.join("docker/config.json");
    let auth_file = auth_file.to_str().unwrap();

    // A login made by orca is used by skopeo through config.json.
    home.json(&[
        "login",
        "--plain-http",
        &reg.host,
        "-u",
        "admin",
        "-p",
        "s3cret",
    ]);
    let reference = reg.at("interop/skopeo:v1");
    let pushed = home.json(&[
        "push",
        "--plain-http",
        &reference,
        src.join("notes.txt").to_str().unwrap(),
    ]);
    let inspect = run_skopeo(
        &home,
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--authfile",
            auth_file,
            &format!("docker://{reference}"),
        ],
    );
    let manifest: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "notes.txt"
    );
    let layout = home.join("layout");
    run_skopeo(
        &home,
        &[
            "copy",
            "--src-tls-verify=false",
            "--authfile",
            auth_file,
            &format!("docker://{reference}"),
            &format!("oci:{}:v1", layout.display()),
        ],
    );
    let digest = pushed["digest"].as_str().unwrap().replace(':', "/");
    assert!(
        layout.join("blobs").join(digest).is_file(),
        "skopeo copied another manifest"
    );

    // A login made by skopeo is used by orca.
    home.json(&["logout", &reg.host]);
    home.run(&["resolve", "--plain-http", &reference, "--output", "json"])
        .fails_with(4, "Unauthorized");
    run_skopeo(
        &home,
        &[
            "login",
            "--tls-verify=false",
            "--authfile",
            auth_file,
            "-u",
            "admin",
            "-p",
            "s3cret",
            &reg.host,
        ],
    );
    let resolved = home.json(&["resolve", "--plain-http", &reference]);
    assert_eq!(resolved["digest"], pushed["digest"]);
}
