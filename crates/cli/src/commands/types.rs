//! Human names for artifact types, so listings say what each entry is.

/// Known artifact types and config media types, with what people call them.
const NAMES: &[(&str, &str)] = &[
    (
        "application/vnd.oci.image.config.v1+json",
        "container image",
    ),
    (
        "application/vnd.docker.container.image.v1+json",
        "container image (Docker)",
    ),
    ("application/vnd.oci.image.index.v1+json", "image index"),
    (
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifest list (Docker)",
    ),
    ("application/vnd.cncf.helm.config.v1+json", "Helm chart"),
    (
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        "Helm chart",
    ),
    ("application/vnd.cncf.notary.signature", "Notary signature"),
    (
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "cosign signature",
    ),
    (
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "cosign signature",
    ),
    (
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "Sigstore bundle",
    ),
    (
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "Sigstore bundle",
    ),
    ("application/spdx+json", "SBOM (SPDX)"),
    ("text/spdx", "SBOM (SPDX)"),
    ("text/spdx+json", "SBOM (SPDX)"),
    ("application/vnd.cyclonedx+json", "SBOM (CycloneDX)"),
    ("application/vnd.cyclonedx+xml", "SBOM (CycloneDX)"),
    ("application/vnd.syft+json", "SBOM (Syft)"),
    ("application/vnd.in-toto+json", "in-toto attestation"),
    ("application/vnd.dsse.envelope.v1+json", "DSSE attestation"),
    ("application/vnd.unknown.config.v1+json", "ORAS artifact"),
    ("application/vnd.unknown.artifact.v1", "ORAS artifact"),
    ("application/vnd.oci.empty.v1+json", "artifact"),
    ("application/vnd.wasm.config.v1+json", "WebAssembly module"),
    (
        "application/vnd.module.wasm.config.v1+json",
        "WebAssembly module",
    ),
    ("application/vnd.cncf.flux.config.v1+json", "Flux artifact"),
    (
        "application/vnd.cncf.openpolicyagent.config.v1+json",
        "OPA policy bundle",
    ),
    (
        "application/vnd.ms.bicep.module.config.v1+json",
        "Bicep module",
    ),
    (
        "application/vnd.ms.bicep.provider.config.v1+json",
        "Bicep provider",
    ),
];

/// The human name of an artifact type (or config media type), when one is known.
pub(crate) fn human_name(artifact_type: &str) -> Option<&'static str> {
    let essence = artifact_type.trim();
    NAMES
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(essence))
        .map(|(_, name)| *name)
        .or_else(|| {
            let lower = essence.to_ascii_lowercase();
            if lower.contains("signature") {
                Some("signature")
            } else if lower.contains("spdx")
                || lower.contains("cyclonedx")
                || lower.contains("sbom")
            {
                Some("SBOM")
            } else if lower.contains("helm") {
                Some("Helm chart")
            } else {
                None
            }
        })
}

/// `TYPE (human name)` or `TYPE` when no name is known; `ORAS folder` when a layer is a
/// packed folder and the type says no more.
pub(crate) fn describe(artifact_type: Option<&str>, is_oras_folder: bool) -> String {
    let name = artifact_type.and_then(human_name);
    let name = match name {
        Some("ORAS artifact" | "artifact") | None if is_oras_folder => Some("ORAS folder"),
        other => other,
    };
    match (artifact_type, name) {
        (Some(t), Some(n)) => format!("{t} ({n})"),
        (Some(t), None) => t.to_owned(),
        (None, Some(n)) => n.to_owned(),
        (None, None) => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_have_names() {
        assert_eq!(NAMES.len(), 28);
        assert_eq!(
            human_name("application/vnd.cncf.helm.config.v1+json"),
            Some("Helm chart")
        );
        assert_eq!(human_name("application/spdx+json"), Some("SBOM (SPDX)"));
        assert_eq!(
            human_name("application/vnd.example.signature.v1"),
            Some("signature")
        );
        assert_eq!(human_name("application/x-unknown"), None);
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            describe(Some("application/vnd.oci.image.config.v1+json"), false),
            "application/vnd.oci.image.config.v1+json (container image)"
        );
        assert_eq!(
            describe(Some("application/vnd.unknown.config.v1+json"), true),
            "application/vnd.unknown.config.v1+json (ORAS folder)"
        );
        assert_eq!(describe(Some("x/y"), false), "x/y");
        assert_eq!(describe(None, false), "-");
    }
}
