//! The distribution spec's error codes and error bodies.

use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{ResBody, full};

/// The spec's error codes: `orca-manifest`'s one table (spelling, message, status), shared
/// with the client. The mock writes its own bodies with it; it never reads the client's.
pub(crate) use orca_manifest::registry_error::ErrorCode as Code;

use crate::wire::{ERROR_CONTENT_TYPE, error_body, error_status as status_of};

/// An error answer: status, code, detail.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: Code,
    pub(crate) detail: Option<serde_json::Value>,
}

impl ApiError {
    pub(crate) fn new(code: Code) -> ApiError {
        ApiError {
            status: status_of(&code),
            code,
            detail: None,
        }
    }

    pub(crate) fn detail(mut self, detail: impl Into<serde_json::Value>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    pub(crate) fn into_response(self) -> Response<ResBody> {
        let body = error_body(&self.code, self.detail);
        let mut resp = Response::new(full(body));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(ERROR_CONTENT_TYPE),
        );
        resp
    }
}

impl From<Code> for ApiError {
    fn from(code: Code) -> Self {
        ApiError::new(code)
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::new(Code::Unknown).detail(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    const ALL: [Code; 17] = [
        Code::BlobUnknown,
        Code::BlobUploadInvalid,
        Code::BlobUploadUnknown,
        Code::DigestInvalid,
        Code::ManifestBlobUnknown,
        Code::ManifestInvalid,
        Code::ManifestUnknown,
        Code::NameInvalid,
        Code::NameUnknown,
        Code::SizeInvalid,
        Code::Unauthorized,
        Code::Denied,
        Code::Unsupported,
        Code::TooManyRequests,
        Code::RangeInvalid,
        Code::Unavailable,
        Code::Unknown,
    ];

    #[tokio::test]
    async fn error_bodies() {
        assert_eq!(ALL.len(), 17);
        assert_eq!(
            Code::known().count(),
            ALL.len(),
            "ALL lists the shared table"
        );
        let mut lines = Vec::new();
        for code in ALL {
            let resp = ApiError::new(code).detail("d").into_response();
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            lines.push(format!("{status} {}", String::from_utf8_lossy(&body)));
        }
        insta::assert_snapshot!(lines.join("\n"));
    }
}
