//! The image entry and pin, which images and OCI charts share: what a reference asks for, and
//! what it resolved to (the digest, the platform manifests kept, the referrers).

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::manifest::Origin;

/// One `[[image]]` entry.
#[derive(Debug, Clone, Serialize)]
pub struct ImageArtifact {
    /// The normalized full reference (`registry.k8s.io/pause:3.10`), the entry's key.
    pub reference: String,
    /// Platforms to keep from an index (`os/arch[/variant]`), or `["all"]`.
    pub platforms: Vec<String>,
    /// An OCI image layout in the workspace to take the image from, instead of a registry.
    pub layout: Option<String>,
    /// Also bring signatures, SBOMs and attestations that refer to the image.
    pub referrers: bool,
    /// Plain HTTP to a registry that is not on a loopback address, declared by the user.
    pub insecure: bool,
    #[serde(skip)]
    pub origin: Origin,
}

/// One pinned image: what its reference resolved to, and the manifests kept from it.
/// The digests pin every blob transitively, so blobs are not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedImage {
    /// The normalized full reference, as in the manifest and the layout's `ref.name`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The workspace OCI layout it came from, when not from a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Plain HTTP to a non-loopback registry, as the manifest declared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// The platforms asked for (`["all"]` for every one).
    pub platforms: Vec<String>,
    /// Whether referrers (signatures, SBOMs) were asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub referrers: bool,
    /// What the reference resolved to: an index, a manifest list or a single manifest.
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The platform manifests kept from an index (empty for a single manifest).
    #[serde(default, rename = "manifest", skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<LockedManifest>,
    /// Artifacts that refer to the image, when asked for.
    #[serde(default, rename = "referrer", skip_serializing_if = "Vec::is_empty")]
    pub referrer_manifests: Vec<LockedReferrer>,
    /// The chart that needs this image, when it came from a chart's `images = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// The signature that satisfied the policy covering the image, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::policy::Evidence>,
}

impl LockedImage {
    /// Every manifest document the pin names: the top one, the platform manifests kept, and
    /// the referrers.
    pub fn manifest_digests(&self) -> impl Iterator<Item = Digest> + '_ {
        std::iter::once(self.digest)
            .chain(self.manifests.iter().map(|manifest| manifest.digest))
            .chain(
                self.referrer_manifests
                    .iter()
                    .map(|referrer| referrer.digest),
            )
    }
}

/// A platform manifest kept from an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedManifest {
    /// `os/arch[/variant]`, or `unknown/unknown` for attestations of a kept manifest.
    pub platform: String,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// A signature, SBOM or attestation that refers to a pinned manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedReferrer {
    /// The manifest it refers to.
    pub subject: Digest,
    /// The tag it was found under (`sha256-<hex>.sig`), when found by tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}
