//! Choosing by platform: an entry of an index, or a manifest's own platform read from
//! its image config (what `--platform` means in ORAS for each).

use orca_manifest::{Descriptor, Platform, media_types};
use orca_reference::Reference;

use crate::Error;
use crate::artifact_store::{ArtifactStore, remote};
use crate::results::ManifestContent;
use crate::telemetry;

/// The largest image config read to learn a manifest's platform (configs are a few KiB).
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// The entry of `index` (an image index or manifest list) matching `platform`; without a
/// platform, an error that lists the platforms there are.
pub(crate) fn choose_from_index<'a>(
    reference: &str,
    index: &'a ManifestContent,
    platform: Option<&Platform>,
) -> Result<&'a Descriptor, Error> {
    let entries = index.manifest.manifests();
    let listed = || {
        let names: Vec<String> = entries
            .iter()
            .map(|entry| {
                entry.platform.as_ref().map_or_else(
                    || format!("{} (no platform)", entry.digest),
                    ToString::to_string,
                )
            })
            .collect();
        if names.is_empty() {
            "it lists no manifests".to_owned()
        } else {
            format!("it lists {}", names.join(", "))
        }
    };
    let Some(platform) = platform else {
        return Err(Error::InvalidArtifact {
            reference: reference.to_owned(),
            message: format!(
                "it names an index, not one artifact ({}); choose a platform (`--platform os/arch` in the CLI) or fetch one of its manifests by digest",
                listed()
            ),
            source: None,
        });
    };
    index
        .manifest
        .manifest_for(platform)
        .ok_or_else(|| Error::ArtifactNotFound {
            reference: reference.to_owned(),
            source: Some(
                format!(
                    "the index has no manifest for platform {platform}; {}",
                    listed()
                )
                .into(),
            ),
        })
}

impl ArtifactStore {
    /// For a `platform` asked of a manifest that is not an index: its platform, read from
    /// its image config (from the cache when there, else fetched and verified), checked
    /// against `wanted` and recorded in `content`'s descriptor, as ORAS does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArtifact`] when its config is not an image config (an artifact
    /// names no platform) or cannot be read; [`Error::ArtifactNotFound`] when it is for
    /// another platform; the registry's errors.
    pub(crate) async fn check_platform(
        &self,
        reference: &Reference,
        reference_text: &str,
        content: &mut ManifestContent,
        wanted: &Platform,
    ) -> Result<(), Error> {
        let invalid =
            |message: String, source: Option<orca_manifest::Error>| Error::InvalidArtifact {
                reference: reference_text.to_owned(),
                message,
                source: source.map(|e| Box::new(e) as _),
            };
        let config = match content.manifest.config() {
            Some(config)
                if matches!(
                    config.media_type.as_str(),
                    media_types::OCI_IMAGE_CONFIG | media_types::DOCKER_CONFIG
                ) =>
            {
                config.clone()
            }
            other => {
                return Err(invalid(
                    format!(
                        "platform {wanted} was asked for, but it is a single manifest whose config ({}) is not an image config, so it names no platform; ask for it without one",
                        other.map_or("none", |c| c.media_type.as_str())
                    ),
                    None,
                ));
            }
        };
        if config.size > MAX_CONFIG_BYTES {
            return Err(invalid(
                format!(
                    "its image config is {} bytes, more than the {MAX_CONFIG_BYTES} read to learn its platform",
                    config.size
                ),
                None,
            ));
        }
        let bytes = self.config_bytes(reference, &config).await?;
        let platform = Platform::from_image_config(&bytes).map_err(|e| {
            invalid(
                format!("its image config {} cannot be read", config.digest),
                Some(e),
            )
        })?;
        if !platform.matches(wanted) {
            return Err(Error::ArtifactNotFound {
                reference: reference_text.to_owned(),
                source: Some(
                    format!("it is a manifest for platform {platform}, not {wanted}").into(),
                ),
            });
        }
        content.descriptor.platform = Some(platform);
        Ok(())
    }

    /// The config blob of the manifest `reference` names (of an index, of its entry for
    /// `platform`), as `oras manifest fetch-config` gives it: verified, from the cache
    /// when there, at most 4 MiB. Returns the config's descriptor and bytes.
    ///
    /// # Errors
    ///
    /// As [`ArtifactStore::fetch_manifest_for`] with a platform, else as
    /// [`ArtifactStore::fetch_manifest`]; [`Error::InvalidArtifact`] for an index without a
    /// platform (it has no config), or a config over 4 MiB.
    pub async fn fetch_config(
        &self,
        reference: &str,
        platform: Option<&Platform>,
    ) -> Result<(Descriptor, Vec<u8>), Error> {
        let content = match platform {
            Some(platform) => self.fetch_manifest_for(reference, platform).await?,
            None => self.fetch_manifest(reference).await?,
        };
        let invalid = |message: String| Error::InvalidArtifact {
            reference: reference.to_owned(),
            message,
            source: None,
        };
        let Some(config) = content.manifest.config().cloned() else {
            return Err(if content.manifest.is_index() {
                choose_from_index(reference, &content, None)
                    .err()
                    .unwrap_or_else(|| invalid("an index has no config".to_owned()))
            } else {
                invalid("the manifest has no config".to_owned())
            });
        };
        if config.size > MAX_CONFIG_BYTES {
            return Err(invalid(format!(
                "its config is {} bytes, more than the {MAX_CONFIG_BYTES} read of a config",
                config.size
            )));
        }
        let (parsed, _) = self.locate(reference)?;
        let bytes = self.config_bytes(&parsed, &config).await?;
        Ok((config, bytes))
    }

    /// A small blob (an image config): from the cache when there, else fetched, verified
    /// and cached.
    async fn config_bytes(
        &self,
        reference: &Reference,
        config: &Descriptor,
    ) -> Result<Vec<u8>, Error> {
        let cache = self.inner.cache.as_ref();
        if let Some(cache) = cache {
            match cache.read_blob(&config.digest) {
                Ok(Some(bytes)) => {
                    telemetry::cache_hit("blob");
                    let _ = cache.touch(&config.digest);
                    return Ok(bytes);
                }
                Ok(None) => telemetry::cache_miss("blob"),
                Err(e) => {
                    tracing::warn!(digest = %config.digest, error = %e, "the cached config is unusable; fetching it again");
                    telemetry::cache_miss("blob");
                }
            }
        }
        let bytes = self
            .inner
            .client
            .fetch_blob(reference, config)
            .await
            .map_err(|e| remote(reference, e))?
            .bytes()
            .await
            .map_err(|e| remote(reference, e))?;
        if let Some(cache) = cache
            && let Err(e) = cache.put_blob(config, &bytes)
        {
            tracing::warn!(error = %e, "cannot cache the image config");
        }
        Ok(bytes.to_vec())
    }
}
