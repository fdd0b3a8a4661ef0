//! `orca demo`: the round trip on an embedded registry, step by step.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use orca::registry::{Config, MockRegistry};
use orca::{ArtifactStore, FileSpec, PushOptions, Store, StoreRegistry};
use serde_json::json;

use crate::args::DemoArgs;
use crate::context::Context;
use crate::exit::{Failure, chain};

/// The operation the demo fetches for, and its limit.
const OPERATION: &str = "demo";
const LIMIT: u64 = 64 << 20;

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Failure {
    let (what, path) = (what.to_owned(), path.to_path_buf());
    move |e| Failure::io(&what, &path, &e)
}

/// A small configuration folder, as a service would fetch.
fn sample(dir: &Path) -> Result<(), Failure> {
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).map_err(io("creating", &templates))?;
    for (name, text) in [
        (
            "config.json",
            "{\"fhirVersion\": \"R4\", \"processingErrors\": \"raise\"}\n",
        ),
        (
            "templates/patient.liquid",
            "{\"resourceType\": \"Patient\", \"id\": \"{{ id }}\"}\n",
        ),
        (
            "README.md",
            "A sample anonymization configuration pushed by `orca demo`.\n",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io("writing", &path))?;
    }
    Ok(())
}

/// Every regular file under `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>, Failure> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io("reading", &d))? {
            let path = entry.map_err(io("reading", &d))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
                let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
                found.insert(rel, bytes);
            }
        }
    }
    Ok(found)
}

/// The folder to push: the one given, or a sample made under `work`.
fn source_folder(args: &DemoArgs, work: &Path) -> Result<PathBuf, Failure> {
    match &args.dir {
        Some(dir) if dir.is_dir() => Ok(dir.clone()),
        Some(dir) => Err(Failure::usage(format!("{} is not a folder", dir.display()))),
        None => {
            let dir = work.join("anonymization");
            sample(&dir)?;
            Ok(dir)
        }
    }
}

/// `orca demo`.
pub(crate) async fn demo(ctx: &Context, args: &DemoArgs) -> Result<(), Failure> {
    let work = tempfile::Builder::new()
        .prefix("orca-demo-")
        .tempdir()
        .map_err(|e| Failure::other(format!("creating a temporary directory: {e}")))?;
    let source = source_folder(args, work.path())?;
    let registry = MockRegistry::start(Config::default())
        .await
        .map_err(|e| Failure::other(format!("starting the registry: {}", chain(&e))))?;
    let host = registry.host().to_owned();
    let mut log = String::new();
    let _ = writeln!(log, "1. embedded registry on {}", registry.base_url());

    let store = Store::new(&host)
        .map_err(|e| Failure::other(chain(&e)))?
        .with_plain_http(true)
        .with_limit(OPERATION, LIMIT)
        .with_limit("tiny", 16);
    let artifacts = ArtifactStore::builder(StoreRegistry::new().with(store)).build()?;

    let reference = format!("{host}/configs/anonymization:default");
    let pushed = artifacts
        .push_dir(&reference, &source, &PushOptions::default())
        .await?;
    let _ = writeln!(
        log,
        "2. pushed {} as {reference}\n   digest {}",
        source.display(),
        pushed.digest
    );

    let tags = artifacts.tags(&reference).await?;
    let _ = writeln!(log, "3. tags of configs/anonymization: {}", tags.join(", "));

    let dest = work.path().join("fetched");
    let fetched = artifacts.fetch(&reference, OPERATION, &dest).await?;
    let _ = writeln!(
        log,
        "4. fetched for operation {OPERATION:?}: {} entries, {} bytes written",
        fetched.files.len(),
        fetched.written_bytes
    );
    let folder = source
        .file_name()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let identical = files(&source)? == files(&dest.join(&folder))?;
    let _ = writeln!(
        log,
        "5. fetched files {} the pushed folder",
        if identical {
            "are identical to"
        } else {
            "DIFFER from"
        }
    );

    let signature = work.path().join("signature.json");
    std::fs::write(&signature, b"{\"signed\": true}\n").map_err(io("writing", &signature))?;
    let referrer = artifacts
        .push_files(
            &format!("{host}/configs/anonymization"),
            &[FileSpec::new(&signature)],
            &PushOptions::default()
                .artifact_type("application/vnd.example.signature.v1")
                .subject(&reference),
        )
        .await?;
    let referrers = artifacts.referrers(&reference, None).await?;
    let _ = writeln!(
        log,
        "6. attached a signature {}; referrers of the config: {}",
        referrer.digest,
        referrers.manifests.len()
    );

    let refused = artifacts
        .fetch(&reference, "tiny", &work.path().join("refused"))
        .await;
    let refusal = match &refused {
        Err(e) => format!("{} (http {}): {}", e.code(), e.http_status(), e),
        Ok(_) => "not refused".to_owned(),
    };
    let _ = write!(log, "7. fetch for operation \"tiny\" (16 bytes): {refusal}");
    if !identical || refused.is_ok() {
        return Err(Failure::other(format!(
            "the demo did not go as expected:\n{log}"
        )));
    }
    ctx.printer.result(
        &log,
        &json!({
            "registry": registry.base_url(),
            "reference": reference,
            "digest": pushed.digest.to_string(),
            "tags": tags,
            "files": fetched.files.len(),
            "identical": identical,
            "referrers": referrers.manifests.len(),
            "refused": refusal,
        }),
    )
}
