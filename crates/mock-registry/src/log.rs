//! The request log tests read.

use http::{Method, StatusCode};

/// Which kind of `Authorization` a request presented. Never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthSeen {
    /// No `Authorization` header.
    None,
    /// Basic, with this user name.
    Basic {
        /// The user name.
        user: String,
    },
    /// A bearer token.
    Bearer,
    /// Some other scheme, or a malformed header.
    Other,
}

/// One request as the registry saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The method.
    pub method: Method,
    /// The path with the query, as sent. Requests to the blob-storage listener start with
    /// `/storage/`.
    pub path: String,
    /// The status answered.
    pub status: StatusCode,
    /// Which auth was presented.
    pub auth: AuthSeen,
}
