//! The enclave's long-lived mirror, updated by deltas in generations: `MIRROR/generations/<n>/`
//! each a complete media tree, and `MIRROR/current`, a symlink to the one served. A delta
//! becomes a new generation beside the current one: the files it carries are copied in (hashed
//! while copied, against the delta's signed `SHA256SUMS`), the ones it leaves out are hard
//! links to the current generation's (the same bytes, no copy, so the time grows with the
//! delta, not the mirror). Only a complete generation is renamed into `generations/`, and
//! `current` is switched by one atomic rename of a new symlink. Why it is safe:
//!
//! - a client (nginx follows `current` per request; `airgap serve` re-reads it per request)
//!   sees either the old generation or the new one, never a tree with an index naming a file
//!   that is not there: every generation is complete before it is named;
//! - the old generation stays, whole, until `--prune` or `--keep`: a client that read an old
//!   index still finds the files it names, and `--rollback` is one switch back;
//! - a run killed at any point leaves `current` as it was; a rerun removes the unfinished
//!   `generations/.partial-*` and builds it again, or, when the generation was renamed but not
//!   yet switched to, switches.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Hasher};
use crate::media::sums;
use crate::media::tree::LOCK;

/// The symlink to the served generation.
pub const CURRENT: &str = "current";
/// The directory of the generations.
pub const GENERATIONS: &str = "generations";
/// The prefix of a generation being built.
const PARTIAL: &str = ".partial-";

/// Why a mirror could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not an airgap mirror (no `current` generation) and not empty")]
    NotMirror { path: PathBuf },
    #[error("{path} changed while it was copied: {expected} expected, {actual} read")]
    Changed {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
    },
    #[error(
        "the mirror's current generation has no {path} with {expected}, which the delta leaves out"
    )]
    BaseMissing { path: String, expected: Digest },
    #[error("{0}")]
    Refused(String),
}

impl crate::hint::Hint for MirrorError {
    fn hint(&self) -> Option<String> {
        match self {
            MirrorError::NotMirror { .. } => Some(
                "apply a full tree to an empty directory first; it becomes generation 1".into(),
            ),
            MirrorError::BaseMissing { .. } | MirrorError::Changed { .. } => Some(
                "the mirror is not what its SHA256SUMS says: `airgap verify MIRROR` shows what changed; roll back or apply a full tree"
                    .into(),
            ),
            _ => None,
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> MirrorError + '_ {
    move |cause| MirrorError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// A mirror directory.
pub struct Mirror {
    root: PathBuf,
}

impl Mirror {
    pub fn new(root: &Path) -> Mirror {
        Mirror {
            root: root.to_path_buf(),
        }
    }

    /// Whether `root` holds a mirror (a `current` generation).
    pub fn is_mirror(root: &Path) -> bool {
        fs::symlink_metadata(root.join(CURRENT)).is_ok_and(|metadata| metadata.is_symlink())
    }

    /// The served generation's directory, if any. Only `generations/<n>` is followed: a
    /// `current` that points anywhere else (outside the mirror) is no generation.
    pub fn current(&self) -> Option<PathBuf> {
        let target = fs::read_link(self.root.join(CURRENT)).ok()?;
        let number: u64 = target
            .strip_prefix(GENERATIONS)
            .ok()?
            .to_str()?
            .parse()
            .ok()?;
        Some(self.generation(number))
    }

    /// The number of the served generation.
    pub fn current_number(&self) -> Option<u64> {
        self.current()?.file_name()?.to_str()?.parse().ok()
    }

    /// The complete generations, oldest first.
    pub fn generations(&self) -> Vec<u64> {
        let mut numbers: Vec<u64> = fs::read_dir(self.root.join(GENERATIONS))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        numbers.sort_unstable();
        numbers
    }

    fn generation(&self, number: u64) -> PathBuf {
        self.root.join(GENERATIONS).join(number.to_string())
    }

    /// The digest of the served generation's lock.
    pub fn current_lock(&self) -> Option<Digest> {
        let bytes = fs::read(self.current()?.join(LOCK)).ok()?;
        Some(Digest::of_bytes(&bytes))
    }

    /// Makes the tree at `delta` (verified by the caller) the next generation and switches to
    /// it. `listed` is its `SHA256SUMS`: the files absent from `delta` are linked from the
    /// current generation, whose own `SHA256SUMS` must list them with the same digest.
    /// Returns the bytes copied.
    pub fn apply(
        &self,
        delta: &Path,
        listed: &BTreeMap<String, Digest>,
    ) -> Result<u64, MirrorError> {
        let generations = self.root.join(GENERATIONS);
        if !self.root.exists()
            || fs::read_dir(&self.root)
                .map_err(io(&self.root))?
                .next()
                .is_none()
        {
            fs::create_dir_all(&generations).map_err(io(&generations))?;
        } else if !Mirror::is_mirror(&self.root) && !generations.exists() {
            return Err(MirrorError::NotMirror {
                path: self.root.clone(),
            });
        }
        fs::create_dir_all(&generations).map_err(io(&generations))?;
        // Leftovers of a run that was killed while building.
        for entry in fs::read_dir(&generations)
            .map_err(io(&generations))?
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(PARTIAL) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let current = self.current();
        let current_listed = match &current {
            Some(directory) => read_sums(directory)?,
            None => BTreeMap::new(),
        };
        let next = self.generations().last().map_or(1, |last| last + 1);
        let partial = generations.join(format!("{PARTIAL}{next}"));
        let mut copied = 0u64;
        let mut all = listed.clone();
        for name in [sums::SUMS, sums::SIGNATURE] {
            if delta.join(name).is_file() {
                all.insert(name.to_string(), Digest::of_bytes(b""));
            }
        }
        for (relative, digest) in &all {
            let source = delta.join(relative);
            let target = partial.join(relative);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            let signed_files = relative == sums::SUMS || relative == sums::SIGNATURE;
            if source.is_file() {
                copied += copy_checked(&source, &target, (!signed_files).then_some(*digest))?;
            } else {
                let Some(directory) = &current else {
                    return Err(MirrorError::BaseMissing {
                        path: relative.clone(),
                        expected: *digest,
                    });
                };
                if current_listed.get(relative) != Some(digest) {
                    return Err(MirrorError::BaseMissing {
                        path: relative.clone(),
                        expected: *digest,
                    });
                }
                // The same bytes: a hard link, no copy (a copy where links cannot be made).
                let existing = directory.join(relative);
                if fs::hard_link(&existing, &target).is_err() {
                    copy_checked(&existing, &target, Some(*digest))?;
                }
            }
        }
        let finished = self.generation(next);
        fs::rename(&partial, &finished).map_err(io(&partial))?;
        self.switch(next)?;
        Ok(copied)
    }

    /// Points `current` at generation `number`: one atomic rename of a new symlink.
    pub fn switch(&self, number: u64) -> Result<(), MirrorError> {
        let link = self.root.join(format!("{CURRENT}.new"));
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("{GENERATIONS}/{number}"), &link).map_err(io(&link))?;
        fs::rename(&link, self.root.join(CURRENT)).map_err(io(&link))?;
        if let Ok(directory) = fs::File::open(&self.root) {
            let _ = directory.sync_all();
        }
        Ok(())
    }

    /// Switches back to the generation before the current one.
    pub fn rollback(&self) -> Result<u64, MirrorError> {
        let current = self
            .current_number()
            .ok_or_else(|| MirrorError::NotMirror {
                path: self.root.clone(),
            })?;
        let previous = self
            .generations()
            .into_iter()
            .rfind(|number| *number < current)
            .ok_or_else(|| {
                MirrorError::Refused(format!(
                    "generation {current} is the oldest the mirror keeps; there is nothing to roll back to"
                ))
            })?;
        self.switch(previous)?;
        Ok(previous)
    }

    /// Keeps the current generation and the newest `keep - 1` others; removes the rest.
    pub fn prune(&self, keep: usize) -> Result<Vec<u64>, MirrorError> {
        let current = self.current_number();
        let mut others: Vec<u64> = self
            .generations()
            .into_iter()
            .filter(|number| Some(*number) != current)
            .collect();
        let cut = others.len().saturating_sub(keep.saturating_sub(1));
        let mut removed = Vec::new();
        for number in others.drain(..cut) {
            let path = self.generation(number);
            fs::remove_dir_all(&path).map_err(io(&path))?;
            removed.push(number);
        }
        Ok(removed)
    }
}

/// A tree's `SHA256SUMS`, parsed.
pub fn read_sums(root: &Path) -> Result<BTreeMap<String, Digest>, MirrorError> {
    let path = root.join(sums::SUMS);
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    sums::parse(&text)
        .map_err(|problem| MirrorError::Refused(format!("{}: {problem}", path.display())))
}

/// Copies `source` to `target`, hashing as it goes; with `expected`, refuses other bytes (and
/// removes what it wrote). Returns the bytes copied.
fn copy_checked(
    source: &Path,
    target: &Path,
    expected: Option<Digest>,
) -> Result<u64, MirrorError> {
    let mut input = fs::File::open(source).map_err(io(source))?;
    let mut output = fs::File::create(target).map_err(io(target))?;
    let mut hasher = Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = input.read(&mut buffer).map_err(io(source))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        output.write_all(&buffer[..read]).map_err(io(target))?;
    }
    output.sync_all().map_err(io(target))?;
    let (actual, size) = hasher.finish();
    if let Some(expected) = expected
        && expected != actual
    {
        let _ = fs::remove_file(target);
        return Err(MirrorError::Changed {
            path: source.to_path_buf(),
            expected,
            actual,
        });
    }
    Ok(size)
}
