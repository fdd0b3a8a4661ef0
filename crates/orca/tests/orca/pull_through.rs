//! Pull-through through the cache rules: a cache registry and upstreams (one in bearer
//! mode with a credential set), misses and hits counted in the upstream's request log,
//! revalidation, precedence, credential errors, secrets kept out of errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use orca::auth::{Credential, StaticCredentials};
use orca::distribution::{ClientConfig, RetryPolicy};
use orca::pull_through::{PullThrough, Upstreams};
use orca::store::{SecretSource, Username};
use orca::{ArtifactStore, BlobOptions, CacheRule, CredentialSet, Store, StoreRegistry};
use orca_mock_registry::{AuthMode, Config, Fault, MockRegistry};

const USER: &str = "puller";
const SECRET: &str = "s3cret-upstream-token";

struct Setup {
    cache: MockRegistry,
    upstream: MockRegistry,
    other: MockRegistry,
    stores: StoreRegistry,
}

impl Setup {
    async fn new() -> Setup {
        let cache = MockRegistry::start(Config::default()).await.unwrap();
        let upstream =
            MockRegistry::start(Config::default().with_auth(AuthMode::bearer(USER, SECRET)))
                .await
                .unwrap();
        let other = MockRegistry::start(Config::default()).await.unwrap();
        let mut stores = StoreRegistry::new();
        for host in [cache.host(), upstream.host(), other.host()] {
            stores.add(Store::new(host).unwrap().with_plain_http(true));
        }
        stores.add_credential_set(
            CredentialSet::new(
                "up",
                Username::Literal(USER.into()),
                SecretSource::Env("UP_TOKEN".into()),
            )
            .unwrap(),
        );
        stores
            .add_cache_rule(
                CacheRule::new("library/*", &format!("{}/library/*", upstream.host()))
                    .unwrap()
                    .with_credential_set("up"),
            )
            .unwrap();
        Setup {
            cache,
            upstream,
            other,
            stores,
        }
    }

    fn store(&self, revalidate: Duration, token: &str) -> ArtifactStore {
        let env: HashMap<String, String> = [("UP_TOKEN".to_owned(), token.to_owned())].into();
        ArtifactStore::builder(self.stores.clone())
            .client_config(ClientConfig::default().with_retry(RetryPolicy::none()))
            .pull_through(
                PullThrough::new(self.cache.host())
                    .unwrap()
                    .revalidate_after(revalidate)
                    .environment(Arc::new(env)),
            )
            .build()
            .unwrap()
    }

    /// Pushes `content` as a one-layer artifact to `registry` (with the upstream's user).
    async fn publish(&self, registry: &MockRegistry, reference: &str, content: &'static [u8]) {
        let credentials = StaticCredentials::new().with(
            self.upstream.host(),
            Credential::basic(USER, SECRET.to_owned()),
        );
        let publisher = ArtifactStore::builder(self.stores.clone())
            .credential_source(Arc::new(credentials))
            .build()
            .unwrap();
        publisher
            .push_blob(
                &format!("{}/{reference}", registry.host()),
                Bytes::from_static(content),
                &BlobOptions::new("application/vnd.example.blob").title("blob.txt"),
            )
            .await
            .unwrap();
    }

    fn cached(&self, reference: &str) -> String {
        format!("{}/{reference}", self.cache.host())
    }
}

/// Requests that reached the registry (token requests and 401 challenges aside).
fn registry_requests(mock: &MockRegistry) -> Vec<String> {
    mock.requests()
        .iter()
        .filter(|r| r.path.starts_with("/v2/") && r.path != "/v2/" && r.status != 401)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn blob_gets(mock: &MockRegistry) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/sha256:"))
        .count()
}

async fn fetch(store: &ArtifactStore, reference: &str) -> Result<Vec<u8>, orca::Error> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    store.fetch(reference, "test", &out).await?;
    Ok(std::fs::read(out.join("blob.txt")).unwrap())
}

#[tokio::test]
async fn a_miss_fills_the_cache_registry_and_the_next_fetch_is_a_hit() {
    let s = Setup::new().await;
    s.publish(&s.upstream, "library/app:1", b"version one")
        .await;
    s.upstream.clear_requests();
    let store = s.store(Duration::from_secs(3600), SECRET);

    assert_eq!(
        fetch(&store, &s.cached("library/app:1")).await.unwrap(),
        b"version one"
    );
    // Upstream: the tag resolved, the manifest and both blobs (layer, config) read.
    assert!(
        blob_gets(&s.upstream) >= 1,
        "{:?}",
        registry_requests(&s.upstream)
    );
    assert!(
        s.upstream
            .requests()
            .iter()
            .any(|r| r.auth == orca_mock_registry::AuthSeen::Bearer),
        "the credential set's bearer token was used"
    );
    // The cache registry now holds it.
    let direct = ArtifactStore::builder(s.stores.clone()).build().unwrap();
    direct.resolve(&s.cached("library/app:1")).await.unwrap();

    s.upstream.clear_requests();
    assert_eq!(
        fetch(&store, &s.cached("library/app:1")).await.unwrap(),
        b"version one"
    );
    assert_eq!(
        registry_requests(&s.upstream),
        Vec::<String>::new(),
        "a hit asks nothing upstream"
    );

    // Another process (no memory of the check) revalidates once: one HEAD, no blobs.
    let fresh = s.store(Duration::from_secs(3600), SECRET);
    assert_eq!(
        fetch(&fresh, &s.cached("library/app:1")).await.unwrap(),
        b"version one"
    );
    let seen = registry_requests(&s.upstream);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("HEAD /v2/library/app/manifests/1"),
        "{seen:?}"
    );

    // By digest: a hit in the cache registry needs no upstream at all.
    s.upstream.clear_requests();
    let digest = direct
        .resolve(&s.cached("library/app:1"))
        .await
        .unwrap()
        .digest;
    let pinned = s.cached(&format!("library/app@{digest}"));
    assert_eq!(fetch(&fresh, &pinned).await.unwrap(), b"version one");
    assert_eq!(registry_requests(&s.upstream), Vec::<String>::new());
}

#[tokio::test]
async fn a_digest_miss_is_fetched_by_digest() {
    let s = Setup::new().await;
    s.publish(&s.upstream, "library/pinned:1", b"pinned bytes")
        .await;
    let upstream_store = ArtifactStore::builder(s.stores.clone())
        .credential_source(Arc::new(StaticCredentials::new().with(
            s.upstream.host(),
            Credential::basic(USER, SECRET.to_owned()),
        )))
        .build()
        .unwrap();
    let digest = upstream_store
        .resolve(&format!("{}/library/pinned:1", s.upstream.host()))
        .await
        .unwrap()
        .digest;
    s.upstream.clear_requests();
    let store = s.store(Duration::from_secs(3600), SECRET);
    let pinned = s.cached(&format!("library/pinned@{digest}"));
    assert_eq!(fetch(&store, &pinned).await.unwrap(), b"pinned bytes");
    assert!(
        registry_requests(&s.upstream)
            .iter()
            .any(|r| r == &format!("GET /v2/library/pinned/manifests/{digest}")),
        "{:?}",
        registry_requests(&s.upstream)
    );
    s.upstream.clear_requests();
    assert_eq!(fetch(&store, &pinned).await.unwrap(), b"pinned bytes");
    assert_eq!(registry_requests(&s.upstream), Vec::<String>::new());
}

#[tokio::test]
async fn a_tag_is_revalidated_after_the_interval() {
    let s = Setup::new().await;
    s.publish(&s.upstream, "library/app:1", b"version one")
        .await;
    let always = s.store(Duration::ZERO, SECRET);
    let hourly = s.store(Duration::from_secs(3600), SECRET);
    assert_eq!(
        fetch(&always, &s.cached("library/app:1")).await.unwrap(),
        b"version one"
    );
    assert_eq!(
        fetch(&hourly, &s.cached("library/app:1")).await.unwrap(),
        b"version one"
    );

    // Unchanged upstream: a revalidation is one HEAD and no blob.
    s.upstream.clear_requests();
    assert_eq!(
        fetch(&always, &s.cached("library/app:1")).await.unwrap(),
        b"version one"
    );
    let seen = registry_requests(&s.upstream);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("HEAD "), "{seen:?}");

    // The tag moves upstream.
    s.publish(&s.upstream, "library/app:1", b"version two")
        .await;
    s.upstream.clear_requests();
    // Checked within the last hour: the cached copy is served, upstream is not asked.
    assert_eq!(
        fetch(&hourly, &s.cached("library/app:1")).await.unwrap(),
        b"version one"
    );
    assert_eq!(registry_requests(&s.upstream), Vec::<String>::new());
    // Past the interval: the new manifest and its blob come through.
    assert_eq!(
        fetch(&always, &s.cached("library/app:1")).await.unwrap(),
        b"version two"
    );
    assert!(blob_gets(&s.upstream) >= 1);
}

#[tokio::test]
async fn upstream_down_after_warm_up_serves_the_cached_copy() {
    let s = Setup::new().await;
    s.publish(&s.upstream, "library/app:1", b"version one")
        .await;
    let store = s.store(Duration::ZERO, SECRET);
    assert_eq!(
        fetch(&store, &s.cached("library/app:1")).await.unwrap(),
        b"version one"
    );
    s.upstream.faults().add(Fault::status(503));
    assert_eq!(
        fetch(&store, &s.cached("library/app:1")).await.unwrap(),
        b"version one"
    );
    // Not cached and upstream down: the upstream's failure, naming the upstream.
    let e = fetch(&store, &s.cached("library/other:1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ArtifactStoreUnavailable", "{e}");
    assert!(e.to_string().contains(s.upstream.host()), "{e}");
}

#[tokio::test]
async fn rule_precedence_reaches_the_right_upstream() {
    let mut s = Setup::new().await;
    let other = s.other.host().to_owned();
    s.stores
        .add_cache_rule(CacheRule::new("*", &format!("{other}/everything/*")).unwrap())
        .unwrap();
    s.stores
        .add_cache_rule(CacheRule::new("library/special", &format!("{other}/special")).unwrap())
        .unwrap();
    s.stores
        .add_cache_rule(CacheRule::new("library/team/*", &format!("{other}/team/*")).unwrap())
        .unwrap();
    s.publish(&s.upstream, "library/app:1", b"from upstream")
        .await;
    s.publish(&s.other, "special:1", b"static rule").await;
    s.publish(&s.other, "everything/tools/x:1", b"catch-all")
        .await;
    s.publish(&s.other, "team/app:1", b"deeper wildcard").await;
    let store = s.store(Duration::from_secs(3600), SECRET);
    for (asked, expected) in [
        ("library/app:1", &b"from upstream"[..]),
        ("library/special:1", b"static rule"),
        ("tools/x:1", b"catch-all"),
        ("library/team/app:1", b"deeper wildcard"),
    ] {
        assert_eq!(
            fetch(&store, &s.cached(asked)).await.unwrap(),
            expected,
            "{asked}"
        );
    }
    // A registry other than the cache registry is not resolved through the rules.
    let e = fetch(&store, &format!("{other}/library/app:1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ArtifactNotFound", "{e}");

    // The resolver a serving front uses gives the same answers.
    let upstreams = Upstreams::new(&s.stores, ClientConfig::default()).unwrap();
    let found = upstreams.resolve("library/team/app").unwrap();
    assert_eq!(found.repository().to_string(), format!("{other}/team/app"));
    assert_eq!(found.rule().target(), "library/team/*");
    assert!(upstreams.resolve("Invalid/Name").is_none());
}

#[tokio::test]
async fn credential_set_problems_are_clear_and_never_show_the_secret() {
    let s = Setup::new().await;
    s.publish(&s.upstream, "library/app:1", b"version one")
        .await;

    // A rule naming an unknown set is refused when added.
    let mut stores = s.stores.clone();
    let e = stores
        .add_cache_rule(
            CacheRule::new("x/*", "docker.io/x/*")
                .unwrap()
                .with_credential_set("nope"),
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("credential set nope, which is not defined"),
        "{e}"
    );

    // The variable is unset: the error names it.
    let store = s.store(Duration::ZERO, "");
    let e = fetch(&store, &s.cached("library/app:1")).await.unwrap_err();
    let full = e.full_message();
    assert!(full.contains("UP_TOKEN is not set"), "{full}");
    assert!(full.contains("credential set up"), "{full}");

    // A wrong secret: refused upstream, and the secret appears nowhere.
    let wrong = "wrong-secret-do-not-print";
    let store = s.store(Duration::ZERO, wrong);
    let e = fetch(&store, &s.cached("library/app:1")).await.unwrap_err();
    assert_eq!(e.code(), "Unauthorized", "{e}");
    for text in [
        e.to_string(),
        format!("{e:?}"),
        e.full_message(),
        serde_json::to_string(&e).unwrap(),
        format!("{store:?}"),
        format!(
            "{:?}",
            Upstreams::new(&s.stores, ClientConfig::default()).unwrap()
        ),
    ] {
        assert!(!text.contains(wrong), "{text}");
        assert!(!text.contains(SECRET), "{text}");
    }
}

#[tokio::test]
async fn the_operation_limit_is_checked_before_any_upstream_blob() {
    let mut s = Setup::new().await;
    let cache_host = s.cache.host().to_owned();
    s.stores.add(
        Store::new(&cache_host)
            .unwrap()
            .with_plain_http(true)
            .with_limit("test", 4),
    );
    s.publish(&s.upstream, "library/big:1", b"more than four bytes")
        .await;
    s.upstream.clear_requests();
    let store = s.store(Duration::ZERO, SECRET);
    let e = fetch(&store, &s.cached("library/big:1")).await.unwrap_err();
    assert_eq!(e.code(), "TooLargeArtifacts", "{e}");
    assert_eq!(blob_gets(&s.upstream), 0);
}

#[tokio::test]
async fn the_cache_registry_must_be_registered() {
    let s = Setup::new().await;
    let e = ArtifactStore::builder(s.stores.clone())
        .pull_through(PullThrough::new("unregistered.example").unwrap())
        .build()
        .unwrap_err();
    assert!(
        e.to_string().contains("not a registered artifact store"),
        "{e}"
    );
    assert!(PullThrough::new("http://x").is_err());
}

/// Debian's `docker-registry` on both sides: the upstream over TLS with basic auth (its CA
/// from the upstream's store entry, the password from a credential set's file), the cache
/// registry plain. Skipped when the binary is not installed.
#[tokio::test]
async fn docker_registry_upstream_over_tls_and_as_the_cache_registry() {
    use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};
    let upstream_options = ReferenceOptions {
        tls: true,
        users: vec![("puller".to_owned(), orca_mock_registry::Secret::new(SECRET))],
    };
    let Some(upstream) = ReferenceRegistry::start(upstream_options).await.unwrap() else {
        eprintln!("skipped: docker-registry is not installed");
        return;
    };
    let Some(cache) = ReferenceRegistry::start(ReferenceOptions::default())
        .await
        .unwrap()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("upstream-ca.pem");
    std::fs::write(&ca, upstream.ca_pem().unwrap()).unwrap();
    let secret_file = dir.path().join("upstream.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();

    let mut stores = StoreRegistry::new()
        .with(Store::new(cache.host()).unwrap().with_plain_http(true))
        .with(Store::new(upstream.host()).unwrap().with_ca_file(&ca));
    stores.add_credential_set(
        CredentialSet::new(
            "real",
            Username::Literal("puller".into()),
            SecretSource::File(secret_file),
        )
        .unwrap(),
    );
    stores
        .add_cache_rule(
            CacheRule::new("mirror/*", &format!("{}/team/*", upstream.host()))
                .unwrap()
                .with_credential_set("real"),
        )
        .unwrap();

    let publisher = ArtifactStore::builder(stores.clone())
        .credential_source(Arc::new(StaticCredentials::new().with(
            upstream.host(),
            Credential::basic("puller", SECRET.to_owned()),
        )))
        .build()
        .unwrap();
    publisher
        .push_blob(
            &format!("{}/team/app:1", upstream.host()),
            Bytes::from_static(b"from the real registry"),
            &BlobOptions::new("application/vnd.example.blob").title("blob.txt"),
        )
        .await
        .unwrap();

    let store = ArtifactStore::builder(stores.clone())
        .pull_through(
            PullThrough::new(cache.host())
                .unwrap()
                .revalidate_after(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let reference = format!("{}/mirror/app:1", cache.host());
    assert_eq!(
        fetch(&store, &reference).await.unwrap(),
        b"from the real registry"
    );
    // The cache registry holds it now: readable without any rule.
    let plain = ArtifactStore::builder(stores).build().unwrap();
    assert_eq!(
        fetch(&plain, &reference).await.unwrap(),
        b"from the real registry"
    );
    // And the pull-through store serves it again (within the interval, from the cache).
    assert_eq!(
        fetch(&store, &reference).await.unwrap(),
        b"from the real registry"
    );
}

#[tokio::test]
async fn pull_through_outcomes_are_counted() {
    use metrics_util::debugging::DebuggingRecorder;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let s = Setup::new().await;
    s.publish(&s.upstream, "library/app:1", b"version one")
        .await;
    let always = s.store(Duration::ZERO, SECRET);
    let hourly = s.store(Duration::from_secs(3600), SECRET);
    fetch(&always, &s.cached("library/app:1")).await.unwrap(); // miss
    fetch(&always, &s.cached("library/app:1")).await.unwrap(); // revalidated
    fetch(&hourly, &s.cached("library/app:1")).await.unwrap(); // revalidated (first check)
    fetch(&hourly, &s.cached("library/app:1")).await.unwrap(); // hit
    s.publish(&s.upstream, "library/app:1", b"version two")
        .await;
    fetch(&always, &s.cached("library/app:1")).await.unwrap(); // changed
    s.upstream.faults().add(Fault::status(503));
    fetch(&always, &s.cached("library/app:1")).await.unwrap(); // stale

    let snapshot = snapshotter.snapshot().into_vec();
    let count = |outcome| {
        crate::metrics::figure(
            &snapshot,
            "orca_pull_through_total",
            &[("outcome", outcome)],
        )
        .0
    };
    assert_eq!(
        [
            count("miss"),
            count("revalidated"),
            count("hit"),
            count("changed"),
            count("stale")
        ],
        [1, 2, 1, 1, 1]
    );
}

#[tokio::test]
async fn concurrent_fetches_of_one_tag_ask_upstream_once() {
    let s = Setup::new().await;
    s.publish(&s.upstream, "library/app:1", b"shared").await;
    s.upstream.clear_requests();
    let store = s.store(Duration::from_secs(3600), SECRET);
    let reference = s.cached("library/app:1");
    let fetches: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let reference = reference.clone();
            tokio::spawn(async move { fetch(&store, &reference).await })
        })
        .collect();
    for f in fetches {
        assert_eq!(f.await.unwrap().unwrap(), b"shared");
    }
    let heads = registry_requests(&s.upstream)
        .iter()
        .filter(|r| r.starts_with("HEAD /v2/library/app/manifests/"))
        .count();
    assert_eq!(heads, 1, "{:?}", registry_requests(&s.upstream));
    // The layer and the config, each once.
    assert_eq!(
        blob_gets(&s.upstream),
        2,
        "{:?}",
        registry_requests(&s.upstream)
    );
}

#[tokio::test]
async fn an_index_is_pulled_through_with_its_manifests() {
    use orca::manifest::{ImageIndex, media_types};
    let mut s = Setup::new().await;
    let other = s.other.host().to_owned();
    s.stores
        .add_cache_rule(CacheRule::new("multi/*", &format!("{other}/multi/*")).unwrap())
        .unwrap();
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let layer = Bytes::from(format!("layer for {arch}"));
        let layer_d = orca::Descriptor::for_bytes("application/octet-stream", &layer);
        let config = Bytes::from_static(b"{}");
        let config_d = orca::Descriptor::for_bytes(media_types::OCI_EMPTY, &config);
        let child = crate::support::push_raw(
            &other,
            &format!("{other}/multi/app:{arch}"),
            (config_d, config),
            vec![(layer_d, layer)],
            None,
        )
        .await;
        children.push(child);
    }
    let index = ImageIndex::new(children.clone()).to_bytes();
    let client =
        orca::distribution::Client::new(ClientConfig::default().with_plain_http(other.as_str()))
            .unwrap();
    let index_ref: orca::Reference = format!("{other}/multi/app:1").parse().unwrap();
    client
        .push_manifest(
            &index_ref,
            Bytes::from(index.clone()),
            media_types::OCI_IMAGE_INDEX,
        )
        .await
        .unwrap();

    let store = s.store(Duration::from_secs(3600), SECRET);
    let fetched = store
        .fetch_manifest(&s.cached("multi/app:1"))
        .await
        .unwrap();
    assert!(fetched.manifest.is_index());
    assert_eq!(&fetched.bytes[..], &index[..]);
    // Each child is in the cache registry by digest, with its layer.
    let plain = ArtifactStore::builder(s.stores.clone()).build().unwrap();
    for child in &children {
        let pinned = s.cached(&format!("multi/app@{}", child.digest));
        let dir = tempfile::tempdir().unwrap();
        let got = plain
            .fetch(&pinned, "x", &dir.path().join("out"))
            .await
            .unwrap();
        assert_eq!(got.digest, child.digest);
    }
    // A fetch of the index itself is refused as before: it names several artifacts.
    let e = fetch(&store, &s.cached("multi/app:1")).await.unwrap_err();
    assert_eq!(e.code(), "InvalidArtifact", "{e}");
}
