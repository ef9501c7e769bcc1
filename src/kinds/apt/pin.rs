//! The lock entry of `[[apt]]`: an archive and the packages to take from it.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// One apt archive: what was asked of it, the Release it was resolved against, and every
/// package of the closure that comes from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedApt {
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub name: String,
    pub url: String,
    pub suite: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// The packages asked for, `recommends` and `exclude`, as in the manifest.
    pub packages: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recommends: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Digest of the verified `InRelease` (or `Release`) the closure was resolved against.
    pub release: Digest,
    /// Its `Date`, reused for the media repository's Release so that it is reproducible.
    pub release_date: String,
    /// The closure's packages that come from this archive.
    #[serde(default, rename = "package", skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<LockedDeb>,
}

/// One `.deb` of a closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDeb {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub component: String,
    /// The pool path (`pool/main/s/socat/socat_1.7.4.4-2_amd64.deb`).
    pub filename: crate::relative_path::RelativePath,
    pub digest: Digest,
    pub size: u64,
}

impl LockedApt {
    /// Whether the upstream is a flat repository (its suite ends in `/`).
    pub fn is_flat(&self) -> bool {
        super::entry::is_flat_suite(&self.suite)
    }

    /// The suite the media republishes the repository as: upstream's, or for a flat
    /// repository [`FLAT_MEDIA_SUITE`](super::entry::FLAT_MEDIA_SUITE).
    pub fn media_suite(&self) -> &str {
        if self.is_flat() {
            super::entry::FLAT_MEDIA_SUITE
        } else {
            &self.suite
        }
    }

    /// The components of the media's repository.
    pub fn media_components(&self) -> Vec<String> {
        if self.is_flat() {
            vec![super::entry::FLAT_COMPONENT.to_string()]
        } else {
            self.components.clone()
        }
    }
}
