//! The lock entry of `[[git]]`: a repository and the ref to pin.

use serde::{Deserialize, Serialize};

/// One git repository pinned to a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedGit {
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub name: String,
    pub url: String,
    /// The ref as asked (`v2.31.0`, `master`, or a commit id).
    #[serde(rename = "ref")]
    pub reference: String,
    /// What the ref is upstream: `tag`, `branch` or `commit`.
    pub kind: String,
    /// The full ref name on the media (`refs/tags/v2.31.0`), empty for a bare commit.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub full_ref: String,
    /// The commit id the ref resolved to; git's object ids pin the tree transitively.
    pub commit: String,
}
