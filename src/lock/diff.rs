//! What changed between two lockfiles, artifact by artifact: the review before media enter
//! the enclave.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::lock::{LockedFile, Lockfile};
use crate::manifest::FileKey;

/// One changed artifact.
#[derive(Debug, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Change {
    Added {
        kind: &'static str,
        artifact: LockedFile,
    },
    Removed {
        kind: &'static str,
        artifact: LockedFile,
    },
    Changed {
        kind: &'static str,
        old: LockedFile,
        new: LockedFile,
        /// The lock fields that differ, in lock order.
        fields: Vec<&'static str>,
    },
}

/// Compares two locks; the result is sorted by artifact.
pub fn diff(old: &Lockfile, new: &Lockfile) -> Vec<Change> {
    let old_files: BTreeMap<FileKey, &LockedFile> =
        old.files.iter().map(|file| (file.key(), file)).collect();
    let new_files: BTreeMap<FileKey, &LockedFile> =
        new.files.iter().map(|file| (file.key(), file)).collect();
    let mut keys: Vec<&FileKey> = old_files.keys().chain(new_files.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut changes = Vec::new();
    for key in keys {
        match (old_files.get(key), new_files.get(key)) {
            (None, Some(new)) => changes.push(Change::Added {
                kind: "file",
                artifact: (*new).clone(),
            }),
            (Some(old), None) => changes.push(Change::Removed {
                kind: "file",
                artifact: (*old).clone(),
            }),
            (Some(old), Some(new)) => {
                let fields = changed_fields(old, new);
                if !fields.is_empty() {
                    changes.push(Change::Changed {
                        kind: "file",
                        old: (*old).clone(),
                        new: (*new).clone(),
                        fields,
                    });
                }
            }
            (None, None) => {}
        }
    }
    changes
}

fn changed_fields(old: &LockedFile, new: &LockedFile) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if old.url != new.url {
        fields.push("url");
    }
    if old.path != new.path {
        fields.push("path");
    }
    if old.digest != new.digest {
        fields.push("digest");
    }
    if old.size != new.size {
        fields.push("size");
    }
    if old.pinned_by != new.pinned_by {
        fields.push("pinned_by");
    }
    if old.checksum_url != new.checksum_url {
        fields.push("checksum_url");
    }
    fields
}
