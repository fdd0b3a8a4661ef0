//! Every error code, made to happen for real, with its HTTP status and serde form.

use orca::{ArtifactStore, ClientConfig, CredentialSource, PushOptions, Store, StoreRegistry};
use orca_mock_registry::{AuthMode, Config, Fault};

use crate::support::{env, env_with, sample_folder};

#[tokio::test]
async fn unregistered_registries_are_refused_before_any_network_io() {
    let env = env().await;
    let other = orca_mock_registry::MockRegistry::start(Config::default())
        .await
        .unwrap();
    let dest = env.dir.path().join("dest");
    let cases = [
        (
            format!("{}/configs/app:1", other.host()),
            Some(other.host().to_owned()),
        ),
        ("configs/app:1".to_owned(), None),
        ("MyTeam/app".to_owned(), Some("MyTeam".to_owned())),
        ("app".to_owned(), None),
        (
            "docker.io/library/nginx:latest".to_owned(),
            Some("docker.io".to_owned()),
        ),
    ];
    assert_eq!(cases.len(), 5);
    for (reference, registry) in cases {
        let error = env
            .store
            .fetch(&reference, "anonymization", &dest)
            .await
            .unwrap_err();
        assert_eq!(
            error.code(),
            "ArtifactStoreIsNotRegistered",
            "{reference}: {error}"
        );
        assert_eq!(error.http_status(), 400);
        match &error {
            orca::Error::ArtifactStoreIsNotRegistered { registry: got, .. } => {
                assert_eq!(got, &registry, "{reference}");
            }
            other => panic!("{other:?}"),
        }
        assert!(error.to_string().contains(&reference), "{error}");
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["code"], "ArtifactStoreIsNotRegistered");
        assert!(json["message"].as_str().unwrap().contains(&reference));
    }
    for call in [
        env.store
            .resolve(&format!("{}/a:1", other.host()))
            .await
            .err(),
        env.store.tags(&format!("{}/a", other.host())).await.err(),
        env.store.catalog(other.host()).await.err(),
        env.store
            .push_dir(
                &format!("{}/a:1", other.host()),
                env.dir.path(),
                &PushOptions::default(),
            )
            .await
            .err(),
    ] {
        assert_eq!(call.unwrap().code(), "ArtifactStoreIsNotRegistered");
    }
    assert!(env.mock.requests().is_empty());
    assert!(other.requests().is_empty());
    assert!(!dest.exists());
}

#[tokio::test]
async fn a_closed_port_fails_to_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    drop(listener);
    let stores = StoreRegistry::new().with(Store::new(&host).unwrap().with_plain_http(true));
    let store = ArtifactStore::builder(stores)
        .client_config(ClientConfig::default().with_retry(orca::distribution::RetryPolicy::none()))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let error = store
        .fetch(
            &format!("{host}/configs/app:1"),
            "anonymization",
            &dir.path().join("d"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        "FailedToConnectToArtifactStore",
        "{}",
        error.full_message()
    );
    assert_eq!(error.http_status(), 400);
    assert!(error.to_string().contains(&host));
}

#[tokio::test]
async fn tls_to_a_plain_http_registry_fails_to_connect() {
    // The store is registered for HTTPS; the mock speaks plain HTTP: the handshake fails.
    let env = env_with(Config::default(), |s| s.with_plain_http(false), None).await;
    let error = env
        .store
        .resolve(&env.reference("configs/app:1"))
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        "FailedToConnectToArtifactStore",
        "{}",
        error.full_message()
    );
    assert_eq!(error.http_status(), 400);
}

#[tokio::test]
async fn an_artifact_over_the_limit_is_refused_before_its_layers_are_requested() {
    let env = env_with(
        Config::default(),
        |s| {
            s.with_limit("anonymization", 64)
                .with_default_limit(1 << 20)
        },
        None,
    )
    .await;
    let folder = sample_folder(env.dir.path());
    let reference = env.reference("configs/anonymization:default");
    env.store
        .push_dir(&reference, &folder, &PushOptions::default())
        .await
        .unwrap();
    env.mock.clear_requests();
    let dest = env.dir.path().join("dest");
    let error = env
        .store
        .fetch(&reference, "anonymization", &dest)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "TooLargeArtifacts");
    assert_eq!(error.http_status(), 400);
    assert!(error.to_string().contains("anonymization"), "{error}");
    assert_eq!(env.blob_reads(), 0, "{:?}", env.mock.requests());
    assert!(!dest.exists());
    // Another operation falls back to the default limit and succeeds.
    env.store
        .fetch(&reference, "cdm-template", &dest)
        .await
        .unwrap();
    // Pushes are checked against the operation's limit too, before any upload.
    env.mock.clear_requests();
    let error = env
        .store
        .push_dir(
            &env.reference("configs/other:1"),
            &folder,
            &PushOptions::default().operation("anonymization"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "TooLargeArtifacts");
    assert!(env.mock.requests().is_empty());
}

#[tokio::test]
async fn invalid_references_not_found_and_unauthorized() {
    let env = env().await;
    let dest = env.dir.path().join("dest");
    for bad in [
        format!("{}/Upper/case:1", env.mock.host()),
        format!("{}/app:bad tag", env.mock.host()),
        format!("{}/app@sha256:123", env.mock.host()),
    ] {
        let error = env.store.fetch(&bad, "x", &dest).await.unwrap_err();
        assert_eq!(error.code(), "InvalidReference", "{bad}: {error}");
        assert_eq!(error.http_status(), 400);
    }
    let error = env
        .store
        .fetch(&env.reference("no/such:1"), "x", &dest)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "ArtifactNotFound");
    assert_eq!(error.http_status(), 404);

    let secret = "s3cr3t-password-value";
    let locked = env_with(
        Config::default().with_auth(AuthMode::basic("user", secret)),
        |s| s,
        None,
    )
    .await;
    let error = locked
        .store
        .fetch(&locked.reference("a/b:1"), "x", &dest)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "Unauthorized", "{}", error.full_message());
    assert_eq!(error.http_status(), 401);

    // With the password in a file it works; a wrong one is refused, and no message or
    // Debug output shows the secret.
    let file = locked.dir.path().join("password");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let wrong = locked.dir.path().join("wrong");
    std::fs::write(&wrong, "nope").unwrap();
    let with_credentials = |path: &std::path::Path| {
        let stores = StoreRegistry::new().with(
            Store::new(locked.mock.host())
                .unwrap()
                .with_plain_http(true)
                .with_credentials(CredentialSource::BasicFile {
                    username: "user".into(),
                    password_file: path.to_path_buf(),
                }),
        );
        ArtifactStore::builder(stores).build().unwrap()
    };
    let folder = sample_folder(locked.dir.path());
    with_credentials(&file)
        .push_dir(&locked.reference("a/b:1"), &folder, &PushOptions::default())
        .await
        .unwrap();
    let error = with_credentials(&wrong)
        .fetch(&locked.reference("a/b:1"), "x", &dest)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "Unauthorized");
    assert!(!error.full_message().contains(secret));
    assert!(!format!("{error:?}").contains(secret));
}

#[tokio::test]
async fn a_failing_registry_and_a_throttling_one() {
    let env = env().await;
    env.mock.faults().add(Fault::status(503));
    let error = env
        .store
        .resolve(&env.reference("a/b:1"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "ArtifactStoreUnavailable");
    assert_eq!(error.http_status(), 502);
    env.mock.faults().clear();
    env.mock.faults().add(Fault::status(429));
    let error = env
        .store
        .resolve(&env.reference("a/b:1"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "TooManyRequests");
    assert_eq!(error.http_status(), 429);
}

#[test]
fn every_code_has_its_status() {
    let table: &[(&str, u16)] = &[
        ("ArtifactStoreIsNotRegistered", 400),
        ("FailedToConnectToArtifactStore", 400),
        ("TooLargeArtifacts", 400),
        ("InvalidReference", 400),
        ("ArtifactNotFound", 404),
        ("DigestMismatch", 502),
        ("UnsafeArtifactContent", 400),
        ("InvalidArtifact", 400),
        ("InvalidArgument", 400),
        ("InternalError", 500),
    ];
    assert_eq!(table.len(), 10);
    let errors = [
        orca::Error::ArtifactStoreIsNotRegistered {
            reference: "r".into(),
            registry: None,
        },
        orca::Error::FailedToConnectToArtifactStore {
            reference: "r".into(),
            registry: "g".into(),
            source: "x".into(),
        },
        orca::Error::TooLargeArtifacts {
            reference: "r".into(),
            operation: "o".into(),
            size: 2,
            limit: 1,
        },
        orca::Error::InvalidReference {
            reference: "R".into(),
            source: orca::Reference::parse("R").unwrap_err(),
        },
        orca::Error::ArtifactNotFound {
            reference: "r".into(),
            source: None,
        },
        orca::Error::DigestMismatch {
            reference: "r".into(),
            source: "x".into(),
        },
        orca::Error::UnsafeArtifactContent {
            reference: "r".into(),
            source: "x".into(),
        },
        orca::Error::InvalidArtifact {
            reference: "r".into(),
            message: "m".into(),
            source: None,
        },
        orca::Error::InvalidArgument {
            message: "m".into(),
            source: None,
        },
        orca::Error::Internal {
            message: "m".into(),
            source: None,
        },
    ];
    for (error, (code, status)) in errors.iter().zip(table) {
        assert_eq!(error.code(), *code);
        assert_eq!(error.http_status(), *status, "{code}");
        let body: orca::ErrorBody =
            serde_json::from_value(serde_json::to_value(error).unwrap()).unwrap();
        assert_eq!(body.code, *code);
        assert_eq!(body.message, error.full_message());
    }
    for status in [401, 403] {
        let e = orca::Error::Unauthorized {
            reference: "r".into(),
            status,
            source: "x".into(),
        };
        assert_eq!((e.code(), e.http_status()), ("Unauthorized", status));
    }
}

#[tokio::test]
async fn a_credential_source_of_the_callers_answers_first() {
    let locked = env_with(
        Config::default().with_auth(AuthMode::bearer("user", "pw")),
        |s| s,
        None,
    )
    .await;
    let stores = StoreRegistry::new().with(
        Store::new(locked.mock.host())
            .unwrap()
            .with_plain_http(true),
    );
    let source = orca::auth::StaticCredentials::new().with(
        locked.mock.host(),
        orca::auth::Credential::basic("user", "pw"),
    );
    let store = ArtifactStore::builder(stores)
        .credential_source(std::sync::Arc::new(source))
        .build()
        .unwrap();
    let folder = sample_folder(locked.dir.path());
    store
        .push_dir(&locked.reference("a/b:1"), &folder, &PushOptions::default())
        .await
        .unwrap();
    // The store's own (anonymous) credentials are refused.
    let error = locked
        .store
        .resolve(&locked.reference("a/b:1"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "Unauthorized");
}

/// Every call's future is `Send`, so a service can `tokio::spawn` it.
#[test]
fn every_call_can_be_spawned() {
    fn spawnable<T: Send>(_: &T) {}
    let store = ArtifactStore::builder(StoreRegistry::new())
        .build()
        .unwrap();
    let dest = std::path::Path::new("/nonexistent");
    spawnable(&store.fetch("r", "o", dest));
    spawnable(&store.push_dir("r", dest, &PushOptions::default()));
    spawnable(&store.push_files("r", &[], &PushOptions::default()));
    spawnable(&store.push_blob("r", bytes::Bytes::new(), &orca::BlobOptions::new("a/b")));
    spawnable(&store.copy("a", "b", &orca::CopyOptions::default()));
    spawnable(&store.resolve("r"));
    spawnable(&store.fetch_manifest("r"));
    spawnable(&store.tags("r"));
    spawnable(&store.catalog("r"));
    spawnable(&store.referrers("r", None));
    spawnable(&store.tag("r", &["t"]));
    spawnable(&store.delete("r"));
}

/// A store whose secret variable is unset fails when it is used, naming the variable; the
/// other stores keep working (the facade used to refuse to build at all).
#[tokio::test]
async fn a_stores_missing_secret_fails_only_that_store() {
    let open = env().await;
    let locked = env_with(
        Config::default().with_auth(AuthMode::bearer("user", "pw")),
        |s| s,
        None,
    )
    .await;
    let unset = "ORCA_TEST_SURELY_UNSET_PASSWORD_7f3a";
    assert!(std::env::var_os(unset).is_none());
    let stores = StoreRegistry::new()
        .with(Store::new(open.mock.host()).unwrap().with_plain_http(true))
        .with(
            Store::new(locked.mock.host())
                .unwrap()
                .with_plain_http(true)
                .with_credentials(CredentialSource::BasicEnv {
                    username: "user".into(),
                    password_env: unset.into(),
                }),
        );
    let store = ArtifactStore::builder(stores)
        .client_config(ClientConfig::default().with_retry(orca::distribution::RetryPolicy::none()))
        .build()
        .unwrap();
    let folder = sample_folder(open.dir.path());
    store
        .push_dir(&open.reference("a/b:1"), &folder, &PushOptions::default())
        .await
        .unwrap();
    store.resolve(&open.reference("a/b:1")).await.unwrap();

    let error = store.resolve(&locked.reference("a/b:1")).await.unwrap_err();
    assert_eq!(error.code(), "Unauthorized", "{}", error.full_message());
    let message = error.full_message();
    assert!(message.contains(unset), "{message}");
    assert!(
        message.contains(&locked.mock.host().to_string()),
        "{message}"
    );
}
