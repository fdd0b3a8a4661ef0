//! The service path on the embedded registry, run by `cargo xtask demo` (the README's first
//! command). Needs nothing but Rust.
//!
//! It starts the mock registry (bearer-token auth, loopback), pushes a realistic
//! de-identification configuration folder, registers the store from a TOML file (the
//! password is referenced by file, never written there), fetches the artifact by tag and
//! by digest (the second from the content cache, with zero requests), shows the tree,
//! digests and metrics, then makes each of the three seed error codes happen for real:
//! `ArtifactStoreIsNotRegistered`, `FailedToConnectToArtifactStore`, `TooLargeArtifacts`.
//!
//! `cargo xtask demo [DIR]` pushes DIR instead of the generated folder.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use orca::{ArtifactStore, BlobOptions, CacheOptions, PushOptions, StoreRegistry};
use orca_mock_registry::{AuthMode, Config, MockRegistry};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

const USER: &str = "fhir-export";
const PASSWORD: &str = "demo-password-not-a-secret";

#[tokio::main]
async fn main() -> ExitCode {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    if let Err(e) = recorder.install() {
        eprintln!("demo failed: cannot install the metrics recorder: {e}");
        return ExitCode::FAILURE;
    }
    match run(&snapshotter).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(snapshotter: &Snapshotter) -> Result<()> {
    let started = Instant::now();
    let work = tempfile::tempdir()?;
    let folder = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => sample_folder(work.path())?,
    };
    if !folder.is_dir() {
        return Err(format!("{} is not a folder", folder.display()).into());
    }

    // 1. The registry, and the store registered for it.
    let registry =
        MockRegistry::start(Config::default().with_auth(AuthMode::bearer(USER, PASSWORD))).await?;
    let host = registry.host().to_owned();
    println!(
        "== registry  {} (bearer token auth, in memory)",
        registry.base_url()
    );
    let stores = register(&host, work.path())?;
    let cache_dir = work.path().join("cache");
    let artifacts = ArtifactStore::builder(stores)
        .cache(&cache_dir, CacheOptions::default())
        .build()?;

    // 2. Push the configuration folder the way `oras push` does.
    let reference = format!("{host}/configs/anonymization:default");
    let pushed = artifacts
        .push_dir(
            &reference,
            &folder,
            &PushOptions::default()
                .artifact_type("application/vnd.microsoft.health.anonymization.config.v1")
                .annotation(
                    "org.opencontainers.image.description",
                    "FHIR de-identification rules",
                )
                .operation("anonymization"),
        )
        .await?;
    println!(
        "== push      {reference}\n   manifest  {}\n   layer     {} {} bytes ({})",
        pushed.digest, pushed.layers[0].digest, pushed.layers[0].size, pushed.layers[0].media_type
    );

    // 3. Fetch by tag, as `_anonymizationConfig=<reference>` asks.
    let by_tag = work.path().join("export-1/config");
    registry.clear_requests();
    let fetched = artifacts
        .fetch(&reference, "anonymization", &by_tag)
        .await?;
    println!(
        "== fetch     {reference} -> {}\n   resolved  {}\n   {} requests to the registry",
        by_tag.display(),
        fetched.reference,
        registry.requests().len()
    );
    for file in &fetched.files {
        println!("   {:>6}  {}", file.size, file.path.display());
    }
    let compared = compare_trees(&folder, &by_tag.join(folder.file_name().ok_or("no name")?))?;
    println!("   {compared} files identical to what was pushed");

    // 4. Fetch by digest: from the cache, with zero requests.
    let pinned = format!("{host}/configs/anonymization@{}", fetched.digest);
    registry.clear_requests();
    let by_digest = work.path().join("export-2/config");
    let again = artifacts
        .fetch(&pinned, "anonymization", &by_digest)
        .await?;
    let requests = registry.requests().len();
    println!(
        "== fetch     {pinned}\n   from the cache: manifest {}, {} of {} layer bytes; {requests} requests to the registry",
        if again.manifest_from_cache {
            "cached"
        } else {
            "downloaded"
        },
        again.cached_bytes,
        again.artifact_bytes,
    );
    if requests != 0 || !again.manifest_from_cache {
        return Err(format!("the pinned fetch made {requests} requests; expected none").into());
    }
    println!(
        "== cache     {} (OCI image layout: `skopeo copy oci:{}:{reference} dir:OUT`)",
        cache_dir.display(),
        cache_dir.display()
    );
    for entry in artifacts.cache().ok_or("no cache")?.entries()? {
        println!("   {}  {}", entry.descriptor.digest, entry.name);
    }

    seed_errors(&artifacts, &registry, work.path()).await?;

    // 6. The metrics a service would export.
    println!("== metrics");
    print_metrics(snapshotter);
    println!("== ok        {:.0?}", started.elapsed());
    Ok(())
}

/// Writes the stores file (the password referenced by file) and loads it.
fn register(host: &str, work: &Path) -> Result<StoreRegistry> {
    let password_file = work.join("registry-password");
    std::fs::write(&password_file, PASSWORD)?;
    let stores_file = work.join("stores.toml");
    std::fs::write(
        &stores_file,
        format!(
            r#"[[store]]
registry = "{host}"
plain_http = true
credentials = {{ kind = "basic-file", username = "{USER}", password_file = "{}" }}
limits = {{ default = "100MiB", anonymization = "1MiB", cdm-template = "50MiB" }}
"#,
            password_file.display()
        ),
    )?;
    let stores = StoreRegistry::load(&stores_file)?;
    let saved = stores.to_toml_string()?;
    if saved.contains(PASSWORD) {
        return Err("the stores file contains the password".into());
    }
    println!("== stores    {}\n{}", stores_file.display(), indent(&saved));
    Ok(stores)
}

/// The three seed error codes, for real.
async fn seed_errors(
    artifacts: &ArtifactStore,
    registry: &MockRegistry,
    work: &Path,
) -> Result<()> {
    let host = registry.host();
    println!("== errors    (HTTP status and the JSON a service returns)");
    let dest = work.join("refused");
    let unregistered = artifacts
        .fetch(
            "otheracr.azurecr.io/configs/anonymization:default",
            "anonymization",
            &dest,
        )
        .await;
    show(unregistered, "ArtifactStoreIsNotRegistered")?;
    show(
        artifacts
            .fetch("configs/anonymization:default", "anonymization", &dest)
            .await,
        "ArtifactStoreIsNotRegistered",
    )?;

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.to_string()
    };
    let unreachable = ArtifactStore::builder(
        StoreRegistry::new().with(orca::Store::new(&closed)?.with_plain_http(true)),
    )
    .client_config(
        orca::ClientConfig::default().with_retry(orca::distribution::RetryPolicy::none()),
    )
    .build()?;
    show(
        unreachable
            .fetch(
                &format!("{closed}/configs/anonymization:default"),
                "anonymization",
                &dest,
            )
            .await,
        "FailedToConnectToArtifactStore",
    )?;

    let large = format!("{host}/configs/anonymization:too-large");
    artifacts
        .push_blob(
            &large,
            Bytes::from(vec![b'x'; 2 << 20]),
            &BlobOptions::new("application/vnd.microsoft.health.anonymization.config.v1")
                .title("huge.json"),
        )
        .await?;
    registry.clear_requests();
    show(
        artifacts.fetch(&large, "anonymization", &dest).await,
        "TooLargeArtifacts",
    )?;
    let blob_requests = registry
        .requests()
        .iter()
        .filter(|r| r.path.contains("/blobs/"))
        .count();
    println!("   blob requests before refusing: {blob_requests}");
    if blob_requests != 0 || dest.exists() {
        return Err("the over-limit artifact was downloaded".into());
    }

    Ok(())
}

/// Prints an expected failure as a service would answer it; an unexpected outcome is an error.
fn show<T>(result: Result<T, orca::Error>, expected: &str) -> Result<()> {
    match result {
        Err(e) if e.code() == expected => {
            println!(
                "   {} {}",
                e.http_status(),
                serde_json::to_string(&e.body())?
            );
            Ok(())
        }
        Err(e) => Err(format!(
            "expected {expected}, got {}: {}",
            e.code(),
            e.full_message()
        )
        .into()),
        Ok(_) => Err(format!("expected {expected}, but it succeeded").into()),
    }
}

fn print_metrics(snapshotter: &Snapshotter) {
    let mut lines: Vec<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .filter(|l| !l.value().is_empty())
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(n) => n.to_string(),
                DebugValue::Gauge(g) => g.to_string(),
                DebugValue::Histogram(samples) => {
                    let values: Vec<String> = samples
                        .iter()
                        .map(|s| {
                            let v = s.into_inner();
                            if key.name().ends_with("seconds") {
                                format!("{v:.3}s")
                            } else {
                                format!("{v}")
                            }
                        })
                        .collect();
                    format!("[{}]", values.join(", "))
                }
            };
            format!("   {}{{{}}} {value}", key.name(), labels.join(","))
        })
        .collect();
    lines.sort();
    for line in lines {
        println!("{line}");
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A configuration folder like the FHIR server's de-identified export takes.
fn sample_folder(base: &Path) -> Result<PathBuf> {
    let folder = base.join("anonymization");
    std::fs::create_dir_all(folder.join("rules"))?;
    std::fs::write(
        folder.join("anonymization-config.json"),
        r#"{
  "fhirVersion": "R4",
  "processingError": "raise",
  "fhirPathRules": [
    {"path": "nodesByType('Extension')", "method": "redact"},
    {"path": "Organization.identifier", "method": "keep"},
    {"path": "nodesByType('Address').country", "method": "keep"},
    {"path": "Resource.id", "method": "cryptoHash"},
    {"path": "nodesByType('Reference').reference", "method": "cryptoHash"},
    {"path": "Group.name", "method": "redact"}
  ],
  "parameters": {
    "dateShiftKey": "",
    "cryptoHashKey": "",
    "encryptKey": "",
    "enablePartialAgesForRedact": true,
    "enablePartialDatesForRedact": true,
    "enablePartialZipCodesForRedact": true,
    "restrictedZipCodeTabulationAreas": ["036", "692", "878", "059", "790", "879"]
  }
}
"#,
    )?;
    std::fs::write(
        folder.join("rules/patient.json"),
        r#"[{"path":"Patient.name","method":"redact"},{"path":"Patient.birthDate","method":"dateshift"},{"path":"Patient.address","method":"generalize","cases":{"$this":"$this.country"}}]
"#,
    )?;
    std::fs::write(
        folder.join("README.md"),
        "De-identification rules for the nightly $export.\n",
    )?;
    Ok(folder)
}

/// Compares two trees file by file; returns how many files matched.
fn compare_trees(expected: &Path, actual: &Path) -> Result<usize> {
    let mut names: Vec<_> = std::fs::read_dir(expected)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    let mut actual_names: Vec<_> = std::fs::read_dir(actual)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    actual_names.sort();
    if names != actual_names {
        return Err(format!(
            "{} holds {actual_names:?}, expected {names:?}",
            actual.display()
        )
        .into());
    }
    let mut count = 0;
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
