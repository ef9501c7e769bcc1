//! Staleness: which pins of an existing lock still match the manifests, and which entries must
//! be (re-)resolved. Pure computation, so that `--locked` and `--offline` can decide without
//! the network.

use std::fmt;

use crate::lock::{LockedFile, Lockfile};
use crate::manifest::{FileArtifact, Manifest};

/// What `lock` has to do.
#[derive(Debug, Default)]
pub struct Plan {
    /// Pins that are still valid, kept as they are.
    pub keep: Vec<LockedFile>,
    /// Entries to resolve, with the reason.
    pub resolve: Vec<(FileArtifact, Reason)>,
    /// Pins whose entry left the manifests.
    pub removed: Vec<LockedFile>,
}

/// Why an entry needs resolving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Not in the lock yet.
    New,
    /// In the lock, but its manifest entry changed (the field that changed).
    Changed(&'static str),
    /// Named by `--update`.
    Update,
}

impl fmt::Display for Reason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::New => write!(formatter, "not in the lock yet"),
            Reason::Changed(field) => write!(formatter, "its `{field}` changed in the manifest"),
            Reason::Update => write!(formatter, "--update asked for it"),
        }
    }
}

/// Compares the manifests with the previous lock. `update` is `None` without `--update`,
/// `Some(&[])` for `--update` with no names (everything), or the names to re-resolve.
pub fn plan(manifest: &Manifest, old: Option<&Lockfile>, update: Option<&[String]>) -> Plan {
    let mut plan = Plan::default();
    for artifact in &manifest.files {
        let wanted =
            update.is_some_and(|names| names.is_empty() || names.contains(&artifact.key.name));
        let previous = old.and_then(|lock| lock.file(&artifact.key));
        match previous {
            _ if wanted => plan.resolve.push((artifact.clone(), Reason::Update)),
            None => plan.resolve.push((artifact.clone(), Reason::New)),
            Some(pinned) => match changed_field(artifact, pinned) {
                Some(field) => plan
                    .resolve
                    .push((artifact.clone(), Reason::Changed(field))),
                None => plan.keep.push(pinned.clone()),
            },
        }
    }
    if let Some(old) = old {
        for pinned in &old.files {
            if !manifest
                .files
                .iter()
                .any(|artifact| artifact.key == pinned.key())
            {
                plan.removed.push(pinned.clone());
            }
        }
    }
    plan
}

/// The first manifest field whose value no longer matches the pin, if any.
fn changed_field(artifact: &FileArtifact, pinned: &LockedFile) -> Option<&'static str> {
    if artifact.url != pinned.url {
        return Some("url");
    }
    if artifact.path != pinned.path {
        return Some("path");
    }
    if artifact.checksum_url != pinned.checksum_url {
        return Some("checksum_url");
    }
    if artifact
        .sha256
        .is_some_and(|sha256| sha256 != pinned.digest)
    {
        return Some("sha256");
    }
    if artifact.pin_source() != pinned.pinned_by {
        return Some("sha256");
    }
    None
}
