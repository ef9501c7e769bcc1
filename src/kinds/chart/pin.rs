//! The lock entry of `[[chart]]`: a Helm chart from an HTTP or OCI repository.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// One Helm chart pinned to a version and the digest of its archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedChart {
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub name: String,
    pub repo: String,
    /// The version or range asked for.
    pub requirement: String,
    /// The version chosen: the newest that matches.
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub version: String,
    /// Where the archive was fetched from (absolute); `oci://host/path/name:version` for OCI.
    pub url: String,
    /// The chart archive (for OCI charts: the chart layer, the bytes `helm pull` writes).
    pub digest: Digest,
    pub size: u64,
    /// For a dependency the parent chart does not vendor: the chart that needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency_of: Option<String>,
    /// Whether the chart's images were asked for (they are `[[image]]` entries with `chart`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub images: bool,
    /// For OCI charts: the manifest the tag resolved to, and its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_size: Option<u64>,
}
