//! The scenarios, as data.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use orca_distribution::{
    Client, ErrorKind, FetchOptions, MountOutcome, PushOptions, PushOutcome, PushedBlob,
    UploadMethod,
};
use orca_manifest::{Descriptor, Digest, media_types};
use orca_mock_registry::{AuthSeen, Fault};

use crate::store::{
    closed_port as store_closed_port, digest_mismatch as store_digest_mismatch,
    folder_and_file_round_trip as store_round_trip, invalid_reference as store_invalid_reference,
    not_found as store_not_found, over_limit as store_over_limit, tls_failure as store_tls_failure,
    unauthorized as store_unauthorized, unregistered as store_unregistered,
    unsafe_title as store_unsafe_title,
};
use crate::support::{
    Ctx, artifact_manifest, push_artifact, push_config, push_layer, push_referrer, random_bytes,
    token_requests,
};
use crate::{Failure, Group, Needs, Scenario, ScenarioFuture, ensure};

macro_rules! scenario {
    ($name:literal, $group:ident, $needs:expr, $f:ident) => {
        Scenario {
            name: $name,
            group: Group::$group,
            needs: $needs,
            run: |ctx: Arc<Ctx>| -> ScenarioFuture { Box::pin($f(ctx)) },
        }
    };
}

const FAULTS: Needs = Needs::Mock("injects faults");
const LOG: Needs = Needs::Mock("counts requests in the registry's log");

/// Every scenario, in run order.
#[allow(clippy::too_many_lines)] // the table of scenarios is data: one entry per scenario
pub fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!("pull/manifest-by-tag", Pull, Needs::Any, manifest_by_tag),
        scenario!(
            "pull/manifest-by-digest",
            Pull,
            Needs::Any,
            manifest_by_digest
        ),
        scenario!("pull/resolve", Pull, Needs::Any, resolve),
        scenario!("pull/blob-verified", Pull, Needs::Any, blob_verified),
        scenario!("pull/docker-manifest", Pull, Needs::Any, docker_manifest),
        scenario!("pull/missing-manifest", Pull, Needs::Any, missing_manifest),
        scenario!("pull/missing-blob", Pull, Needs::Any, missing_blob),
        scenario!(
            "pull/resume-after-drop-at-1MiB",
            Pull,
            FAULTS,
            resume_after_drop
        ),
        scenario!("pull/corrupted-blob-rejected", Pull, FAULTS, corrupted_blob),
        scenario!("push/monolithic", Push, Needs::Any, push_monolithic),
        scenario!("push/single-post", Push, Needs::Any, push_single_post),
        scenario!("push/chunked", Push, Needs::Any, push_chunked),
        scenario!("push/streamed", Push, Needs::Any, push_streamed),
        scenario!(
            "push/streamed-mismatch-refused",
            Push,
            Needs::Any,
            push_streamed_mismatch
        ),
        scenario!("push/chunked-416-recovery", Push, FAULTS, push_chunked_416),
        scenario!(
            "push/chunk-min-length",
            Push,
            Needs::Mock("advertises OCI-Chunk-Min-Length"),
            push_chunk_min_length
        ),
        scenario!(
            "push/mount-across-repositories",
            Push,
            Needs::Any,
            mount_across
        ),
        scenario!(
            "push/mount-fallback-to-upload",
            Push,
            Needs::Any,
            mount_fallback
        ),
        scenario!("push/skip-existing", Push, Needs::Any, skip_existing),
        scenario!(
            "push/manifest-subject-acknowledged",
            Push,
            Needs::Mock("needs OCI-Subject, which distribution 2.8 does not send"),
            manifest_subject
        ),
        scenario!(
            "discovery/tags-pagination-250",
            Discovery,
            Needs::Any,
            tags_pagination
        ),
        scenario!("discovery/catalog", Discovery, Needs::Any, catalog),
        scenario!("discovery/referrers", Discovery, Needs::Any, referrers_any),
        scenario!(
            "discovery/referrers-api",
            Discovery,
            Needs::Mock("needs the referrers API, which distribution 2.8 lacks"),
            referrers_api
        ),
        scenario!(
            "discovery/referrers-tag-schema-fallback",
            Discovery,
            Needs::Mock("turns the referrers API off"),
            referrers_fallback
        ),
        scenario!(
            "management/delete-manifest",
            Management,
            Needs::Any,
            delete_manifest
        ),
        scenario!(
            "management/delete-blob",
            Management,
            Needs::Any,
            delete_blob
        ),
        scenario!("auth/ping", Auth, Needs::Any, ping),
        scenario!(
            "auth/wrong-credentials-refused",
            Auth,
            Needs::Credentials,
            wrong_credentials
        ),
        scenario!("auth/token-reused", Auth, Needs::TokenService, token_reused),
        scenario!(
            "auth/token-expiry-mid-pull",
            Auth,
            Needs::TokenService,
            token_expiry
        ),
        scenario!("transport/503-then-success", Transport, FAULTS, retry_503),
        scenario!(
            "transport/429-with-retry-after",
            Transport,
            FAULTS,
            retry_429
        ),
        scenario!(
            "transport/5xx-retries-are-bounded",
            Transport,
            FAULTS,
            retries_bounded
        ),
        scenario!(
            "transport/post-not-retried",
            Transport,
            FAULTS,
            post_not_retried
        ),
        scenario!(
            "transport/redirect-strips-credentials",
            Transport,
            FAULTS,
            redirect_strips
        ),
        scenario!(
            "transport/connection-reuse",
            Transport,
            LOG,
            connection_reuse
        ),
        scenario!(
            "transport/tls-untrusted-refused",
            Transport,
            Needs::Tls,
            tls_untrusted
        ),
        scenario!(
            "transport/tls-skip-verify-opt-in",
            Transport,
            Needs::Tls,
            tls_skip_verify
        ),
        scenario!(
            "transport/tls-root-per-registry",
            Transport,
            Needs::Tls,
            tls_root_per_registry
        ),
        scenario!("limits/manifest-size-cap", Limits, Needs::Any, manifest_cap),
        scenario!(
            "limits/blob-larger-than-descriptor",
            Limits,
            Needs::Any,
            blob_too_large
        ),
        scenario!(
            "limits/push-refuses-wrong-bytes",
            Limits,
            Needs::Any,
            push_wrong_bytes
        ),
        scenario!(
            "store/folder-and-file-round-trip",
            Store,
            Needs::Any,
            store_round_trip
        ),
        scenario!(
            "store/unregistered-refused-before-network",
            Store,
            Needs::Any,
            store_unregistered
        ),
        scenario!(
            "store/closed-port-fails-to-connect",
            Store,
            Needs::Any,
            store_closed_port
        ),
        scenario!(
            "store/tls-failure-fails-to-connect",
            Store,
            Needs::Any,
            store_tls_failure
        ),
        scenario!(
            "store/over-limit-refused-before-layers",
            Store,
            Needs::Any,
            store_over_limit
        ),
        scenario!("store/not-found", Store, Needs::Any, store_not_found),
        scenario!(
            "store/invalid-reference",
            Store,
            Needs::Any,
            store_invalid_reference
        ),
        scenario!(
            "store/path-escaping-title-refused",
            Store,
            Needs::Any,
            store_unsafe_title
        ),
        scenario!("store/unauthorized", Store, Needs::Any, store_unauthorized),
        scenario!(
            "store/corrupt-layer-digest-mismatch",
            Store,
            FAULTS,
            store_digest_mismatch
        ),
    ]
}

fn expect_kind<T>(
    result: Result<T, orca_distribution::Error>,
    kinds: &[ErrorKind],
    what: &str,
) -> Result<(), Failure> {
    match result {
        Ok(_) => Err(Failure(format!("{what}: succeeded, expected {kinds:?}"))),
        Err(e) if kinds.contains(&e.kind()) => Ok(()),
        Err(e) => Err(Failure(format!(
            "{what}: expected {kinds:?}, got {:?}: {e}",
            e.kind()
        ))),
    }
}

async fn manifest_by_tag(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (manifest, _) =
        push_artifact(&ctx, &ctx.client, "pull-tag", "v1", random_bytes(1000, 1)).await?;
    let fetched = ctx
        .client
        .fetch_manifest(&ctx.tagged("pull-tag", "v1")?, &FetchOptions::default())
        .await?;
    ensure(fetched.descriptor.digest == manifest.digest, || {
        format!(
            "digest {} != {}",
            fetched.descriptor.digest, manifest.digest
        )
    })?;
    ensure(
        fetched.descriptor.media_type == media_types::OCI_IMAGE_MANIFEST,
        || format!("media type {}", fetched.descriptor.media_type),
    )?;
    ensure(Digest::sha256(&fetched.bytes) == manifest.digest, || {
        "bytes differ".into()
    })
}

async fn manifest_by_digest(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (manifest, _) = push_artifact(
        &ctx,
        &ctx.client,
        "pull-digest",
        "v1",
        random_bytes(1000, 2),
    )
    .await?;
    let fetched = ctx
        .client
        .fetch_manifest(
            &ctx.pinned("pull-digest", &manifest.digest)?,
            &FetchOptions::default(),
        )
        .await?;
    ensure(fetched.descriptor.size == manifest.size, || {
        "size differs".into()
    })
}

async fn resolve(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (manifest, _) =
        push_artifact(&ctx, &ctx.client, "resolve", "v1", random_bytes(100, 3)).await?;
    let resolved = ctx.client.resolve(&ctx.tagged("resolve", "v1")?).await?;
    ensure(
        resolved.digest == manifest.digest && resolved.size == manifest.size,
        || format!("resolved {resolved:?}, pushed {manifest:?}"),
    )?;
    ensure(
        resolved.media_type == media_types::OCI_IMAGE_MANIFEST,
        || format!("media type {}", resolved.media_type),
    )
}

async fn blob_verified(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let data = random_bytes(300 * 1024, 4);
    let (_, layer) = push_artifact(&ctx, &ctx.client, "blob", "v1", data.clone()).await?;
    let bytes = ctx
        .client
        .fetch_blob(&ctx.repo("blob")?, &layer)
        .await?
        .bytes()
        .await?;
    ensure(bytes == data, || "blob bytes differ".into())
}

async fn docker_manifest(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let repo = ctx.repo("docker")?;
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let config_desc = Descriptor::for_bytes(media_types::DOCKER_CONFIG, &config);
    ctx.client
        .push_blob(
            &repo,
            &config_desc,
            Bytes::from(config),
            &PushOptions::default(),
        )
        .await?;
    let layer = random_bytes(512, 5);
    let layer_desc = Descriptor::for_bytes(media_types::DOCKER_LAYER_GZIP, &layer);
    ctx.client
        .push_blob(
            &repo,
            &layer_desc,
            Bytes::from(layer),
            &PushOptions::default(),
        )
        .await?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::DOCKER_MANIFEST_V2,
        "config": config_desc,
        "layers": [layer_desc],
    }))
    .map_err(|e| Failure(e.to_string()))?;
    let tag = ctx.tagged("docker", "v2")?;
    ctx.client
        .push_manifest(
            &tag,
            Bytes::from(manifest.clone()),
            media_types::DOCKER_MANIFEST_V2,
        )
        .await?;
    let fetched = ctx
        .client
        .fetch_manifest(&tag, &FetchOptions::default())
        .await?;
    ensure(
        fetched.descriptor.media_type == media_types::DOCKER_MANIFEST_V2,
        || format!("media type {}", fetched.descriptor.media_type),
    )?;
    ensure(fetched.bytes.as_ref() == manifest.as_slice(), || {
        "bytes differ".into()
    })
}

async fn missing_manifest(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(&ctx, &ctx.client, "missing", "present", random_bytes(10, 6)).await?;
    let absent = ctx.tagged("missing", "absent")?;
    expect_kind(
        ctx.client
            .fetch_manifest(&absent, &FetchOptions::default())
            .await,
        &[ErrorKind::NotFound],
        "fetch of an absent tag",
    )?;
    expect_kind(
        ctx.client.resolve(&absent).await,
        &[ErrorKind::NotFound],
        "resolve of an absent tag",
    )
}

async fn missing_blob(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(
        &ctx,
        &ctx.client,
        "missing-blob",
        "present",
        random_bytes(10, 7),
    )
    .await?;
    let repo = ctx.repo("missing-blob")?;
    let absent = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, b"never pushed");
    let exists = ctx.client.blob_exists(&repo, &absent.digest).await?;
    ensure(exists.is_none(), || format!("HEAD says {exists:?}"))?;
    expect_kind(
        ctx.client.fetch_blob(&repo, &absent).await,
        &[ErrorKind::NotFound],
        "fetch of an absent blob",
    )
}

async fn resume_after_drop(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let data = random_bytes(3 * 1024 * 1024, 8);
    let (_, layer) = push_artifact(&ctx, &ctx.client, "resume", "v1", data.clone()).await?;
    let mock = ctx.mock()?;
    mock.clear_requests();
    mock.faults().add(Fault::close_after(1024 * 1024).times(1));
    let bytes = ctx
        .client
        .fetch_blob(&ctx.repo("resume")?, &layer)
        .await?
        .bytes()
        .await?;
    ensure(bytes == data, || "resumed blob differs".into())?;
    let partial = mock
        .requests()
        .iter()
        .filter(|r| r.path.contains("/blobs/") && r.status.as_u16() == 206)
        .count();
    ensure(partial >= 1, || {
        "no 206 Partial Content request: the download was not resumed with Range".into()
    })
}

async fn corrupted_blob(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let data = random_bytes(100 * 1024, 9);
    let (_, layer) = push_artifact(&ctx, &ctx.client, "corrupt", "v1", data).await?;
    ctx.mock()?.faults().add(Fault::corrupt_blobs());
    let mut stream = ctx.client.fetch_blob(&ctx.repo("corrupt")?, &layer).await?;
    let mut last = None;
    while let Some(item) = stream.next().await {
        let failed = item.is_err();
        last = Some(item);
        if failed {
            break;
        }
    }
    match last {
        Some(Err(e)) if e.kind() == ErrorKind::DigestMismatch => Ok(()),
        Some(Err(e)) => Err(Failure(format!("expected DigestMismatch, got {e}"))),
        _ => Err(Failure("a corrupted blob was accepted".into())),
    }
}

async fn push_monolithic(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let repo = ctx.repo("mono")?;
    let layer = push_layer(&ctx.client, &repo, random_bytes(200 * 1024, 10)).await?;
    let size = ctx.client.blob_exists(&repo, &layer.digest).await?;
    ensure(size == Some(layer.size), || format!("HEAD says {size:?}"))
}

async fn push_single_post(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let repo = ctx.repo("single-post")?;
    let data = random_bytes(10 * 1024, 11);
    let layer = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &data);
    ctx.client
        .push_blob_single_post(&repo, &layer, Bytes::from(data))
        .await?;
    let size = ctx.client.blob_exists(&repo, &layer.digest).await?;
    ensure(size == Some(layer.size), || format!("HEAD says {size:?}"))
}

/// A chunked push of `data` without a descriptor (the client computes the digest).
async fn push_chunked_bytes(
    client: &Client,
    repo: &orca_reference::Reference,
    data: &[u8],
) -> Result<PushedBlob, Failure> {
    let options = PushOptions::builder().method(UploadMethod::Chunked).build();
    Ok(client
        .push_blob_reader(repo, None, std::io::Cursor::new(data.to_vec()), &options)
        .await?)
}

async fn push_chunked(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let client = ctx.client_with(|c| c.chunk_size = 64 * 1024)?;
    let repo = ctx.repo("chunked")?;
    let data = random_bytes(200 * 1024 + 17, 12);
    let pushed = push_chunked_bytes(&client, &repo, &data).await?;
    ensure(pushed.digest == Digest::sha256(&data), || {
        "computed digest differs".into()
    })?;
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR, pushed.digest, pushed.size);
    let back = client.fetch_blob(&repo, &descriptor).await?.bytes().await?;
    ensure(back == data, || "blob differs".into())
}

async fn push_streamed(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let repo = ctx.repo("streamed")?;
    let data = random_bytes(1024 * 1024 + 3, 13);
    let descriptor = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &data);
    let options = PushOptions::builder()
        .method(UploadMethod::Streamed)
        .build();
    ctx.client
        .push_blob_reader(
            &repo,
            Some(&descriptor),
            std::io::Cursor::new(data.clone()),
            &options,
        )
        .await?;
    let back = ctx
        .client
        .fetch_blob(&repo, &descriptor)
        .await?
        .bytes()
        .await?;
    ensure(back == data, || "blob differs".into())
}

async fn push_streamed_mismatch(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let repo = ctx.repo("streamed-mismatch")?;
    let data = random_bytes(64 * 1024, 100);
    let mut claimed =
        Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &random_bytes(64 * 1024, 102));
    claimed.size = data.len() as u64;
    // Refused by the registry's check (the default), and by the client's own.
    for verify_source in [false, true] {
        let options = PushOptions::builder()
            .method(UploadMethod::Streamed)
            .verify_source(verify_source)
            .build();
        expect_kind(
            ctx.client
                .push_blob_reader(
                    &repo,
                    Some(&claimed),
                    std::io::Cursor::new(data.clone()),
                    &options,
                )
                .await,
            &[ErrorKind::DigestMismatch],
            if verify_source {
                "streaming bytes that do not match their descriptor, verified by the client"
            } else {
                "streaming bytes that do not match their descriptor, verified by the registry"
            },
        )?;
    }
    let exists = ctx.client.blob_exists(&repo, &claimed.digest).await?;
    ensure(exists.is_none(), || "the mismatched blob landed".into())
}

async fn push_chunked_416(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let client = ctx.client_with(|c| c.chunk_size = 64 * 1024)?;
    let repo = ctx.repo("chunked-416")?;
    let data = random_bytes(256 * 1024, 16);
    let mock = ctx.mock()?;
    mock.clear_requests();
    mock.faults()
        .add(Fault::status(416).on("PATCH").nth(2).times(1));
    let pushed = push_chunked_bytes(&client, &repo, &data).await?;
    let log = mock.requests();
    let refused = log
        .iter()
        .position(|r| r.method.as_str() == "PATCH" && r.status.as_u16() == 416);
    ensure(refused.is_some(), || "the 416 fault did not fire".into())?;
    let status_checked = refused.is_some_and(|i| {
        log[i..]
            .iter()
            .any(|r| r.method.as_str() == "GET" && r.path.contains("/blobs/uploads/"))
    });
    ensure(status_checked, || {
        "the client did not ask the upload status after 416".into()
    })?;
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR, pushed.digest, pushed.size);
    let back = client.fetch_blob(&repo, &descriptor).await?.bytes().await?;
    ensure(back == data, || "blob differs after 416 recovery".into())
}

async fn push_chunk_min_length(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (mock, client) = ctx
        .fresh_mock(
            |mut c| {
                c.chunk_min_length = Some(128 * 1024);
                c
            },
            |c| c.chunk_size = 16 * 1024,
        )
        .await?;
    let repo = orca_reference::Reference::new(mock.host(), "conformance/min-chunk")
        .map_err(|e| Failure(e.to_string()))?;
    let data = random_bytes(400 * 1024, 17);
    let pushed = push_chunked_bytes(&client, &repo, &data).await?;
    ensure(pushed.digest == Digest::sha256(&data), || {
        "digest differs".into()
    })?;
    let patches = mock
        .requests()
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .count();
    ensure(patches <= 4, || {
        format!("{patches} PATCHes of 400 KiB: the 128 KiB chunk minimum was not honoured")
    })
}

async fn mount_across(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let source = ctx.repo("mount-src")?;
    let target = ctx.repo("mount-dst")?;
    let layer = push_layer(&ctx.client, &source, random_bytes(4096, 18)).await?;
    push_config(&ctx.client, &target).await?;
    let outcome = ctx
        .client
        .mount_blob(&target, source.repository(), &layer.digest)
        .await?;
    ensure(matches!(outcome, MountOutcome::Mounted), || {
        format!("not mounted: {outcome:?}")
    })?;
    let size = ctx.client.blob_exists(&target, &layer.digest).await?;
    ensure(size == Some(layer.size), || {
        format!("HEAD in the target says {size:?}")
    })
}

async fn mount_fallback(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let target = ctx.repo("mount-fallback")?;
    let data = random_bytes(4096, 19);
    let layer = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &data);
    let options = PushOptions::builder()
        .mount_from(format!("{}/nowhere", ctx.prefix))
        .build();
    let pushed = ctx
        .client
        .push_blob(&target, &layer, Bytes::from(data), &options)
        .await?;
    ensure(pushed.outcome == PushOutcome::Uploaded, || {
        format!("outcome {:?}", pushed.outcome)
    })?;
    let size = ctx.client.blob_exists(&target, &layer.digest).await?;
    ensure(size == Some(layer.size), || format!("HEAD says {size:?}"))
}

async fn skip_existing(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let repo = ctx.repo("skip")?;
    let data = random_bytes(2048, 20);
    let layer = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &data);
    let options = PushOptions::builder().skip_existing(true).build();
    let first = ctx
        .client
        .push_blob(&repo, &layer, Bytes::from(data.clone()), &options)
        .await?;
    let second = ctx
        .client
        .push_blob(&repo, &layer, Bytes::from(data), &options)
        .await?;
    ensure(
        first.outcome == PushOutcome::Uploaded && second.outcome == PushOutcome::AlreadyExists,
        || format!("outcomes {:?} then {:?}", first.outcome, second.outcome),
    )
}

async fn manifest_subject(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (subject, _) =
        push_artifact(&ctx, &ctx.client, "subject", "v1", random_bytes(100, 21)).await?;
    let pushed = push_referrer(
        &ctx,
        &ctx.client,
        "subject",
        &subject,
        "application/vnd.orca.sig",
        22,
    )
    .await?;
    ensure(pushed.subject.as_ref() == Some(&subject.digest), || {
        format!("OCI-Subject {:?}", pushed.subject)
    })?;
    ensure(!pushed.updated_referrers_tag, || {
        "tag index updated although the registry has the API".into()
    })
}

async fn tags_pagination(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (manifest, _) =
        push_artifact(&ctx, &ctx.client, "tags", "t000", random_bytes(10, 23)).await?;
    let bytes = ctx
        .client
        .fetch_manifest(
            &ctx.pinned("tags", &manifest.digest)?,
            &FetchOptions::default(),
        )
        .await?
        .bytes;
    let mut expected: Vec<String> = (0..250).map(|i| format!("t{i:03}")).collect();
    for tag in expected.iter().skip(1) {
        ctx.client
            .push_manifest(
                &ctx.tagged("tags", tag)?,
                bytes.clone(),
                media_types::OCI_IMAGE_MANIFEST,
            )
            .await?;
    }
    if let Some(mock) = &ctx.mock {
        mock.clear_requests();
    }
    let mut tags = ctx
        .client
        .tags(&ctx.repo("tags")?, Some(100))
        .collect_all()
        .await?;
    tags.sort();
    expected.sort();
    ensure(tags == expected, || {
        format!("{} tags listed, expected 250", tags.len())
    })?;
    if let Some(mock) = &ctx.mock {
        let pages = mock
            .requests()
            .iter()
            .filter(|r| r.path.contains("/tags/list") && r.status.as_u16() == 200)
            .count();
        ensure(pages == 3, || {
            format!("{pages} pages fetched, expected 3 of at most 100")
        })?;
    }
    Ok(())
}

async fn catalog(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(&ctx, &ctx.client, "catalog", "v1", random_bytes(10, 24)).await?;
    let wanted = format!("{}/catalog", ctx.prefix);
    let mut names = ctx.client.catalog(&ctx.registry, Some(50));
    let mut seen = 0usize;
    while let Some(name) = names.next().await {
        seen += 1;
        if name? == wanted {
            return Ok(());
        }
    }
    Err(Failure(format!(
        "{wanted} not among {seen} catalog entries"
    )))
}

async fn push_two_referrers(
    ctx: &Ctx,
    client: &Client,
    name: &str,
) -> Result<(Descriptor, Digest, Digest), Failure> {
    let (subject, _) = push_artifact(ctx, client, name, "v1", random_bytes(100, 25)).await?;
    let sbom = push_referrer(ctx, client, name, &subject, "application/vnd.orca.sbom", 26).await?;
    let sig = push_referrer(ctx, client, name, &subject, "application/vnd.orca.sig", 27).await?;
    Ok((subject, sbom.digest, sig.digest))
}

async fn referrers_any(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (subject, sbom, _) = push_two_referrers(&ctx, &ctx.client, "referrers").await?;
    let pinned = ctx.pinned("referrers", &subject.digest)?;
    let all = ctx.client.referrers(&pinned, None).await?;
    ensure(all.manifests.len() == 2, || {
        format!("{} referrers, expected 2", all.manifests.len())
    })?;
    let filtered = ctx
        .client
        .referrers(&pinned, Some("application/vnd.orca.sbom"))
        .await?;
    ensure(
        filtered.manifests.len() == 1 && filtered.manifests[0].digest == sbom,
        || format!("filtered referrers {:?}", filtered.manifests),
    )
}

async fn referrers_api(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (subject, _, sig) = push_two_referrers(&ctx, &ctx.client, "referrers-api").await?;
    let pinned = ctx.pinned("referrers-api", &subject.digest)?;
    let r = ctx
        .client
        .referrers(&pinned, Some("application/vnd.orca.sig"))
        .await?;
    ensure(!r.from_tag_schema, || {
        "the tag schema was used although the API exists".into()
    })?;
    ensure(
        r.manifests.len() == 1 && r.manifests[0].digest == sig,
        || format!("referrers {:?}", r.manifests),
    )
}

/// Push a referrer of `subject` into `repo` on a registry without the referrers API: it
/// must not acknowledge the subject (`OCI-Subject`), and the client must then maintain the
/// `<alg>-<hex>` tag-schema index itself.
async fn push_unindexed_referrer(
    client: &Client,
    repo: &orca_reference::Reference,
    subject: &Descriptor,
    artifact_type: &str,
    layers: &[Descriptor],
) -> Result<Digest, Failure> {
    let bytes = artifact_manifest(artifact_type, layers, Some(subject))?;
    let digest = Digest::sha256(&bytes);
    let reference = repo.clone().with_digest(digest.clone());
    let pushed = client
        .push_manifest(
            &reference,
            Bytes::from(bytes),
            media_types::OCI_IMAGE_MANIFEST,
        )
        .await?;
    ensure(pushed.subject.is_none(), || {
        format!(
            "the registry acknowledged the subject ({:?}) although it has no referrers API",
            pushed.subject
        )
    })?;
    ensure(pushed.updated_referrers_tag, || {
        "the tag-schema index was not maintained".into()
    })?;
    Ok(digest)
}

async fn referrers_fallback(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (mock, client) = ctx
        .fresh_mock(
            |mut c| {
                c.referrers_api = false;
                c
            },
            |_| {},
        )
        .await?;
    let repo = orca_reference::Reference::new(mock.host(), "conformance/fallback")
        .map_err(|e| Failure(e.to_string()))?;
    push_config(&client, &repo).await?;
    let layer = push_layer(&client, &repo, random_bytes(100, 28)).await?;
    let subject_bytes = artifact_manifest(
        "application/vnd.orca.conformance",
        std::slice::from_ref(&layer),
        None,
    )?;
    let subject = Descriptor::for_bytes(media_types::OCI_IMAGE_MANIFEST, &subject_bytes);
    let subject_ref = repo.clone().with_digest(subject.digest.clone());
    client
        .push_manifest(
            &subject_ref,
            Bytes::from(subject_bytes),
            media_types::OCI_IMAGE_MANIFEST,
        )
        .await?;
    let sig = push_unindexed_referrer(
        &client,
        &repo,
        &subject,
        "application/vnd.orca.sig",
        &[layer],
    )
    .await?;
    push_unindexed_referrer(&client, &repo, &subject, "application/vnd.orca.sbom", &[]).await?;
    let all = client.referrers(&subject_ref, None).await?;
    ensure(all.manifests.len() == 2, || {
        format!(
            "{} referrers in the tag index, expected 2",
            all.manifests.len()
        )
    })?;
    let r = client
        .referrers(&subject_ref, Some("application/vnd.orca.sig"))
        .await?;
    ensure(r.from_tag_schema, || {
        "the referrers API was used although it is off".into()
    })?;
    ensure(
        r.manifests.len() == 1 && r.manifests[0].digest == sig,
        || format!("referrers {:?}", r.manifests),
    )
}

async fn delete_manifest(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let (manifest, _) = push_artifact(
        &ctx,
        &ctx.client,
        "delete-manifest",
        "v1",
        random_bytes(10, 29),
    )
    .await?;
    let pinned = ctx.pinned("delete-manifest", &manifest.digest)?;
    ctx.client.delete_manifest(&pinned).await?;
    expect_kind(
        ctx.client
            .fetch_manifest(&pinned, &FetchOptions::default())
            .await,
        &[ErrorKind::NotFound],
        "fetch after delete",
    )
}

async fn delete_blob(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let repo = ctx.repo("delete-blob")?;
    let layer = push_layer(&ctx.client, &repo, random_bytes(1000, 30)).await?;
    ctx.client.delete_blob(&repo, &layer.digest).await?;
    let exists = ctx.client.blob_exists(&repo, &layer.digest).await?;
    ensure(exists.is_none(), || "blob still there after delete".into())
}

async fn ping(ctx: Arc<Ctx>) -> Result<(), Failure> {
    Ok(ctx.client.ping(&ctx.registry).await?)
}

async fn wrong_credentials(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(&ctx, &ctx.client, "wrong-creds", "v1", random_bytes(10, 31)).await?;
    let client = ctx
        .client_with_wrong_credentials()?
        .ok_or("no credentials to spoil")?;
    expect_kind(
        client
            .fetch_manifest(&ctx.tagged("wrong-creds", "v1")?, &FetchOptions::default())
            .await,
        // One kind whoever said no: the registry (Basic), its token service or the ACR
        // exchange.
        &[ErrorKind::CredentialsRejected],
        "fetch with a wrong password",
    )
}

async fn token_reused(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(&ctx, &ctx.client, "token-reuse", "v1", random_bytes(10, 32)).await?;
    let mock = ctx.mock()?;
    let client = ctx.fresh_client()?;
    mock.clear_requests();
    let reference = ctx.tagged("token-reuse", "v1")?;
    for _ in 0..20 {
        client.resolve(&reference).await?;
    }
    let tokens = mock
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/token") || r.path.starts_with("/oauth2/token"))
        .count();
    ensure(tokens == 1, || {
        format!("{tokens} token requests for 20 HEADs of one scope")
    })
}

async fn token_expiry(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let data = random_bytes(1024 * 1024, 33);
    let (_, layer) = push_artifact(&ctx, &ctx.client, "token-expiry", "v1", data.clone()).await?;
    let mock = ctx.mock()?;
    let client = ctx.fresh_client()?;
    client
        .fetch_manifest(&ctx.tagged("token-expiry", "v1")?, &FetchOptions::default())
        .await?;
    mock.clear_requests();
    // The first blob GET starts with a valid token, is throttled to 2 MiB/s and dropped
    // after 512 KiB (about 250 ms); the registry treats tokens as expired after 150 ms, so
    // the resume with Range carries an expired token (it still looks valid locally).
    mock.faults()
        .expire_tokens_after(Some(Duration::from_millis(150)));
    mock.faults().add(Fault::throttle(2 * 1024 * 1024).times(1));
    mock.faults().add(Fault::close_after(512 * 1024).times(1));
    let bytes = client
        .fetch_blob(&ctx.repo("token-expiry")?, &layer)
        .await?
        .bytes()
        .await?;
    ensure(bytes == data, || "blob differs".into())?;
    let log = mock.requests();
    let blob_statuses: Vec<u16> = log
        .iter()
        .filter(|r| r.path.contains("/blobs/"))
        .map(|r| r.status.as_u16())
        .collect();
    ensure(
        blob_statuses.contains(&401) && blob_statuses.last() == Some(&206),
        || {
            format!(
                "blob GET statuses {blob_statuses:?}: expected the resume to be refused (401), then served (206)"
            )
        },
    )?;
    ensure(token_requests(mock) > 0, || {
        "no new token was negotiated after the expiry".into()
    })
}

async fn retry_503(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(&ctx, &ctx.client, "retry-503", "v1", random_bytes(10, 34)).await?;
    let mock = ctx.mock()?;
    mock.clear_requests();
    mock.faults().add(
        Fault::status(503)
            .on("GET")
            .path("/v2/*/manifests/*")
            .times(1),
    );
    ctx.client
        .fetch_manifest(&ctx.tagged("retry-503", "v1")?, &FetchOptions::default())
        .await?;
    let statuses: Vec<u16> = mock
        .requests()
        .iter()
        .filter(|r| r.path.contains("/manifests/"))
        .map(|r| r.status.as_u16())
        .collect();
    ensure(
        statuses.first() == Some(&503) && statuses.last() == Some(&200),
        || format!("manifest statuses {statuses:?}"),
    )
}

async fn retry_429(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(&ctx, &ctx.client, "retry-429", "v1", random_bytes(10, 35)).await?;
    let mock = ctx.mock()?;
    mock.clear_requests();
    mock.faults().add(
        Fault::status(429)
            .retry_after(1)
            .on("GET")
            .path("/v2/*/manifests/*")
            .times(1),
    );
    let started = std::time::Instant::now();
    ctx.client
        .fetch_manifest(&ctx.tagged("retry-429", "v1")?, &FetchOptions::default())
        .await?;
    let waited = started.elapsed();
    let statuses: Vec<u16> = mock
        .requests()
        .iter()
        .filter(|r| r.path.contains("/manifests/"))
        .map(|r| r.status.as_u16())
        .collect();
    ensure(
        statuses.first() == Some(&429) && statuses.last() == Some(&200),
        || format!("manifest statuses {statuses:?}"),
    )?;
    // Not a timing assertion on speed: Retry-After is a lower bound the client must honour.
    ensure(waited >= Duration::from_millis(900), || {
        format!("retried after {waited:?}, before Retry-After: 1")
    })
}

async fn retries_bounded(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(
        &ctx,
        &ctx.client,
        "retry-bounded",
        "v1",
        random_bytes(10, 36),
    )
    .await?;
    let mock = ctx.mock()?;
    mock.clear_requests();
    mock.faults()
        .add(Fault::status(503).on("GET").path("/v2/*/manifests/*"));
    expect_kind(
        ctx.client
            .fetch_manifest(
                &ctx.tagged("retry-bounded", "v1")?,
                &FetchOptions::default(),
            )
            .await,
        &[ErrorKind::Unavailable],
        "a registry that always answers 503",
    )?;
    let attempts = mock
        .requests()
        .iter()
        .filter(|r| r.path.contains("/manifests/"))
        .count();
    let allowed = ctx.client.config().policy(&ctx.registry).retry.max_retries as usize + 1;
    ensure(attempts == allowed, || {
        format!("{attempts} attempts, expected {allowed}")
    })
}

async fn post_not_retried(ctx: Arc<Ctx>) -> Result<(), Failure> {
    ctx.client.ping(&ctx.registry).await?;
    let mock = ctx.mock()?;
    mock.clear_requests();
    mock.faults().add(Fault::status(503).on("POST").times(1));
    expect_kind(
        ctx.client.start_upload(&ctx.repo("post-once")?).await,
        &[ErrorKind::Unavailable],
        "a POST answered with 503",
    )?;
    let posts = mock
        .requests()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    ensure(posts == 1, || {
        format!("{posts} POSTs: a non-idempotent request was repeated")
    })
}

async fn redirect_strips(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let data = random_bytes(64 * 1024, 37);
    let (_, layer) = push_artifact(&ctx, &ctx.client, "redirect", "v1", data.clone()).await?;
    let mock = ctx.mock()?;
    mock.clear_requests();
    mock.faults().add(Fault::redirect_blobs());
    let bytes = ctx
        .client
        .fetch_blob(&ctx.repo("redirect")?, &layer)
        .await?
        .bytes()
        .await?;
    ensure(bytes == data, || "blob differs".into())?;
    let storage: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .collect();
    ensure(!storage.is_empty(), || "the blob was not redirected".into())?;
    ensure(storage.iter().all(|r| r.auth == AuthSeen::None), || {
        "Authorization was sent to the storage host".into()
    })
}

async fn connection_reuse(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(&ctx, &ctx.client, "reuse", "v1", random_bytes(10, 38)).await?;
    let mock = ctx.mock()?;
    let client = ctx.fresh_client()?;
    let reference = ctx.tagged("reuse", "v1")?;
    // Warm up: negotiate the token (the token service may be on another host).
    for _ in 0..10 {
        client.resolve(&reference).await?;
    }
    let before = mock.connections();
    for _ in 0..100 {
        client.resolve(&reference).await?;
    }
    let connects = mock.connections() - before;
    ensure(connects <= 2, || {
        format!("{connects} new TCP connections for 100 sequential HEADs")
    })
}

async fn tls_untrusted(ctx: Arc<Ctx>) -> Result<(), Failure> {
    // Without the target's CA (only the public roots), the handshake must fail.
    let client = ctx.client_with(|c| c.extra_root_certificates.clear())?;
    if ctx.client.config().extra_root_certificates.is_empty() {
        // The target has a publicly trusted certificate: nothing to distrust.
        return Ok(client.ping(&ctx.registry).await?);
    }
    match client.ping(&ctx.registry).await {
        Ok(()) => Err(Failure(
            "TLS to a registry whose CA is not trusted succeeded".into(),
        )),
        Err(e) if e.kind() == ErrorKind::Connect && !e.is_retryable() => Ok(()),
        Err(e) => Err(Failure(format!(
            "expected a TLS failure that is not retried, got {:?} (retryable: {}): {}",
            e.kind(),
            e.is_retryable(),
            Failure::from(e)
        ))),
    }
}

async fn tls_skip_verify(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let registry = ctx.registry.clone();
    let client = ctx.client_with(|c| {
        c.extra_root_certificates.clear();
        if let Ok(r) = registry.parse::<orca_distribution::Registry>() {
            c.policy_mut(r).insecure_skip_verify = true;
        }
    })?;
    Ok(client.ping(&ctx.registry).await?)
}

async fn tls_root_per_registry(ctx: Arc<Ctx>) -> Result<(), Failure> {
    // The target's CA moved from the client-wide roots into the target's own policy: the
    // handshake succeeds; given to another registry only, it fails.
    let roots = ctx.client.config().extra_root_certificates.clone();
    if roots.is_empty() {
        // A publicly trusted certificate: no CA of the target's own to move.
        return Ok(ctx.client.ping(&ctx.registry).await?);
    }
    let registry: orca_distribution::Registry = ctx
        .registry
        .parse()
        .map_err(|e| Failure(format!("{}: {e}", ctx.registry)))?;
    let other: orca_distribution::Registry = "other.example"
        .parse()
        .map_err(|e| Failure(format!("{e}")))?;
    let own = roots.clone();
    let client = ctx.client_with(move |c| {
        c.extra_root_certificates.clear();
        c.policy_mut(registry).root_certificates.extend(own);
    })?;
    client.ping(&ctx.registry).await?;
    let elsewhere = ctx.client_with(move |c| {
        c.extra_root_certificates.clear();
        c.policy_mut(other).root_certificates.extend(roots);
    })?;
    match elsewhere.ping(&ctx.registry).await {
        Ok(()) => Err(Failure(
            "a CA trusted for another registry only was trusted for this one".into(),
        )),
        Err(e) if e.kind() == ErrorKind::Connect => Ok(()),
        Err(e) => Err(Failure(format!(
            "expected a TLS failure, got {:?}: {}",
            e.kind(),
            Failure::from(e)
        ))),
    }
}

async fn manifest_cap(ctx: Arc<Ctx>) -> Result<(), Failure> {
    push_artifact(&ctx, &ctx.client, "cap", "v1", random_bytes(10, 39)).await?;
    let options = FetchOptions::builder().max_bytes(64).build();
    expect_kind(
        ctx.client
            .fetch_manifest(&ctx.tagged("cap", "v1")?, &options)
            .await,
        &[ErrorKind::SizeExceeded],
        "a manifest above the cap",
    )
}

async fn blob_too_large(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let repo = ctx.repo("too-large")?;
    let layer = push_layer(&ctx.client, &repo, random_bytes(4096, 40)).await?;
    let mut short = layer.clone();
    short.size = 1000;
    let result = match ctx.client.fetch_blob(&repo, &short).await {
        Ok(stream) => stream.bytes().await,
        Err(e) => Err(e),
    };
    expect_kind(
        result,
        &[ErrorKind::SizeExceeded],
        "a blob larger than its descriptor",
    )
}

async fn push_wrong_bytes(ctx: Arc<Ctx>) -> Result<(), Failure> {
    let repo = ctx.repo("wrong-bytes")?;
    let layer = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, b"the real content");
    expect_kind(
        ctx.client
            .push_blob(
                &repo,
                &layer,
                Bytes::from_static(b"the fake content"),
                &PushOptions::default(),
            )
            .await,
        &[ErrorKind::DigestMismatch],
        "pushing bytes that do not match their descriptor",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_unique_and_cover_every_group() {
        let all = scenarios();
        assert_eq!(all.len(), 53);
        let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "duplicate scenario names");
        for group in Group::ALL {
            assert!(
                all.iter().any(|s| s.group == group),
                "no scenario in {group:?}"
            );
            // Names start with their group.
            for s in all.iter().filter(|s| s.group == group) {
                assert!(
                    s.name.starts_with(group.as_str()),
                    "{} is not in {}",
                    s.name,
                    group.as_str()
                );
            }
        }
    }
}
