//! The lock entry of `[[pypi]]`: the closure of a requirement set for one Python and its
//! platforms, each distribution file pinned by the index's sha256 and its size.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// One `[[pypi]]` set, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPypi {
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub name: String,
    pub index: String,
    pub python: String,
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sdist: bool,
    /// The requirement lines resolved (from the file or `packages`), normalized.
    pub requirements: Vec<String>,
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedDist>,
}

/// One distribution file of the closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDist {
    /// The normalized project name (PEP 503).
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub name: String,
    pub version: String,
    /// The file's name: where it goes on the media, below `pypi/<set>/files/`.
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub filename: String,
    pub url: String,
    pub sha256: Digest,
    pub size: u64,
    /// `Requires-Python` of the file, for the media's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
}
