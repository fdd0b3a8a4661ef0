//! Scenarios of the facade's service path: every error code made to happen against the
//! target, ORAS folders and files, the size limit checked before any layer is requested.

use std::sync::Arc;

use bytes::Bytes;
use orca::{BlobOptions, Error, FileSpec, PushOptions};
use orca_mock_registry::{AuthMode, Config, Fault, MockRegistry};

use crate::support::Ctx;
use crate::{Failure, ensure};

fn expect_code<T>(result: Result<T, Error>, code: &str, status: u16) -> Result<Error, Failure> {
    match result {
        Err(e) if e.code() == code && e.http_status() == status => Ok(e),
        Err(e) => Err(Failure(format!(
            "expected {code} ({status}), got {} ({}): {}",
            e.code(),
            e.http_status(),
            e.full_message()
        ))),
        Ok(_) => Err(Failure(format!("expected {code}, but it succeeded"))),
    }
}

fn failed(e: &Error) -> Failure {
    Failure(format!("{}: {}", e.code(), e.full_message()))
}

fn workdir() -> Result<tempfile::TempDir, Failure> {
    tempfile::tempdir().map_err(|e| Failure(format!("temporary directory: {e}")))
}

/// A small configuration folder and a file beside it.
fn sample(dir: &std::path::Path) -> Result<(std::path::PathBuf, std::path::PathBuf), Failure> {
    let io = |e: std::io::Error| Failure(format!("writing the sample: {e}"));
    let folder = dir.join("anonymization");
    std::fs::create_dir_all(folder.join("rules")).map_err(io)?;
    std::fs::write(
        folder.join("config.json"),
        r#"{"fhirVersion":"R4","fhirPathRules":[{"path":"Patient.name","method":"redact"}]}"#,
    )
    .map_err(io)?;
    std::fs::write(folder.join("rules/patient.json"), "[]").map_err(io)?;
    let file = dir.join("README.txt");
    std::fs::write(&file, "notes\n").map_err(io)?;
    Ok((folder, file))
}

/// Requests the mock (if the target is one) has answered so far.
fn logged(ctx: &Ctx) -> Option<usize> {
    ctx.mock.as_ref().map(|m| m.requests().len())
}

pub(crate) async fn folder_and_file_round_trip(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let store = ctx.artifact_store(|s| s)?;
    let dir = workdir()?;
    let (folder, file) = sample(dir.path())?;
    let reference = format!("{}/{}/store/config:1", ctx.registry, ctx.prefix);
    let pushed = store
        .push_files(
            &reference,
            &[FileSpec::new(&folder), FileSpec::new(&file)],
            &PushOptions::default(),
        )
        .await
        .map_err(|e| failed(&e))?;
    let out = dir.path().join("out");
    let fetched = store
        .fetch(&reference, "anonymization", &out)
        .await
        .map_err(|e| failed(&e))?;
    ensure(fetched.digest == pushed.digest, || {
        format!("fetched {} after pushing {}", fetched.digest, pushed.digest)
    })?;
    let same = |a: &std::path::Path, b: &std::path::Path| {
        std::fs::read(a).ok().is_some() && std::fs::read(a).ok() == std::fs::read(b).ok()
    };
    ensure(
        same(
            &folder.join("rules/patient.json"),
            &out.join("anonymization/rules/patient.json"),
        ) && same(&file, &out.join("README.txt")),
        || "the fetched files differ from the pushed ones".to_owned(),
    )
}

pub(crate) async fn unregistered(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let store = ctx.artifact_store(|s| s)?;
    let dir = workdir()?;
    let before = logged(&ctx);
    for reference in [
        "unregistered.example.com/configs/app:1",
        "configs/app:1",
        "MyTeam/app",
        "docker.io/library/nginx:latest",
    ] {
        let e = expect_code(
            store
                .fetch(reference, "anonymization", &dir.path().join("d"))
                .await,
            "ArtifactStoreIsNotRegistered",
            400,
        )?;
        ensure(e.to_string().contains(reference), || {
            format!("the message does not name {reference}: {e}")
        })?;
    }
    ensure(logged(&ctx) == before, || {
        "a refused reference reached the registry".to_owned()
    })
}

pub(crate) async fn closed_port(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Failure(format!("bind: {e}")))?;
    let host = listener
        .local_addr()
        .map_err(|e| Failure(format!("address: {e}")))?
        .to_string();
    drop(listener);
    let stores = orca::StoreRegistry::new().with(
        orca::Store::new(&host)
            .map_err(|e| Failure(e.to_string()))?
            .with_plain_http(true),
    );
    let store = orca::ArtifactStore::builder(stores)
        .client_config(
            orca::ClientConfig::default().with_retry(orca::distribution::RetryPolicy::none()),
        )
        .build()
        .map_err(|e| failed(&e))?;
    let _ = ctx;
    let dir = workdir()?;
    expect_code(
        store
            .fetch(&format!("{host}/configs/app:1"), "x", &dir.path().join("d"))
            .await,
        "FailedToConnectToArtifactStore",
        400,
    )
    .map(drop)
}

pub(crate) async fn tls_failure(ctx: Arc<Ctx>) -> Result<(), Failure> {
    // A plain-HTTP target registered for HTTPS fails the handshake; a TLS target
    // registered without its CA is not trusted.
    // A client configuration of its own: HTTPS, the built-in roots only, no retries.
    let config = orca::ClientConfig::default().with_retry(orca::distribution::RetryPolicy::none());
    let stores = orca::StoreRegistry::new()
        .with(orca::Store::new(&ctx.registry).map_err(|e| Failure(e.to_string()))?);
    let store = orca::ArtifactStore::builder(stores)
        .client_config(config)
        .build()
        .map_err(|e| failed(&e))?;
    let dir = workdir()?;
    expect_code(
        store
            .fetch(
                &format!("{}/{}/store/tls:1", ctx.registry, ctx.prefix),
                "x",
                &dir.path().join("d"),
            )
            .await,
        "FailedToConnectToArtifactStore",
        400,
    )
    .map(drop)
}

pub(crate) async fn over_limit(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let store = ctx.artifact_store(|s| s.with_limit("anonymization", 100))?;
    let dir = workdir()?;
    let reference = format!("{}/{}/store/large:1", ctx.registry, ctx.prefix);
    store
        .push_blob(
            &reference,
            Bytes::from(vec![b'x'; 4096]),
            &BlobOptions::new("application/vnd.orca.conformance").title("large.json"),
        )
        .await
        .map_err(|e| failed(&e))?;
    let blob_gets = |ctx: &Ctx| {
        ctx.mock.as_ref().map(|m| {
            m.requests()
                .iter()
                .filter(|r| r.method.as_str() == "GET" && r.path.contains("/blobs/sha256:"))
                .count()
        })
    };
    let before = blob_gets(&ctx);
    let dest = dir.path().join("d");
    expect_code(
        store.fetch(&reference, "anonymization", &dest).await,
        "TooLargeArtifacts",
        400,
    )?;
    ensure(blob_gets(&ctx) == before, || {
        "a layer was requested before the refusal".to_owned()
    })?;
    ensure(!dest.exists(), || "the destination was created".to_owned())
}

pub(crate) async fn not_found(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let store = ctx.artifact_store(|s| s)?;
    let dir = workdir()?;
    expect_code(
        store
            .fetch(
                &format!("{}/{}/store/missing:1", ctx.registry, ctx.prefix),
                "x",
                &dir.path().join("d"),
            )
            .await,
        "ArtifactNotFound",
        404,
    )
    .map(drop)
}

pub(crate) async fn invalid_reference(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let store = ctx.artifact_store(|s| s)?;
    let dir = workdir()?;
    for bad in [
        format!("{}/UPPER/case:1", ctx.registry),
        format!("{}/app@sha256:1234", ctx.registry),
    ] {
        expect_code(
            store.fetch(&bad, "x", &dir.path().join("d")).await,
            "InvalidReference",
            400,
        )?;
    }
    Ok(())
}

pub(crate) async fn unsafe_title(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let store = ctx.artifact_store(|s| s)?;
    let dir = workdir()?;
    let reference = format!("{}/{}/store/hostile:1", ctx.registry, ctx.prefix);
    store
        .push_blob(
            &reference,
            Bytes::from_static(b"escaped"),
            &BlobOptions::new("application/vnd.orca.conformance").title("../escaped.txt"),
        )
        .await
        .map_err(|e| failed(&e))?;
    let dest = dir.path().join("d");
    expect_code(
        store.fetch(&reference, "x", &dest).await,
        "UnsafeArtifactContent",
        400,
    )?;
    ensure(
        !dir.path().join("escaped.txt").exists() && !dest.exists(),
        || "something was written".to_owned(),
    )
}

pub(crate) async fn unauthorized(ctx: Arc<Ctx>) -> Result<(), Failure> {
    // A registry of its own that requires credentials this store does not have.
    let locked = MockRegistry::start(Config::default().with_auth(AuthMode::basic("u", "p")))
        .await
        .map_err(|e| Failure(format!("cannot start a mock: {e}")))?;
    let _ = ctx;
    let stores = orca::StoreRegistry::new().with(
        orca::Store::new(locked.host())
            .map_err(|e| Failure(e.to_string()))?
            .with_plain_http(true),
    );
    let store = orca::ArtifactStore::builder(stores)
        .build()
        .map_err(|e| failed(&e))?;
    let dir = workdir()?;
    expect_code(
        store
            .fetch(
                &format!("{}/a/b:1", locked.host()),
                "x",
                &dir.path().join("d"),
            )
            .await,
        "Unauthorized",
        401,
    )
    .map(drop)
}

pub(crate) async fn digest_mismatch(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let mock = ctx.mock()?;
    let store = ctx.artifact_store(|s| s)?;
    let dir = workdir()?;
    let reference = format!("{}/{}/store/corrupt:1", ctx.registry, ctx.prefix);
    store
        .push_blob(
            &reference,
            Bytes::from_static(b"{\"rules\":[]}"),
            &BlobOptions::new("application/vnd.orca.conformance").title("rules.json"),
        )
        .await
        .map_err(|e| failed(&e))?;
    mock.faults().add(
        Fault::corrupt_blobs()
            .path(&format!("/v2/{}/store/corrupt/blobs/*", ctx.prefix))
            .times(10),
    );
    let dest = dir.path().join("d");
    let result = store.fetch(&reference, "x", &dest).await;
    mock.faults().clear();
    expect_code(result, "DigestMismatch", 502)?;
    ensure(!dest.exists(), || "the destination was created".to_owned())
}
