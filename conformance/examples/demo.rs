//! The demo round trip, run by `cargo xtask demo`.
//!
//! On the embedded mock registry (bearer token auth, on 127.0.0.1): pack a configuration
//! folder the way the ORAS CLI does, push it and a single file as one artifact, resolve the
//! tag, pull the manifest by digest, download every layer with its digest verified, lay
//! the files out with ORAS pull semantics, and check that every byte came back.
//!
//! `cargo xtask demo [DIR]` pushes DIR instead of the generated sample folder.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use orca_auth::{AuthOptions, Authenticator, Credential, StaticCredentials};
use orca_distribution::{Client, ClientConfig, FetchOptions, PushOptions};
use orca_manifest::{Descriptor, Digest, ImageManifest, media_types};
use orca_mock_registry::{AuthMode, Config, MockRegistry};
use orca_reference::Reference;
use orca_unpack::{LayerOptions, PackOptions, Written};

const ARTIFACT_TYPE: &str = "application/vnd.orca.demo.config.v1+json";
const USER: &str = "demo";
const PASSWORD: &str = "demo-password";

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let started = Instant::now();
    let work = tempfile::tempdir()?;
    let folder = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => sample_folder(work.path())?,
    };
    if !folder.is_dir() {
        return Err(format!("{} is not a folder", folder.display()).into());
    }
    let readme = work.path().join("README.txt");
    std::fs::write(&readme, "pushed by orca's demo as a single-file layer\n")?;

    let registry =
        MockRegistry::start(Config::default().with_auth(AuthMode::bearer(USER, PASSWORD))).await?;
    println!(
        "registry   {} (bearer token auth, in memory)",
        registry.base_url()
    );

    let credentials =
        StaticCredentials::new().with(registry.host(), Credential::basic(USER, PASSWORD));
    let auth = Authenticator::new(Arc::new(credentials), AuthOptions::default());
    let client = Client::with_authenticator(
        ClientConfig::default().with_plain_http(registry.host()),
        auth,
    )?;
    let reference: Reference =
        format!("{}/configs/anonymization:default", registry.host()).parse()?;

    let pushed = push(&client, &reference, &folder, &readme).await?;
    let out = work.path().join("pulled");
    pull(&client, &reference, &pushed, &out).await?;

    // Every byte came back.
    let title = folder.file_name().ok_or("the folder has no name")?;
    let compared = compare_trees(&folder, &out.join(title))?;
    if std::fs::read(&readme)? != std::fs::read(out.join("README.txt"))? {
        return Err("README.txt came back different".into());
    }
    let tokens = registry
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/token"))
        .count();
    println!(
        "ok         {compared} files identical after the round trip; {} requests ({tokens} token), {} connections, {:.0?}",
        registry.requests().len(),
        registry.connections(),
        started.elapsed()
    );
    Ok(())
}

/// Push a packed folder (extracted on pull) and a single file (written as it is) as one
/// artifact; returns the manifest's digest.
async fn push(
    client: &Client,
    reference: &Reference,
    folder: &Path,
    file: &Path,
) -> Result<Digest> {
    let mut packed = Vec::new();
    let folder_layer = orca_unpack::pack_dir(folder, &mut packed, &PackOptions::default())?;
    let file_layer = orca_unpack::pack_file(file, &PackOptions::default())?;
    let file_bytes = Bytes::from(std::fs::read(file)?);
    for (layer, bytes) in [
        (&folder_layer, Bytes::from(packed)),
        (&file_layer, file_bytes),
        (
            &Descriptor::empty(),
            Bytes::from_static(orca_manifest::EMPTY_JSON),
        ),
    ] {
        let pushed = client
            .push_blob(reference, layer, bytes, &PushOptions::default())
            .await?;
        println!(
            "push blob  {} {:>8} bytes  {:?}",
            pushed.digest, pushed.size, pushed.outcome
        );
    }
    let manifest = ImageManifest::artifact(ARTIFACT_TYPE, vec![folder_layer, file_layer])?;
    let pushed = client
        .push_manifest(
            reference,
            Bytes::from(manifest.to_bytes()),
            media_types::OCI_IMAGE_MANIFEST,
        )
        .await?;
    println!("push       {reference} -> {}", pushed.digest);
    Ok(pushed.digest)
}

/// Resolve the tag, then pull by digest (as a service that pins its configuration does)
/// and lay the layers out in `out` with ORAS pull semantics.
async fn pull(client: &Client, reference: &Reference, pushed: &Digest, out: &Path) -> Result<()> {
    let resolved = client.resolve(reference).await?;
    if resolved.digest != *pushed {
        return Err(format!("resolved {} but pushed {pushed}", resolved.digest).into());
    }
    let pinned = Reference::new(reference.registry(), reference.repository())?
        .with_digest(resolved.digest.clone());
    let fetched = client
        .fetch_manifest(&pinned, &FetchOptions::default())
        .await?;
    let manifest = fetched.manifest()?;
    println!(
        "pull       {pinned} ({} layers, artifact type {})",
        manifest.layers().len(),
        manifest.artifact_type().unwrap_or("-")
    );
    let mut blobs = BTreeMap::new();
    for layer in manifest.layers() {
        let bytes = client.fetch_blob(&pinned, layer).await?.bytes().await?;
        println!(
            "pull blob  {} {:>8} bytes  verified",
            layer.digest,
            bytes.len()
        );
        blobs.insert(layer.digest.clone(), bytes);
    }
    std::fs::create_dir(out)?;
    let written = orca_unpack::write_layers(
        manifest.layers(),
        |layer| Ok(Cursor::new(blobs[&layer.digest].clone())),
        out,
        &LayerOptions::default(),
    )?;
    for item in &written {
        match item {
            Written::Extracted { path, summary } => {
                println!(
                    "unpack     {} ({} entries, {} bytes)",
                    path.display(),
                    summary.entries.len(),
                    summary.bytes
                );
            }
            Written::File { path, size } => {
                println!("write      {} ({size} bytes)", path.display());
            }
            other => println!("layer      {other:?}"),
        }
    }
    Ok(())
}

/// A small configuration folder like the ones a FHIR server's de-identified export reads.
fn sample_folder(base: &Path) -> Result<PathBuf> {
    let folder = base.join("anonymization");
    std::fs::create_dir_all(folder.join("rules"))?;
    std::fs::write(
        folder.join("config.json"),
        r#"{"fhirVersion":"R4","processingErrors":"raise","parameters":{"dateShiftKey":"","cryptoHashKey":""}}"#,
    )?;
    std::fs::write(
        folder.join("rules").join("patient.json"),
        r#"[{"path":"Patient.name","method":"redact"},{"path":"Patient.birthDate","method":"dateshift"}]"#,
    )?;
    std::fs::write(folder.join("rules").join("empty.txt"), "")?;
    Ok(folder)
}

/// Compare two trees file by file; returns how many files matched.
fn compare_trees(expected: &Path, actual: &Path) -> Result<usize> {
    let mut count = 0;
    let mut names = std::fs::read_dir(expected)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    let mut actual_names = std::fs::read_dir(actual)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()?;
    actual_names.sort();
    if names != actual_names {
        return Err(format!(
            "{} holds {actual_names:?}, expected {names:?}",
            actual.display()
        )
        .into());
    }
    for name in names {
        let (e, a) = (expected.join(&name), actual.join(&name));
        if e.is_dir() {
            count += compare_trees(&e, &a)?;
        } else if std::fs::read(&e)? == std::fs::read(&a)? {
            count += 1;
        } else {
            return Err(format!("{} differs from {}", a.display(), e.display()).into());
        }
    }
    Ok(count)
}
