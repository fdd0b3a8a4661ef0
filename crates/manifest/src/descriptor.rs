//! Content descriptors and platforms.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::clip;
use crate::{Digest, Error, annotations};

/// A content descriptor: what a manifest says about a piece of content it points at.
///
/// Unknown JSON fields are ignored when parsing; a manifest's digest is always taken over
/// the bytes received (see [`crate::Manifest`]), so nothing is lost by that.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// The digest of the referenced content.
    pub digest: Digest,
    /// The size of the referenced content in bytes.
    pub size: u64,
    /// Where else the content may be downloaded from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Arbitrary metadata.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::object::null_as_default"
    )]
    pub annotations: BTreeMap<String, String>,
    /// The content itself, base64, for small content embedded in the descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The artifact type of the referenced manifest, in indexes and referrers responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The platform of a manifest listed in an index.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::optional_object"
    )]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor with just media type, digest and size.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            data: None,
            artifact_type: None,
            platform: None,
        }
    }

    /// The descriptor of `bytes` under `media_type` (sha256).
    pub fn for_bytes(media_type: impl Into<String>, bytes: &[u8]) -> Descriptor {
        Descriptor::new(media_type, Digest::sha256(bytes), bytes.len() as u64)
    }

    /// The OCI empty descriptor: `application/vnd.oci.empty.v1+json`, content `{}`.
    pub fn empty() -> Descriptor {
        Descriptor::for_bytes(crate::media_types::OCI_EMPTY, crate::EMPTY_JSON)
    }

    /// Add an annotation (builder style).
    #[must_use]
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// The `org.opencontainers.image.title` annotation.
    pub fn title(&self) -> Option<&str> {
        self.annotations.get(annotations::TITLE).map(String::as_str)
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

/// The platform an image in an index runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Operating system (`linux`, `windows`, …).
    pub os: String,
    /// Operating system version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Required CPU features (reserved by the spec).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl Platform {
    /// Whether this platform (an index entry's) is what `wanted` asks for: the same
    /// operating system, and the same architecture, variant and OS version where `wanted`
    /// names them (an empty architecture or a `None` matches any). Features are not
    /// compared. Names compare as they are written, without the aliases (`aarch64`,
    /// `x86_64`) some tools accept.
    #[must_use]
    pub fn matches(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && (wanted.architecture.is_empty() || self.architecture == wanted.architecture)
            && wanted
                .variant
                .as_ref()
                .is_none_or(|v| self.variant.as_ref() == Some(v))
            && wanted
                .os_version
                .as_ref()
                .is_none_or(|v| self.os_version.as_ref() == Some(v))
    }

    /// The platform an image config (`application/vnd.oci.image.config.v1+json`, or
    /// Docker's `application/vnd.docker.container.image.v1+json`) describes: its `os`,
    /// `architecture`, `variant`, `os.version` and `os.features`, as ORAS reads it for a
    /// `--platform` asked of a manifest that is not an index. Other fields are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidManifest`] (media type `image config`) when `config` is not JSON,
    /// or lacks `os` or `architecture`.
    pub fn from_image_config(config: &[u8]) -> Result<Platform, Error> {
        const WHAT: &str = "image config";
        let platform: Platform = serde_json::from_slice(config)
            .map_err(|e| crate::manifest::invalid(Some(WHAT.to_owned()), &e))?;
        if platform.os.is_empty() || platform.architecture.is_empty() {
            return Err(Error::InvalidManifest {
                media_type: Some(WHAT.to_owned()),
                reason: "`os` and `architecture` must not be empty".to_owned(),
                line: 0,
                column: 0,
            });
        }
        Ok(platform)
    }
}

/// `os[/architecture[/variant]][:os_version]`, the form `--platform` takes in ORAS and
/// docker (`linux/arm64/v8`, `windows/amd64:10.0.17763.1040`).
impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.os)?;
        if !self.architecture.is_empty() {
            write!(f, "/{}", self.architecture)?;
        }
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        if let Some(version) = &self.os_version {
            write!(f, ":{version}")?;
        }
        Ok(())
    }
}

/// Parses `os[/architecture[/variant]][:os_version]`. What is left out matches any value
/// in [`Platform::matches`].
impl FromStr for Platform {
    type Err = Error;

    fn from_str(value: &str) -> Result<Platform, Error> {
        let invalid = |reason| Error::InvalidPlatform {
            value: clip(value),
            reason,
        };
        let (names, os_version) = match value.split_once(':') {
            Some((_, "")) => return Err(invalid("the OS version after `:` is empty")),
            Some((names, version)) => (names, Some(version.to_owned())),
            None => (value, None),
        };
        let parts: Vec<&str> = names.split('/').collect();
        if parts.len() > 3 {
            return Err(invalid("more than three `/`-separated parts"));
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err(invalid("an empty part"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if !parts.iter().all(|p| p.chars().all(allowed))
            || !os_version.as_deref().is_none_or(|v| v.chars().all(allowed))
        {
            return Err(invalid(
                "only letters, digits, `.`, `_` and `-` may appear in a part",
            ));
        }
        Ok(Platform {
            os: parts[0].to_owned(),
            architecture: parts.get(1).map_or_else(String::new, |a| (*a).to_owned()),
            variant: parts.get(2).map(|v| (*v).to_owned()),
            os_version,
            ..Platform::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_configs_platform_is_read_and_a_config_without_one_refused() {
        let config = br#"{"architecture":"arm64","os":"linux","variant":"v8","os.features":["x"],
            "config":{"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let platform = Platform::from_image_config(config).unwrap();
        assert_eq!(platform.to_string(), "linux/arm64/v8");
        assert_eq!(platform.os_features, ["x"]);
        assert!(platform.matches(&"linux/arm64".parse().unwrap()));

        for (config, wanted) in [
            (&br#"{"os":"linux"}"#[..], "missing field `architecture`"),
            (br#"{"os":"","architecture":"amd64"}"#, "must not be empty"),
            (b"{}", "missing field"),
            (b"not json", "expected"),
        ] {
            let message = Platform::from_image_config(config).unwrap_err().to_string();
            assert!(message.contains("image config"), "{message}");
            assert!(message.contains(wanted), "{message}");
        }
    }

    #[test]
    fn platforms_parse_print_and_match_as_the_cli_writes_them() {
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(
            (arm.os.as_str(), arm.architecture.as_str()),
            ("linux", "arm64")
        );
        assert_eq!(arm.variant.as_deref(), Some("v8"));
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        let windows: Platform = "windows/amd64:10.0.17763.1040".parse().unwrap();
        assert_eq!(windows.os_version.as_deref(), Some("10.0.17763.1040"));
        assert_eq!(windows.to_string(), "windows/amd64:10.0.17763.1040");

        let entry = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
            ..Platform::default()
        };
        for wanted in ["linux", "linux/arm64", "linux/arm64/v8"] {
            assert!(entry.matches(&wanted.parse().unwrap()), "{wanted}");
        }
        for wanted in [
            "windows",
            "linux/amd64",
            "linux/arm64/v7",
            "linux/arm64:5.10",
        ] {
            assert!(!entry.matches(&wanted.parse().unwrap()), "{wanted}");
        }

        for bad in [
            "",
            "/",
            "linux/",
            "linux//v8",
            "a/b/c/d",
            "linux:",
            "linux/arm64 ",
            "lin ux",
        ] {
            let err = bad.parse::<Platform>().unwrap_err();
            assert!(
                matches!(err, Error::InvalidPlatform { .. }),
                "{bad:?}: {err}"
            );
            assert!(err.to_string().contains("e.g. linux/arm64"), "{err}");
        }
    }

    #[test]
    fn empty_descriptor_is_the_spec_value() {
        let d = Descriptor::empty();
        assert_eq!(d.size, 2);
        assert_eq!(
            d.digest.as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_platform_parses() {
        let json = r#"{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"future":1,
            "platform":{"architecture":"arm64","os":"linux","variant":"v8","os.features":["a"]}}"#;
        let d: Descriptor = serde_json::from_str(json).unwrap();
        let p = d.platform.unwrap();
        assert_eq!(
            (p.architecture.as_str(), p.variant.as_deref()),
            ("arm64", Some("v8"))
        );
        assert_eq!(p.os_features, ["a"]);
    }

    #[test]
    fn negative_size_is_refused() {
        let json = r#"{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":-1}"#;
        assert!(serde_json::from_str::<Descriptor>(json).is_err());
    }
}
