//! The lock entry of `[[yum]]`: an RPM repository and the packages to take from it.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// One RPM repository: what was asked of it, the repomd it was resolved against, and every
/// package of the closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedYum {
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub name: String,
    pub url: String,
    pub arch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpgkey: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    pub packages: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// `weak_deps` and `gpgcheck` as in the manifest (written only when off).
    #[serde(
        default = "super::entry::yes",
        skip_serializing_if = "super::entry::is_true"
    )]
    pub weak_deps: bool,
    #[serde(
        default = "super::entry::yes",
        skip_serializing_if = "super::entry::is_true"
    )]
    pub gpgcheck: bool,
    /// Module streams enabled, as in the manifest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    /// Digest of the verified `repomd.xml` the closure was resolved against.
    pub repomd: Digest,
    /// The repository has modular metadata (`modules.yaml`); resolution applied its streams.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub modular: bool,
    #[serde(default, rename = "package", skip_serializing_if = "Vec::is_empty")]
    pub rpms: Vec<LockedRpm>,
}

/// One `.rpm` of a closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRpm {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// The path below the repository root (`Packages/s/socat-1.7.4.1-5.el9.x86_64.rpm`).
    pub location: crate::relative_path::RelativePath,
    pub digest: Digest,
    pub size: u64,
}
