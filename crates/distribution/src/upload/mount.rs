//! Cross-repository mount: `POST …/blobs/uploads/?mount=&from=`.

use http::Method;
use orca_auth::{Action, Scope};
use orca_manifest::Digest;
use orca_reference::Reference;

use super::{UploadSession, session_from};
use crate::client::{Client, push_scope};
use crate::error::Error;
use crate::transport::Call;

/// What a mount request did.
#[derive(Debug)]
pub enum MountOutcome {
    /// The blob is now in the target repository.
    Mounted,
    /// The registry did not mount; it opened an upload session instead.
    NotMounted(UploadSession),
}

impl Client {
    /// Cross-repository mount: `POST …/blobs/uploads/?mount=<digest>&from=<repository>`.
    pub async fn mount_blob(
        &self,
        target: &Reference,
        from_repository: &str,
        digest: &Digest,
    ) -> Result<MountOutcome, Error> {
        let mut url = url::Url::parse(&self.uploads_url(target)).map_err(|e| Error::Config {
            message: "cannot build the upload URL".into(),
            source: Some(Box::new(e)),
        })?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from_repository);
        let mut scopes = push_scope(target.repository());
        scopes.push(Scope::repository(from_repository, &[Action::Pull]));
        let call = Call::new(Method::POST, url.to_string(), target.registry(), scopes);
        let response = self.inner.send_expect(call, &[201, 202]).await?;
        if response.status.as_u16() == 201 {
            return Ok(MountOutcome::Mounted);
        }
        Ok(MountOutcome::NotMounted(session_from(&response)?))
    }
}
