//! Checking a media tree offline: every file against `SHA256SUMS` (hashed in parallel, largest
//! first, so a tree is checked at disk speed), `SHA256SUMS` against the tree's lock, and, with
//! a trusted public key, `SHA256SUMS.asc` against that key (origin, not only integrity).
//! Which media paths a lock pins is the kinds' knowledge: the caller passes in how to read
//! them from the tree's lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::digest::Digest;
use crate::media::sums;
use crate::media::tree::LOCK;
use crate::oci::layout as oci_layout;

/// One problem found in a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Listed in `SHA256SUMS`, absent from the tree.
    Missing { path: String },
    /// Present with other bytes than listed.
    Changed {
        path: String,
        expected: Digest,
        actual: Digest,
    },
    /// Present in the tree, not listed.
    Unexpected { path: String },
    /// The lock pins an artifact that `SHA256SUMS` does not list with the pinned digest.
    NotAsLocked { path: String, detail: String },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Missing { path } => write!(formatter, "missing     {path}"),
            Finding::Changed {
                path,
                expected,
                actual,
            } => {
                write!(
                    formatter,
                    "changed     {path} (expected {expected}, found {actual})"
                )
            }
            Finding::Unexpected { path } => write!(formatter, "unexpected  {path}"),
            Finding::NotAsLocked { path, detail } => {
                write!(formatter, "not-locked  {path} ({detail})")
            }
        }
    }
}

/// The outcome of checking a tree.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub files: usize,
    pub bytes: u64,
}

/// Why a tree could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{path} has no SHA256SUMS: it is not a media tree made by `airgap materialize`")]
    NoSums { path: PathBuf },
    #[error("{path} does not exist")]
    NoDirectory { path: PathBuf },
    #[error("{path}: {problem}")]
    BadSums {
        path: PathBuf,
        problem: crate::media::sums::SumsError,
    },
    #[error("cannot read {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
}

/// Checks every file of the tree at `root`, using up to `threads` hashing threads.
pub fn verify_tree(
    root: &Path,
    threads: usize,
    pinned_paths: impl Fn(&Path) -> Result<Option<Vec<(String, Digest)>>, crate::lock::LockError>,
) -> Result<Report, VerifyError> {
    let sums_path = root.join(sums::SUMS);
    let text = match std::fs::read_to_string(&sums_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !root.exists() => {
            return Err(VerifyError::NoDirectory {
                path: root.to_path_buf(),
            });
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(VerifyError::NoSums {
                path: root.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(VerifyError::Read {
                path: sums_path,
                cause: source,
            });
        }
    };
    let listed = sums::parse(&text).map_err(|problem| VerifyError::BadSums {
        path: sums_path.clone(),
        problem,
    })?;

    // What is on disk: regular files, and what is not one (a symlink, a FIFO, a socket or a
    // device is never listed, and never read).
    let mut present: BTreeMap<String, (PathBuf, u64, Option<&'static str>)> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(|error| VerifyError::Read {
            path: root.to_path_buf(),
            cause: error.into(),
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .components()
            .map(|component| component.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if relative == sums::SUMS || relative == sums::SIGNATURE {
            continue;
        }
        let size = entry.metadata().map(|metadata| metadata.len()).unwrap_or(0);
        present.insert(
            relative,
            (
                entry.path().to_path_buf(),
                size,
                special_kind(&entry.file_type()),
            ),
        );
    }

    let mut report = Report::default();
    let mut work: Vec<(String, PathBuf, u64, Digest)> = Vec::new();
    for (relative, expected) in &listed {
        match present.get(relative) {
            Some((path, size, None)) => {
                work.push((relative.clone(), path.clone(), *size, *expected))
            }
            Some((_, _, Some(kind))) => report.findings.push(Finding::Unexpected {
                path: format!("{relative} (a {kind} where a file is listed)"),
            }),
            None => report.findings.push(Finding::Missing {
                path: relative.clone(),
            }),
        }
    }
    for relative in present.keys() {
        if !listed.contains_key(relative) {
            let leftover = relative
                .rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with(crate::media::tree::TEMPORARY_PREFIX));
            report.findings.push(Finding::Unexpected {
                path: if leftover {
                    format!(
                        "{relative} (left by an interrupted run; `airgap materialize` again removes it)"
                    )
                } else {
                    relative.clone()
                },
            });
        }
    }

    // Hash in parallel, largest first, so the slowest file starts at once.
    work.sort_by_key(|item| std::cmp::Reverse(item.2));
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(work.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((relative, path, _, expected)) = work.get(index) else {
                        break;
                    };
                    let outcome = Digest::of_file(path);
                    results
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push((relative.clone(), *expected, outcome));
                }
            });
        }
    });
    for (relative, expected, outcome) in results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
    {
        match outcome {
            Ok((actual, size)) => {
                report.files += 1;
                report.bytes += size;
                if actual != expected {
                    report.findings.push(Finding::Changed {
                        path: relative,
                        expected,
                        actual,
                    });
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                report.findings.push(Finding::Missing { path: relative })
            }
            Err(source) => {
                return Err(VerifyError::Read {
                    path: root.join(&relative),
                    cause: source,
                });
            }
        }
    }

    // The list must also say what the lock pins.
    if listed.contains_key(LOCK) {
        if let Some(pinned) = pinned_paths(&root.join(LOCK))? {
            for (path, wanted) in pinned {
                match listed.get(&path) {
                    Some(digest) if *digest == wanted => {}
                    Some(digest) => report.findings.push(Finding::NotAsLocked {
                        path,
                        detail: format!("the lock pins {wanted}, SHA256SUMS lists {digest}"),
                    }),
                    None => report.findings.push(Finding::NotAsLocked {
                        path,
                        detail: format!("the lock pins {wanted}, SHA256SUMS does not list it"),
                    }),
                }
            }
        }
        // A layout blob is named by its digest: the list must agree with the name.
        for (path, digest) in &listed {
            if let Some(hex) = path.strip_prefix(&format!("{}/blobs/sha256/", oci_layout::ROOT))
                && hex != digest.hex()
            {
                report.findings.push(Finding::NotAsLocked {
                    path: path.clone(),
                    detail: format!("a blob named {hex} is listed with {digest}"),
                });
            }
        }
    } else {
        report.findings.push(Finding::NotAsLocked {
            path: LOCK.to_string(),
            detail: "SHA256SUMS does not list the lock".to_string(),
        });
    }
    report.findings.sort_by_key(|finding| finding.to_string());
    Ok(report)
}

/// What a directory entry is when it is not a regular file, in words.
fn special_kind(kind: &std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_file() {
        None
    } else if kind.is_symlink() {
        Some("symlink")
    } else if kind.is_fifo() {
        Some("FIFO")
    } else if kind.is_socket() {
        Some("socket")
    } else if kind.is_block_device() || kind.is_char_device() {
        Some("device")
    } else {
        Some("special file")
    }
}

impl crate::hint::Hint for VerifyError {
    fn hint(&self) -> Option<String> {
        match self {
            VerifyError::Lock(inner) => crate::hint::Hint::hint(inner),
            VerifyError::NoSums { .. } => {
                Some("pass the directory given to `materialize --to`".to_string())
            }
            VerifyError::NoDirectory { .. } => Some(
                "check the path (is the media mounted?); pass the directory given to `materialize --to`"
                    .to_string(),
            ),
            VerifyError::BadSums { .. } => {
                Some("the list was damaged or tampered with; do not use this media".to_string())
            }
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
