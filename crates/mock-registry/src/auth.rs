//! Authentication and authorisation: Basic, the Docker-style token service and ACR's
//! exchange, with scopes enforced on every request.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use crate::api::{ApiError, Code};
use crate::body::{ResBody, full};
use crate::config::{Access, AcrService, AuthMode, User};
use crate::faults::Faults;
use crate::log::AuthSeen;
use crate::routes::{self, Route};
use crate::store::random_id;
use crate::wire::basic_credentials;

/// The user name that means "the password is a refresh token" (ACR).
const REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

/// An action on a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

/// What a request needs.
#[derive(Debug, Clone)]
pub(crate) enum Need {
    /// Any authenticated caller (`GET /v2/`).
    Any,
    /// These actions on this repository.
    Repository { name: String, actions: Vec<Action> },
    /// `registry:catalog:*`.
    Catalog,
}

impl Need {
    fn scope(&self) -> Option<String> {
        match self {
            Need::Any => None,
            Need::Catalog => Some("registry:catalog:*".to_owned()),
            Need::Repository { name, actions } => {
                let mut list: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
                // Docker clients ask for pull with push; challenge the same way.
                if list.contains(&"push") && !list.contains(&"pull") {
                    list.insert(0, "pull");
                }
                Some(format!("repository:{name}:{}", list.join(",")))
            }
        }
    }
}

/// One granted scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    kind: String,
    name: String,
    actions: Vec<String>,
}

/// What the caller of one request may do.
#[derive(Debug, Clone)]
pub(crate) enum Authz {
    /// No auth configured: everything.
    Everything,
    /// A Basic user.
    Basic(Access),
    /// A token's grants.
    Token(Vec<Grant>),
}

impl Authz {
    pub(crate) fn allows(&self, name: &str, action: Action) -> bool {
        match self {
            Authz::Everything | Authz::Basic(Access::Full) => true,
            Authz::Basic(Access::Pull) => action == Action::Pull,
            Authz::Token(grants) => grants.iter().any(|g| {
                g.kind == "repository"
                    && g.name == name
                    && g.actions.iter().any(|a| a == action.as_str() || a == "*")
            }),
        }
    }

    fn satisfies(&self, need: &Need) -> bool {
        match need {
            Need::Any => true,
            Need::Repository { name, actions } => actions.iter().all(|a| self.allows(name, *a)),
            Need::Catalog => match self {
                Authz::Everything | Authz::Basic(Access::Full) => true,
                Authz::Basic(_) => false,
                Authz::Token(grants) => grants
                    .iter()
                    .any(|g| g.kind == "registry" && g.name == "catalog"),
            },
        }
    }
}

/// Who a token or refresh token was issued to.
#[derive(Debug, Clone)]
struct Principal {
    subject: String,
    /// `None`: anonymous.
    access: Option<Access>,
}

#[derive(Debug)]
struct TokenInfo {
    grants: Vec<Grant>,
    issued: Instant,
    lifetime: Duration,
}

/// The auth state of one registry.
pub(crate) struct Auth {
    mode: AuthMode,
    tokens: Mutex<HashMap<String, TokenInfo>>,
    refresh_tokens: Mutex<HashMap<String, Principal>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Which kind of `Authorization` a request carried, for the log (never the secret).
pub(crate) fn seen(headers: &HeaderMap) -> AuthSeen {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return AuthSeen::None;
    };
    if let Some((user, _)) = basic_credentials(headers) {
        return AuthSeen::Basic { user };
    }
    let scheme = value
        .to_str()
        .ok()
        .and_then(|v| v.split(' ').next())
        .unwrap_or_default();
    if scheme.eq_ignore_ascii_case("bearer") {
        AuthSeen::Bearer
    } else {
        AuthSeen::Other
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A JWT-shaped opaque token: `header.payload.signature`, base64url, with `exp`.
fn jwt(subject: &str, audience: &str, lifetime: Duration, grants: &[Grant]) -> String {
    let now = unix_now();
    let header = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "orca-mock"});
    let access: Vec<_> = grants
        .iter()
        .map(|g| serde_json::json!({"type": g.kind, "name": g.name, "actions": g.actions}))
        .collect();
    let payload = serde_json::json!({
        "iss": "orca-mock-registry",
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime.as_secs(),
        "jti": random_id(),
        "access": access,
    });
    let signature: [u8; 32] = rand::random();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Parse one scope (`repository:a/b:pull,push`, `registry:catalog:*`,
/// `repository(plugin):a:pull`).
fn parse_scope(scope: &str) -> Option<Grant> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let kind = kind.split('(').next().unwrap_or(kind);
    if name.is_empty() {
        return None;
    }
    Some(Grant {
        kind: kind.to_owned(),
        name: name.to_owned(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<ResBody> {
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

impl Auth {
    pub(crate) fn new(mode: AuthMode) -> Auth {
        Auth {
            mode,
            tokens: Mutex::default(),
            refresh_tokens: Mutex::default(),
        }
    }

    fn user(&self, name: &str, password: &str) -> Option<&User> {
        self.mode
            .users()
            .iter()
            .find(|u| u.name == name && u.verify(password))
    }

    fn token_realm(&self, base_url: &str) -> String {
        match self.mode {
            AuthMode::Acr(_) => format!("{base_url}/oauth2/token"),
            _ => format!("{base_url}/token"),
        }
    }

    fn anonymous_pull(&self) -> bool {
        match &self.mode {
            AuthMode::Bearer(s) => s.anonymous_pull,
            AuthMode::Acr(s) => s.anonymous_pull,
            _ => false,
        }
    }

    fn lifetime(&self) -> Duration {
        match &self.mode {
            AuthMode::Bearer(s) => s.token_lifetime,
            AuthMode::Acr(s) => s.token_lifetime,
            _ => Duration::from_secs(300),
        }
    }

    fn challenge(
        &self,
        base_url: &str,
        host: &str,
        need: &Need,
        error: Option<&str>,
    ) -> Response<ResBody> {
        let value = if let AuthMode::Basic { .. } = &self.mode {
            r#"Basic realm="orca-mock-registry""#.to_owned()
        } else {
            let mut v = format!(
                r#"Bearer realm="{}",service="{host}""#,
                self.token_realm(base_url)
            );
            if let Some(scope) = need.scope() {
                let _ = write!(v, r#",scope="{scope}""#);
            }
            if let Some(error) = error {
                let _ = write!(v, r#",error="{error}""#);
            }
            v
        };
        let detail = need.scope().map(|s| serde_json::json!({"scope": s}));
        let mut err = ApiError::new(Code::Unauthorized);
        if let Some(d) = detail {
            err = err.detail(d);
        }
        let mut resp = err.into_response();
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }

    /// Decide whether a request may proceed.
    pub(crate) fn authorize(
        &self,
        headers: &HeaderMap,
        need: &Need,
        base_url: &str,
        host: &str,
        faults: &Faults,
    ) -> Result<Authz, Box<Response<ResBody>>> {
        match &self.mode {
            AuthMode::None => Ok(Authz::Everything),
            AuthMode::Basic { .. } => {
                let Some((name, password)) = basic_credentials(headers) else {
                    return Err(Box::new(self.challenge(base_url, host, need, None)));
                };
                let Some(user) = self.user(&name, &password) else {
                    return Err(Box::new(self.challenge(base_url, host, need, None)));
                };
                let authz = Authz::Basic(user.access);
                if authz.satisfies(need) {
                    Ok(authz)
                } else {
                    Err(Box::new(ApiError::new(Code::Denied).into_response()))
                }
            }
            AuthMode::Bearer(_) | AuthMode::Acr(_) => {
                let Some(token) = bearer_token(headers) else {
                    return Err(Box::new(self.challenge(base_url, host, need, None)));
                };
                let grants = {
                    let tokens = lock(&self.tokens);
                    let Some(info) = tokens.get(token) else {
                        return Err(Box::new(self.challenge(
                            base_url,
                            host,
                            need,
                            Some("invalid_token"),
                        )));
                    };
                    let lifetime = faults
                        .token_expiry()
                        .map_or(info.lifetime, |e| e.min(info.lifetime));
                    if info.issued.elapsed() >= lifetime {
                        return Err(Box::new(self.challenge(
                            base_url,
                            host,
                            need,
                            Some("invalid_token"),
                        )));
                    }
                    info.grants.clone()
                };
                let authz = Authz::Token(grants);
                if authz.satisfies(need) {
                    Ok(authz)
                } else {
                    Err(Box::new(self.challenge(
                        base_url,
                        host,
                        need,
                        Some("insufficient_scope"),
                    )))
                }
            }
        }
    }

    /// Issue an access token for `principal` limited to `scopes` and what it may do.
    fn issue(&self, principal: &Principal, scopes: &[String], service: &str) -> (String, Duration) {
        let mut grants: Vec<Grant> = Vec::new();
        for scope in scopes.iter().flat_map(|s| s.split(' ')) {
            let Some(mut grant) = parse_scope(scope) else {
                continue;
            };
            let allowed: &[&str] = match (principal.access, grant.kind.as_str()) {
                (Some(Access::Full), "repository") => &["pull", "push", "delete", "*"],
                (Some(Access::Full), "registry") => &["*"],
                (Some(Access::Pull), "repository") => &["pull"],
                (None, "repository") if self.anonymous_pull() => &["pull"],
                _ => &[],
            };
            grant.actions.retain(|a| allowed.contains(&a.as_str()));
            if grant.actions.iter().any(|a| a == "*") && grant.kind == "repository" {
                grant.actions = vec!["pull".into(), "push".into(), "delete".into()];
            }
            if !grant.actions.is_empty() && !grants.contains(&grant) {
                grants.push(grant);
            }
        }
        let lifetime = self.lifetime();
        let token = jwt(&principal.subject, service, lifetime, &grants);
        lock(&self.tokens).insert(
            token.clone(),
            TokenInfo {
                grants,
                issued: Instant::now(),
                lifetime,
            },
        );
        (token, lifetime)
    }

    fn refresh_token_for(&self, principal: Principal, service: &str) -> String {
        let token = jwt(
            &principal.subject,
            service,
            Duration::from_secs(3 * 3600),
            &[],
        );
        lock(&self.refresh_tokens).insert(token.clone(), principal);
        token
    }

    fn refresh_principal(&self, token: &str) -> Option<Principal> {
        lock(&self.refresh_tokens).get(token).cloned()
    }

    fn password_principal(&self, name: &str, password: &str) -> Option<Principal> {
        if name == REFRESH_TOKEN_USER {
            return self.refresh_principal(password);
        }
        self.user(name, password).map(|u| Principal {
            subject: u.name.clone(),
            access: Some(u.access),
        })
    }

    /// `POST /oauth2/exchange`: an Azure AD token for a refresh token.
    fn exchange(
        &self,
        acr_service: &AcrService,
        params: &[(String, String)],
        service: &str,
    ) -> Response<ResBody> {
        let get = |k: &str| routes::first(params, k);
        if get("grant_type") != Some("access_token") {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be access_token",
            );
        }
        if let Some(tenant) = &acr_service.tenant
            && get("tenant") != Some(tenant.as_str())
        {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_request", "wrong tenant");
        }
        let presented = get("access_token").unwrap_or_default();
        let Some(index) = acr_service
            .aad_tokens
            .iter()
            .position(|t| t.expose() == presented)
        else {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_grant",
                "access token not accepted",
            );
        };
        let refresh = self.refresh_token_for(
            Principal {
                subject: format!("aad-principal-{index}"),
                access: Some(Access::Full),
            },
            service,
        );
        json_response(
            StatusCode::OK,
            &serde_json::json!({ "refresh_token": refresh }),
        )
    }

    /// Serve `/token`, `/oauth2/token` and `/oauth2/exchange`.
    pub(crate) fn token_endpoint(
        &self,
        route: &Route,
        method: &Method,
        headers: &HeaderMap,
        query: &str,
        form: &str,
        host: &str,
    ) -> Response<ResBody> {
        let acr = matches!(self.mode, AuthMode::Acr(_));
        let bearer = matches!(self.mode, AuthMode::Bearer(_));
        let ok_route = match route {
            Route::Token => bearer,
            Route::OAuth2Token | Route::OAuth2Exchange => acr,
            _ => false,
        };
        if !ok_route {
            return not_found();
        }
        let params = if *method == Method::POST {
            routes::pairs(form)
        } else if *method == Method::GET && !matches!(route, Route::OAuth2Exchange) {
            routes::pairs(query)
        } else {
            return ApiError::new(Code::Unsupported).into_response();
        };
        let get = |k: &str| routes::first(&params, k);
        if let Some(service) = get("service")
            && service != host
        {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "unknown service",
            );
        }
        let service = get("service").unwrap_or(host).to_owned();
        let scopes: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .collect();

        if let (Route::OAuth2Exchange, AuthMode::Acr(acr_service)) = (route, &self.mode) {
            return self.exchange(acr_service, &params, &service);
        }

        // Who is asking.
        let principal = if *method == Method::POST {
            match get("grant_type") {
                Some("password") => self.password_principal(
                    get("username").unwrap_or_default(),
                    get("password").unwrap_or_default(),
                ),
                Some("refresh_token") => {
                    self.refresh_principal(get("refresh_token").unwrap_or_default())
                }
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "unsupported_grant_type",
                        "grant_type must be password or refresh_token",
                    );
                }
            }
        } else if headers.contains_key(header::AUTHORIZATION) {
            match basic_credentials(headers) {
                Some((name, password)) => self.password_principal(&name, &password),
                None => None,
            }
        } else {
            Some(Principal {
                subject: "anonymous".to_owned(),
                access: None,
            })
        };
        let Some(principal) = principal else {
            return ApiError::new(Code::Unauthorized)
                .detail("invalid credentials")
                .into_response();
        };
        let (token, lifetime) = self.issue(&principal, &scopes, &service);
        let mut body = if acr {
            serde_json::json!({ "access_token": token })
        } else {
            serde_json::json!({
                "token": token,
                "access_token": token,
                "expires_in": lifetime.as_secs(),
                "issued_at": httpdate_rfc3339(),
            })
        };
        let wants_refresh =
            get("access_type") == Some("offline") || get("offline_token") == Some("true");
        if !acr && wants_refresh && principal.access.is_some() {
            body["refresh_token"] = self.refresh_token_for(principal, &service).into();
        }
        json_response(StatusCode::OK, &body)
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<ResBody> {
    json_response(
        status,
        &serde_json::json!({"error": error, "error_description": description}),
    )
}

pub(crate) fn not_found() -> Response<ResBody> {
    let mut resp = Response::new(full("404 page not found\n"));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The current time as RFC 3339 (UTC, seconds).
#[allow(clippy::many_single_char_names)] // the civil-from-days algorithm's customary names
fn httpdate_rfc3339() -> String {
    let secs = unix_now();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days.cast_signed() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse() {
        let g = parse_scope("repository:a/b:pull,push").unwrap();
        assert_eq!((g.kind.as_str(), g.name.as_str()), ("repository", "a/b"));
        assert_eq!(g.actions, ["pull", "push"]);
        let g = parse_scope("repository(plugin):x:pull").unwrap();
        assert_eq!(g.kind, "repository");
        assert_eq!(parse_scope("registry:catalog:*").unwrap().actions, ["*"]);
        assert!(parse_scope("nonsense").is_none());
    }

    #[test]
    fn rfc3339_shape() {
        let t = httpdate_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z'));
    }
}
