//! Every auth mode's enforcement, against the mock.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use orca_mock_registry::{
    AcrService, AuthMode, AuthSeen, Config, MockRegistry, Secret, TokenService, User,
};

use crate::client::Resp;
use crate::target::{Target, mock};

fn reg(t: &Target) -> &MockRegistry {
    t.mock.as_ref().expect("a mock target")
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Upload a blob with an `Authorization` header; returns the final status.
async fn push_blob_as(t: &Target, repo: &str, auth: &str, data: &[u8]) -> u16 {
    let r = t
        .http
        .req(
            "POST",
            &t.url(&format!("/v2/{repo}/blobs/uploads/")),
            &[("authorization", auth)],
            "",
        )
        .await;
    if r.status != 202 {
        return r.status;
    }
    let location = t.resolve(r.header("location").expect("Location"));
    let digest = orca_manifest::Digest::sha256(data);
    t.http
        .req(
            "PUT",
            &Target::with_query(&location, &format!("digest={digest}")),
            &[("authorization", auth)],
            bytes::Bytes::copy_from_slice(data),
        )
        .await
        .status
}

fn challenge(r: &Resp) -> String {
    assert_eq!(r.status, 401, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "UNAUTHORIZED");
    r.header("www-authenticate")
        .expect("WWW-Authenticate")
        .to_owned()
}

#[tokio::test]
async fn no_auth_allows_everything_and_logs_none() {
    let t = mock(Config::default()).await;
    t.push_blob("a/none", b"x").await;
    assert!(reg(&t).requests().iter().all(|r| r.auth == AuthSeen::None));
    assert_eq!(t.http.get(&t.url("/v2/_catalog")).await.status, 200);
}

#[tokio::test]
async fn basic_auth_enforced() {
    let t = mock(Config::default().with_auth(AuthMode::Basic {
        users: vec![User::new("admin", "pw"), User::pull_only("reader", "rpw")],
    }))
    .await;
    let r = t.http.get(&t.url("/v2/")).await;
    assert_eq!(challenge(&r), r#"Basic realm="orca-mock-registry""#);
    let r = t
        .http
        .req(
            "GET",
            &t.url("/v2/"),
            &[("authorization", &basic("admin", "wrong"))],
            "",
        )
        .await;
    assert_eq!(r.status, 401);
    let r = t
        .http
        .req(
            "GET",
            &t.url("/v2/"),
            &[("authorization", &basic("admin", "pw"))],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        push_blob_as(&t, "a/basic", &basic("admin", "pw"), b"data").await,
        201
    );
    let r = t
        .http
        .req(
            "POST",
            &t.url("/v2/a/basic/blobs/uploads/"),
            &[("authorization", &basic("reader", "rpw"))],
            "",
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "DENIED");
    let digest = orca_manifest::Digest::sha256(b"data");
    let r = t
        .http
        .req(
            "GET",
            &t.url(&format!("/v2/a/basic/blobs/{digest}")),
            &[("authorization", &basic("reader", "rpw"))],
            "",
        )
        .await;
    assert_eq!(r.status, 200, "a pull-only user may pull");
    let logged = reg(&t).requests();
    assert_eq!(logged[0].auth, AuthSeen::None);
    assert_eq!(
        logged[1].auth,
        AuthSeen::Basic {
            user: "admin".into()
        }
    );
    let debug = format!("{logged:?}");
    assert!(
        !debug.contains("rpw") && !debug.contains("wrong"),
        "no password in the log"
    );
}

fn bearer_mode(anonymous_pull: bool) -> Config {
    Config::default().with_auth(AuthMode::Bearer(TokenService {
        users: vec![User::new("u", "p"), User::pull_only("r", "rp")],
        anonymous_pull,
        ..TokenService::default()
    }))
}

async fn token(t: &Target, auth: Option<&str>, scopes: &[&str]) -> Resp {
    let scope_params = scopes
        .iter()
        .map(|s| format!("scope={s}"))
        .collect::<Vec<_>>()
        .join("&");
    let url = t.url(&format!("/token?service={}&{scope_params}", reg(t).host()));
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    t.http.req("GET", &url, &headers, "").await
}

async fn bearer_for(t: &Target, auth: Option<&str>, scopes: &[&str]) -> String {
    let r = token(t, auth, scopes).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    format!("Bearer {}", r.json()["token"].as_str().expect("token"))
}

#[tokio::test]
async fn bearer_challenge_and_token_response() {
    let t = mock(bearer_mode(false)).await;
    let host = reg(&t).host().to_owned();
    let r = t.http.get(&t.url("/v2/")).await;
    assert_eq!(
        challenge(&r),
        format!(r#"Bearer realm="{}/token",service="{host}""#, t.base)
    );
    let r = t
        .http
        .req("POST", &t.url("/v2/a/b/blobs/uploads/"), &[], "")
        .await;
    assert_eq!(
        challenge(&r),
        format!(
            r#"Bearer realm="{}/token",service="{host}",scope="repository:a/b:pull,push""#,
            t.base
        )
    );
    let r = token(&t, Some(&basic("u", "p")), &["repository:a/b:pull,push"]).await;
    let body = r.json();
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].is_string());
    let r = token(&t, Some(&basic("u", "wrong")), &["repository:a/b:pull"]).await;
    assert_eq!(r.status, 401);
    let r = t
        .http
        .get(&t.url("/token?service=elsewhere&scope=repository:a:pull"))
        .await;
    assert_eq!(r.status, 400, "a token for another service is refused");
}

#[tokio::test]
async fn bearer_scopes_enforced() {
    let t = mock(bearer_mode(false)).await;
    let push_a = bearer_for(&t, Some(&basic("u", "p")), &["repository:a/x:pull,push"]).await;
    assert_eq!(push_blob_as(&t, "a/x", &push_a, b"content").await, 201);
    let digest = orca_manifest::Digest::sha256(b"content");
    // A token for a/x cannot push to b/x.
    assert_eq!(push_blob_as(&t, "b/x", &push_a, b"content").await, 401);
    // A pull token cannot push.
    let pull_a = bearer_for(&t, Some(&basic("u", "p")), &["repository:a/x:pull"]).await;
    let r = t
        .http
        .req(
            "POST",
            &t.url("/v2/a/x/blobs/uploads/"),
            &[("authorization", &pull_a)],
            "",
        )
        .await;
    assert!(challenge(&r).contains(r#"error="insufficient_scope""#));
    // It can pull a/x but not b/x.
    let blob = |repo: &str| t.url(&format!("/v2/{repo}/blobs/{digest}"));
    assert_eq!(
        t.http
            .req("GET", &blob("a/x"), &[("authorization", &pull_a)], "")
            .await
            .status,
        200
    );
    assert_eq!(
        t.http
            .req("GET", &blob("b/x"), &[("authorization", &pull_a)], "")
            .await
            .status,
        401
    );
    // A pull-only user asking for push gets only pull.
    let reader = bearer_for(&t, Some(&basic("r", "rp")), &["repository:a/x:pull,push"]).await;
    assert_eq!(push_blob_as(&t, "a/x", &reader, b"more").await, 401);
    assert_eq!(
        t.http
            .req("GET", &blob("a/x"), &[("authorization", &reader)], "")
            .await
            .status,
        200
    );
    // Delete needs delete.
    let r = t
        .http
        .req("DELETE", &blob("a/x"), &[("authorization", &push_a)], "")
        .await;
    assert_eq!(r.status, 401);
    let delete = bearer_for(&t, Some(&basic("u", "p")), &["repository:a/x:delete"]).await;
    assert_eq!(
        t.http
            .req("DELETE", &blob("a/x"), &[("authorization", &delete)], "")
            .await
            .status,
        202
    );
    // Catalog needs registry:catalog:*.
    assert_eq!(
        t.http
            .req(
                "GET",
                &t.url("/v2/_catalog"),
                &[("authorization", &push_a)],
                ""
            )
            .await
            .status,
        401
    );
    let cat = bearer_for(&t, Some(&basic("u", "p")), &["registry:catalog:*"]).await;
    assert_eq!(
        t.http
            .req(
                "GET",
                &t.url("/v2/_catalog"),
                &[("authorization", &cat)],
                ""
            )
            .await
            .status,
        200
    );
    // Garbage tokens are invalid.
    let r = t
        .http
        .req(
            "GET",
            &t.url("/v2/"),
            &[("authorization", "Bearer nonsense")],
            "",
        )
        .await;
    assert!(challenge(&r).contains(r#"error="invalid_token""#));
    assert!(
        reg(&t)
            .requests()
            .iter()
            .any(|r| r.auth == AuthSeen::Bearer)
    );
}

#[tokio::test]
async fn bearer_anonymous_pull() {
    for allowed in [false, true] {
        let t = mock(bearer_mode(allowed)).await;
        let user = bearer_for(&t, Some(&basic("u", "p")), &["repository:pub/x:pull,push"]).await;
        assert_eq!(push_blob_as(&t, "pub/x", &user, b"public").await, 201);
        let anon = bearer_for(&t, None, &["repository:pub/x:pull,push"]).await;
        let digest = orca_manifest::Digest::sha256(b"public");
        let r = t
            .http
            .req(
                "GET",
                &t.url(&format!("/v2/pub/x/blobs/{digest}")),
                &[("authorization", &anon)],
                "",
            )
            .await;
        assert_eq!(
            r.status,
            if allowed { 200 } else { 401 },
            "anonymous_pull={allowed}"
        );
        assert_eq!(
            push_blob_as(&t, "pub/x", &anon, b"nope").await,
            401,
            "anonymous never pushes"
        );
    }
}

#[tokio::test]
async fn bearer_post_password_and_refresh_grants() {
    let t = mock(bearer_mode(false)).await;
    let host = reg(&t).host().to_owned();
    let form = format!(
        "grant_type=password&username=u&password=p&service={host}&scope=repository%3Ap%2Fq%3Apull%2Cpush&client_id=test&access_type=offline"
    );
    let r = t
        .http
        .req(
            "POST",
            &t.url("/token"),
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let body = r.json();
    let access = format!(
        "Bearer {}",
        body["access_token"].as_str().expect("access_token")
    );
    let refresh = body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    assert_eq!(push_blob_as(&t, "p/q", &access, b"x").await, 201);
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh}&service={host}&scope=repository%3Ap%2Fq%3Apull&client_id=test"
    );
    let r = t.http.req("POST", &t.url("/token"), &[], form).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["access_token"].is_string());
    let r = t
        .http
        .req(
            "POST",
            &t.url("/token"),
            &[],
            "grant_type=refresh_token&refresh_token=bogus",
        )
        .await;
    assert_eq!(r.status, 401);
    let r = t
        .http
        .req(
            "POST",
            &t.url("/token"),
            &[],
            "grant_type=password&username=u&password=bad",
        )
        .await;
    assert_eq!(r.status, 401);
}

fn acr_mode(anonymous_pull: bool) -> Config {
    Config::default().with_auth(AuthMode::Acr(AcrService {
        aad_tokens: vec![Secret::new("aad-token-1")],
        tenant: Some("tenant-1".into()),
        users: vec![User::new("admin", "adminpw")],
        anonymous_pull,
        ..AcrService::default()
    }))
}

fn jwt_exp(token: &str) -> u64 {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT-shaped");
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url"))
            .expect("json");
    payload["exp"].as_u64().expect("exp")
}

#[tokio::test]
async fn acr_exchange_and_token_flow() {
    let t = mock(acr_mode(false)).await;
    let host = reg(&t).host().to_owned();
    let r = t
        .http
        .req("POST", &t.url("/v2/acr/app/blobs/uploads/"), &[], "")
        .await;
    assert_eq!(
        challenge(&r),
        format!(
            r#"Bearer realm="{}/oauth2/token",service="{host}",scope="repository:acr/app:pull,push""#,
            t.base
        )
    );
    let form = |token: &str, tenant: &str| {
        format!("grant_type=access_token&service={host}&tenant={tenant}&access_token={token}")
    };
    let exchange = t.url("/oauth2/exchange");
    assert_eq!(
        t.http
            .req("POST", &exchange, &[], form("wrong", "tenant-1"))
            .await
            .status,
        401
    );
    assert_eq!(
        t.http
            .req("POST", &exchange, &[], form("aad-token-1", "other"))
            .await
            .status,
        401
    );
    let r = t
        .http
        .req("POST", &exchange, &[], form("aad-token-1", "tenant-1"))
        .await;
    assert_eq!(r.status, 200);
    let refresh = r.json()["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let r = t
        .http
        .req(
            "POST",
            &t.url("/oauth2/token"),
            &[],
            format!("grant_type=refresh_token&service={host}&scope=repository%3Aacr%2Fapp%3Apull%2Cpush&refresh_token={refresh}"),
        )
        .await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert!(body.get("expires_in").is_none(), "ACR sends no expires_in");
    let access = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert!(jwt_exp(&access) > 0);
    assert_eq!(
        push_blob_as(&t, "acr/app", &format!("Bearer {access}"), b"acr").await,
        201
    );
    assert_eq!(
        push_blob_as(&t, "acr/other", &format!("Bearer {access}"), b"acr").await,
        401
    );
    // GET with Basic: the refresh-token user, and an ordinary user.
    let scope_url = t.url(&format!(
        "/oauth2/token?service={host}&scope=repository:acr/app:pull"
    ));
    for auth in [
        basic("00000000-0000-0000-0000-000000000000", &refresh),
        basic("admin", "adminpw"),
    ] {
        let r = t
            .http
            .req("GET", &scope_url, &[("authorization", &auth)], "")
            .await;
        assert_eq!(r.status, 200);
        assert!(r.json()["access_token"].is_string());
    }
    let r = t
        .http
        .req(
            "GET",
            &scope_url,
            &[("authorization", &basic("admin", "nope"))],
            "",
        )
        .await;
    assert_eq!(r.status, 401);
    // Password grant.
    let r = t
        .http
        .req("POST", &t.url("/oauth2/token"), &[], format!("grant_type=password&service={host}&scope=repository%3Aacr%2Fapp%3Apull&username=admin&password=adminpw"))
        .await;
    assert_eq!(r.status, 200);
    // The Docker-style endpoint does not exist in ACR mode.
    assert_eq!(t.http.get(&t.url("/token")).await.status, 404);
}

#[tokio::test]
async fn acr_anonymous_pull() {
    for allowed in [false, true] {
        let t = mock(acr_mode(allowed)).await;
        let host = reg(&t).host().to_owned();
        let r = t
            .http
            .get(&t.url(&format!(
                "/oauth2/token?service={host}&scope=repository:acr/pub:pull"
            )))
            .await;
        assert_eq!(r.status, 200);
        let anon = format!(
            "Bearer {}",
            r.json()["access_token"].as_str().expect("token")
        );
        let r = t
            .http
            .req(
                "GET",
                &t.url("/v2/acr/pub/tags/list"),
                &[("authorization", &anon)],
                "",
            )
            .await;
        // Allowed: through auth to a 404 for the empty repository; refused: 401.
        assert_eq!(
            r.status,
            if allowed { 404 } else { 401 },
            "anonymous_pull={allowed}"
        );
    }
}

#[tokio::test]
async fn configured_token_lifetime_is_enforced() {
    let t = mock(Config::default().with_auth(AuthMode::Bearer(TokenService {
        users: vec![User::new("u", "p")],
        token_lifetime: std::time::Duration::ZERO,
        ..TokenService::default()
    })))
    .await;
    let r = token(&t, Some(&basic("u", "p")), &["repository:life/x:pull"]).await;
    assert_eq!(r.json()["expires_in"], 0);
    let bearer = format!("Bearer {}", r.json()["token"].as_str().expect("token"));
    let r = t
        .http
        .req(
            "GET",
            &t.url("/v2/life/x/tags/list"),
            &[("authorization", &bearer)],
            "",
        )
        .await;
    assert!(challenge(&r).contains(r#"error="invalid_token""#));
}
