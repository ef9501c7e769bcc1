//! Image manifests as registries send them: OCI index and manifest, Docker schema 2 manifest
//! list and manifest, and artifacts. Only the fields airgap needs are read; the bytes are never
//! re-serialized, so digests stay the registry's.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// What to send in `Accept` when asking for a manifest.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json;q=0.9";
/// The annotation that names an image in an OCI layout.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Manifests larger than this are refused (the distribution spec suggests 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// A content descriptor.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
}

/// The platform of an index entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`.
    pub fn name(&self) -> String {
        match &self.variant {
            Some(variant) if !variant.is_empty() => {
                format!("{}/{}/{variant}", self.os, self.architecture)
            }
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// Whether this platform is one of `wanted` (`os/arch` matches every variant).
    pub fn matches(&self, wanted: &[String]) -> bool {
        wanted.iter().any(|wanted| {
            if wanted == "all" {
                return true;
            }
            let parts: Vec<&str> = wanted.split('/').collect();
            parts.first() == Some(&self.os.as_str())
                && parts.get(1) == Some(&self.architecture.as_str())
                && parts
                    .get(2)
                    .is_none_or(|variant| self.variant.as_deref() == Some(variant))
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    blobs: Option<Vec<Descriptor>>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
}

/// What a manifest document holds.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub media_type: String,
    /// For an index or list: its entries.
    pub children: Vec<Descriptor>,
    /// For an image or artifact manifest: its config and layers (or blobs).
    pub blobs: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
}

impl Parsed {
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }
}

/// Why bytes are not a manifest airgap reads (the message follows the document's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestParseError {
    #[error("is not a valid manifest: {0}")]
    Invalid(String),
    #[error(
        "is a Docker schema 1 manifest, which is deprecated and not supported; push the image again with a current tool"
    )]
    SchemaOne,
}

/// Parses manifest bytes; `content_type` is the registry's header, used when the document
/// does not name its own media type.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed, ManifestParseError> {
    let document: Document = serde_json::from_slice(bytes)
        .map_err(|error| ManifestParseError::Invalid(error.to_string()))?;
    if document.schema_version == Some(1) {
        return Err(ManifestParseError::SchemaOne);
    }
    let declared = document
        .media_type
        .clone()
        .or_else(|| {
            content_type.map(|value| value.split(';').next().unwrap_or(value).trim().to_string())
        })
        .filter(|value| {
            !value.is_empty() && value != "application/json" && value != "application/octet-stream"
        });
    let media_type = match declared {
        Some(media_type) => media_type,
        None if document.manifests.is_some() => OCI_INDEX.to_string(),
        None => OCI_MANIFEST.to_string(),
    };
    let index = media_type == OCI_INDEX || media_type == DOCKER_LIST;
    let mut blobs = Vec::new();
    if !index {
        blobs.extend(document.config);
        blobs.extend(document.layers.unwrap_or_default());
        blobs.extend(document.blobs.unwrap_or_default());
    }
    Ok(Parsed {
        media_type,
        children: if index {
            document.manifests.unwrap_or_default()
        } else {
            Vec::new()
        },
        blobs,
        subject: document.subject,
        artifact_type: document.artifact_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_matching() {
        let arm = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        assert!(arm.matches(&["linux/arm64".to_string()]));
        assert!(arm.matches(&["linux/arm64/v8".to_string()]));
        assert!(!arm.matches(&["linux/arm64/v7".to_string()]));
        assert!(!arm.matches(&["linux/amd64".to_string()]));
        assert!(arm.matches(&["all".to_string()]));
        assert_eq!(arm.name(), "linux/arm64/v8");
    }

    #[test]
    fn kinds() {
        let digest = Digest::of_bytes(b"x");
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{digest}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let parsed = parse(index.as_bytes(), None).unwrap();
        assert!(parsed.is_index());
        assert_eq!(parsed.children.len(), 1);
        let artifact = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/x-custom","config":{{"mediaType":"application/x-unknown","digest":"{digest}","size":1}},"layers":[]}}"#
        );
        let parsed = parse(artifact.as_bytes(), None).unwrap();
        assert_eq!(parsed.blobs.len(), 1);
        assert_eq!(
            parsed.artifact_type.as_deref(),
            Some("application/x-custom")
        );
        assert!(parse(br#"{"schemaVersion":1,"name":"x"}"#, None).is_err());
    }
}
