//! A small hyper client for raw requests.

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A response read whole.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The first error code of a spec error body; panics when the body is not one.
    pub(crate) fn code(&self) -> String {
        let v = self.json();
        let errors = v["errors"].as_array().expect("errors array");
        assert!(!errors.is_empty(), "empty errors array");
        assert!(errors[0]["message"].is_string() || errors[0]["message"].is_null());
        errors[0]["code"].as_str().expect("code string").to_owned()
    }
}

/// A plain HTTP/1.1 client with connection reuse.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    /// An `Authorization` value sent when a request sets none.
    authorization: Option<String>,
}

impl Http {
    pub(crate) fn new() -> Http {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            authorization: None,
        }
    }

    /// A client that sends `authorization` on every request that sets none.
    pub(crate) fn with_authorization(authorization: String) -> Http {
        Http {
            authorization: Some(authorization),
            ..Http::new()
        }
    }

    /// Send a request; panics on transport errors.
    pub(crate) async fn req(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        self.try_req(method, url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    /// Send a request; a transport error (also while reading the body) is an `Err`.
    pub(crate) async fn try_req(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Resp, String> {
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        if let Some(a) = &self.authorization
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            builder = builder.header("authorization", a);
        }
        let req = builder.body(Full::new(body.into())).expect("request");
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("body: {e:?}"))?
            .to_bytes();
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    pub(crate) async fn get(&self, url: &str) -> Resp {
        self.req("GET", url, &[], Bytes::new()).await
    }
}
