//! The lock entry of `[[file]]`: a static file by URL or from the workspace, expanded per architecture.

use serde::{Deserialize, Serialize};

use super::entry::{FileKey, PinSource};
use crate::digest::Digest;

/// One pinned static file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub url: String,
    /// Path below `files/` on the media.
    pub path: crate::relative_path::RelativePath,
    pub digest: Digest,
    pub size: u64,
    /// How the digest was established.
    pub pinned_by: PinSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_url: Option<String>,
}

impl LockedFile {
    pub fn key(&self) -> FileKey {
        FileKey {
            name: self.name.clone(),
            arch: self.arch.clone(),
        }
    }
}
