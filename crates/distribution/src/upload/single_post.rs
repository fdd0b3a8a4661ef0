//! Single-request upload: `POST …/blobs/uploads/?digest=` carrying the blob.

use bytes::Bytes;
use http::Method;
use http::header::{self};
use orca_manifest::Descriptor;
use orca_reference::Reference;

use super::{OCTET_STREAM, PushOutcome, PushedBlob, session_from};
use crate::client::{Client, push_scope};
use crate::error::Error;
use crate::transport::{Body, Call};

impl Client {
    /// Push a blob in one request: `POST …/blobs/uploads/?digest=<d>` with the body.
    ///
    /// Registries that do not support this answer 202 with a session; the blob is then
    /// sent with a `PUT` to it.
    pub async fn push_blob_single_post(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
        bytes: Bytes,
    ) -> Result<PushedBlob, Error> {
        let _permit = self.permit(repository, Some(descriptor.size)).await?;
        let mut url =
            url::Url::parse(&self.uploads_url(repository)).map_err(|e| Error::Config {
                message: "cannot build the upload URL".into(),
                source: Some(Box::new(e)),
            })?;
        url.query_pairs_mut()
            .append_pair("digest", descriptor.digest.as_str());
        let call = Call::new(
            Method::POST,
            url.to_string(),
            repository.registry(),
            push_scope(repository.repository()),
        )
        .header(header::CONTENT_TYPE, OCTET_STREAM)?
        .body(Body::Bytes(bytes.clone()));
        let response = self.inner.send_expect(call, &[201, 202]).await?;
        let pushed = |warnings| {
            let size = Some(descriptor.size);
            let sent = (descriptor.size, descriptor.size);
            self.observe_upload(repository, Some(&descriptor.digest), sent, size);
            PushedBlob {
                digest: descriptor.digest.clone(),
                size: descriptor.size,
                outcome: PushOutcome::Uploaded,
                warnings,
            }
        };
        if response.status.as_u16() == 201 {
            return Ok(pushed(response.warnings));
        }
        let session = session_from(&response)?;
        drop(response);
        let call = Call::new(
            Method::PUT,
            session.with_digest(&descriptor.digest),
            repository.registry(),
            push_scope(repository.repository()),
        )
        .header(header::CONTENT_TYPE, OCTET_STREAM)?
        .body(Body::Bytes(bytes));
        let response = self.inner.send_expect(call, &[201]).await?;
        Ok(pushed(response.warnings))
    }
}
