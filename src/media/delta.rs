//! Delta media: a tree whose `SHA256SUMS` lists the whole new tree, signed as usual, but which
//! carries only what its base does not have. The base is named by the digest of its lock in
//! the `DELTA` file (listed and signed like every other file), with the count of files left
//! out. A full tree is the delta from nothing: no `DELTA`, nothing left out.
//!
//! What may be left out is content the base has at the same path with the same digest:
//! pinned artifacts, OCI blobs and git objects. Metadata (indexes, Release, repodata,
//! index.json, the lock, the rendered configuration) is always carried, complete for the new
//! lock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::media::sums;
use crate::media::tree::LOCK;

/// The marker of a delta tree, at its top.
pub const MARKER: &str = "DELTA";

/// What a delta is made against: the base lock's digest, and the files the base has.
#[derive(Debug, Clone)]
pub struct Base {
    pub lock: Digest,
    pub files: BTreeMap<String, Digest>,
}

/// What the `DELTA` file says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    /// The digest of the base tree's `airgap.lock`.
    pub base: Digest,
    /// How many files of `SHA256SUMS` the delta leaves out (the base has them).
    pub omitted: usize,
}

impl Marker {
    pub fn render(&self) -> String {
        format!(
            "# A delta media tree made by `airgap materialize --since`: SHA256SUMS lists the whole\n# new tree; the files the base (the tree with this lock) already has are left out.\n{}",
            toml::to_string(self).unwrap_or_default()
        )
    }

    /// The marker of the tree at `root`, if it is a delta.
    pub fn read(root: &Path) -> Result<Option<Marker>, DeltaError> {
        let path = root.join(MARKER);
        // A marker is a few lines; a larger one (or a special file) is not airgap's.
        if std::fs::symlink_metadata(&path)
            .is_ok_and(|metadata| !metadata.is_file() || metadata.len() > 4096)
        {
            return Err(DeltaError::Marker {
                path,
                message: "is not a regular file of at most 4 KiB".to_string(),
            });
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map(Some)
                .map_err(|error| DeltaError::Marker {
                    path,
                    message: error.message().to_string(),
                }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(cause) => Err(DeltaError::Read { path, cause }),
        }
    }
}

/// Why a base could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("cannot read {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not a DELTA marker: {message}")]
    Marker { path: PathBuf, message: String },
    #[error("{path}: {problem}")]
    Sums {
        path: PathBuf,
        problem: sums::SumsError,
    },
    #[error("{path} is a delta tree itself; give the full tree (or the lock) the enclave holds")]
    DeltaBase { path: PathBuf },
}

impl crate::hint::Hint for DeltaError {
    fn hint(&self) -> Option<String> {
        Some(
            "--since takes the media tree the enclave holds (its SHA256SUMS names every file) or its airgap.lock"
                .to_string(),
        )
    }
}

/// The base of a media tree at `root`: its lock's digest and every file its `SHA256SUMS`
/// lists.
pub fn base_of_tree(root: &Path) -> Result<Base, DeltaError> {
    if root.join(MARKER).exists() {
        return Err(DeltaError::DeltaBase {
            path: root.to_path_buf(),
        });
    }
    let read = |path: PathBuf| {
        std::fs::read(&path).map_err(|cause| DeltaError::Read {
            path: path.clone(),
            cause,
        })
    };
    let lock = read(root.join(LOCK))?;
    let sums_path = root.join(sums::SUMS);
    let text = String::from_utf8_lossy(&read(sums_path.clone())?).into_owned();
    let files = sums::parse(&text).map_err(|problem| DeltaError::Sums {
        path: sums_path,
        problem,
    })?;
    Ok(Base {
        lock: Digest::of_bytes(&lock),
        files,
    })
}

/// The files of `entries` (path to digest, the whole new tree) a delta against `base` leaves
/// out: content (`content` says which paths are) that the base has with the same digest.
pub fn omitted(
    entries: &BTreeMap<String, Digest>,
    base: &Base,
    content: impl Fn(&str) -> bool,
) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|(path, digest)| content(path) && base.files.get(*path) == Some(digest))
        .map(|(path, _)| path.clone())
        .collect()
}
