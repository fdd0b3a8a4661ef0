//! Interop with the Python `oras` package, both directions, byte for byte: a folder it
//! packs (and pushes to Debian's `docker-registry`) unpacks with orca, and a folder orca
//! packs unpacks with its puller. Skips with a printed reason when the package or the
//! registry is absent.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use orca_manifest::{Descriptor, Digest, annotations, media_types};
use orca_unpack::{LayerOptions, PackOptions, Written, pack_dir, write_layer};

use crate::snapshot;

fn python() -> Option<PathBuf> {
    let path = std::env::var_os("ORCA_ORAS_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/oras-venv/bin/python"),
        PathBuf::from,
    );
    let works = Command::new(&path)
        .args(["-c", "import oras.client, oras.utils"])
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

fn script(python: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/unpack/oras_interop.py");
    // The package leaves temporary files behind (`oras-tmp.*`): keep them in ours.
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(python)
        .env("TMPDIR", scratch.path())
        .arg(script)
        .args(args.iter().map(AsRef::as_ref))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "oras_interop.py {:?} failed:\n{}\n{}",
        args.iter()
            .map(|a| a.as_ref().to_owned())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn sample_folder(root: &Path) {
    fs::create_dir_all(root.join("nested/deeper")).unwrap();
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    fs::write(root.join("config.json"), br#"{"rules":[1,2,3]}"#).unwrap();
    fs::write(root.join("empty"), "").unwrap();
    fs::write(
        root.join("nested/data.bin"),
        (0..200_000u32)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    fs::write(root.join("nested/deeper/ünïcode.txt"), "ü").unwrap();
    fs::write(root.join("nested").join("n".repeat(140)), "long").unwrap();
}

fn unpack_all() -> LayerOptions {
    let mut options = LayerOptions::default();
    options.unpack_all_tar_gzip = true;
    options
}

#[test]
fn a_folder_python_oras_packs_unpacks_with_orca() {
    let Some(python) = python() else { return };
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("anonymization");
    sample_folder(&folder);
    let tgz = work.path().join("layer.tar.gz");
    script(&python, &[&"pack", &folder, &tgz]);
    let blob = fs::read(&tgz).unwrap();
    // The descriptor its pusher makes: tar+gzip, a title, no unpack annotations.
    let descriptor = Descriptor::for_bytes(media_types::OCI_LAYER_TAR_GZIP, &blob)
        .with_annotation(annotations::TITLE, "anonymization");
    let out = work.path().join("out");
    let written = write_layer(&descriptor, blob.as_slice(), &out, &unpack_all()).unwrap();
    assert!(matches!(written, Written::Extracted { .. }), "{written:?}");
    assert_eq!(snapshot(&out.join("anonymization")), snapshot(&folder));
}

#[test]
fn a_folder_orca_packs_unpacks_with_python_oras() {
    let Some(python) = python() else { return };
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("templates");
    sample_folder(&folder);
    let tgz = work.path().join("layer.tar.gz");
    let descriptor = pack_dir(
        &folder,
        fs::File::create(&tgz).unwrap(),
        &PackOptions::default(),
    )
    .unwrap();
    assert_eq!(descriptor.digest, Digest::sha256(&fs::read(&tgz).unwrap()));
    let out = work.path().join("out");
    fs::create_dir(&out).unwrap();
    script(&python, &[&"extract", &tgz, &out]);
    assert_eq!(snapshot(&out.join("templates")), snapshot(&folder));
}

/// Debian's `docker-registry` on a free loopback port with temporary storage, killed on
/// drop.
struct Registry {
    child: Child,
    host: String,
    _storage: tempfile::TempDir,
}

impl Registry {
    fn start() -> Option<Registry> {
        let binary = std::env::var_os("ORCA_DOCKER_REGISTRY")
            .map_or_else(|| PathBuf::from("/usr/bin/docker-registry"), PathBuf::from);
        if !binary.exists() {
            println!("skipped: no docker-registry at {}", binary.display());
            return None;
        }
        let storage = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = storage.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
                storage.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            host,
            _storage: storage,
        };
        for _ in 0..200 {
            if TcpStream::connect(&registry.host).is_ok() {
                return Some(registry);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not listen on {} within 10 s",
            registry.host
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_folder_python_oras_pushes_to_a_registry_pulls_with_orca() {
    let Some(python) = python() else { return };
    let Some(registry) = Registry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("configuration");
    sample_folder(&folder);
    let fetched = work.path().join("fetched");
    script(
        &python,
        &[
            &"push-and-fetch",
            &registry.host,
            &"interop/folder",
            &folder,
            &fetched,
        ],
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(fetched.join("manifest.json")).unwrap()).unwrap();
    let layers: Vec<Descriptor> = serde_json::from_value(manifest["layers"].clone()).unwrap();
    assert_eq!(layers.len(), 1);
    let layer = &layers[0];
    assert_eq!(layer.title(), Some("configuration"));
    assert_eq!(layer.annotation(annotations::ORAS_CONTENT_UNPACK), None);
    let blob = fs::read(fetched.join(layer.digest.as_str().replace(':', "-"))).unwrap();
    let out = work.path().join("out");
    // Without the Python convention the layer is one file, the blob as pushed.
    let written = write_layer(layer, blob.as_slice(), &out, &LayerOptions::default()).unwrap();
    assert!(matches!(written, Written::File { .. }), "{written:?}");
    assert_eq!(fs::read(out.join("configuration")).unwrap(), blob);
    // With it, the folder.
    write_layer(layer, blob.as_slice(), &out, &unpack_all()).unwrap();
    assert_eq!(snapshot(&out.join("configuration")), snapshot(&folder));
}

#[test]
fn a_folder_orca_packs_pulls_with_python_oras_from_a_registry() {
    let Some(python) = python() else { return };
    let Some(registry) = Registry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("bundle");
    sample_folder(&folder);
    let blob = work.path().join("layer.tar.gz");
    let descriptor = pack_dir(
        &folder,
        fs::File::create(&blob).unwrap(),
        &PackOptions::default(),
    )
    .unwrap();
    let desc = work.path().join("layer.json");
    fs::write(&desc, serde_json::to_vec(&descriptor).unwrap()).unwrap();
    let out = work.path().join("pulled");
    script(
        &python,
        &[
            &"upload-and-pull",
            &registry.host,
            &"interop/orca",
            &blob,
            &desc,
            &out,
        ],
    );
    assert_eq!(snapshot(&out.join("bundle")), snapshot(&folder));
}
