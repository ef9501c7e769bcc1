//! Writing a media tree: files placed from the store (hard link when the tree is on the same
//! file system, a verified copy otherwise), stale files pruned, then `airgap.lock`,
//! `keys/airgap.asc`, `SHA256SUMS` and its signature, each written atomically and last, so an
//! interrupted run never leaves a list that vouches for missing bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, copy_hashing};
use crate::media::signing::Signer;
use crate::media::sums;
use crate::relative_path::RelativePath;
use crate::store::{self, Store};

/// The lock copy at the top of the tree.
pub const LOCK: &str = "airgap.lock";
/// The public half of the signing key.
pub const PUBLIC_KEY: &str = "keys/airgap.asc";
/// Public keys the nodes trust.
pub const KEYS: &str = "keys";
/// Rendered node and server configuration.
pub const CONFIG: &str = "config";
/// The rendered Kubespray inventory.
pub const KUBESPRAY: &str = "kubespray";

/// Why the tree could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{path} exists and is not an airgap media tree (it has files but no airgap.lock)")]
    Foreign { path: PathBuf },
    #[error("{path} is a workspace (it has manifests/), not a media tree")]
    Workspace { path: PathBuf },
    #[error("refusing to write `{path}` into the media tree: {problem}")]
    Outside {
        path: String,
        problem: crate::relative_path::PathError,
    },
    #[error("cannot write {path}: {cause}")]
    Write { path: PathBuf, cause: io::Error },
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: io::Error },
    #[error(transparent)]
    Signing(#[from] crate::media::signing::SigningError),
}

/// How a file got onto the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Already there with the right bytes.
    Present,
    /// Linked or copied from the store.
    Written,
    /// The store's blob is damaged; it was evicted and must be fetched again.
    StoreDamaged,
}

/// A media tree being written.
#[derive(Clone)]
pub struct Tree {
    root: PathBuf,
}

impl Tree {
    /// Opens `root` for writing: it must be missing, empty, or an earlier airgap tree.
    pub fn open(root: &Path) -> Result<Tree, MediaError> {
        let write_error = |source| MediaError::Write {
            path: root.to_path_buf(),
            cause: source,
        };
        if root.exists() {
            // A workspace holds an airgap.lock too: taking it for a tree would prune its keys,
            // its in-house artifacts and its committed lock.
            if root.join("manifests").is_dir() {
                return Err(MediaError::Workspace {
                    path: root.to_path_buf(),
                });
            }
            let mut entries = fs::read_dir(root).map_err(write_error)?;
            let empty = entries.next().is_none();
            if !empty && !root.join(LOCK).exists() && !root.join(sums::SUMS).exists() {
                return Err(MediaError::Foreign {
                    path: root.to_path_buf(),
                });
            }
        } else {
            fs::create_dir_all(root).map_err(write_error)?;
        }
        let tree = Tree {
            root: root.to_path_buf(),
        };
        tree.remove_leftovers();
        Ok(tree)
    }

    /// Removes what an interrupted run left: temporary files and directories
    /// (`.airgap-tmp-*`) anywhere in the tree. Only names are looked at.
    fn remove_leftovers(&self) {
        let leftovers: Vec<PathBuf> = walkdir::WalkDir::new(&self.root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|entry| !is_leftover(entry.file_name()))
            .flatten()
            .filter(|entry| entry.file_type().is_dir())
            .flat_map(|directory| {
                fs::read_dir(directory.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|entry| is_leftover(&entry.file_name()))
                    .map(|entry| entry.path())
                    .collect::<Vec<_>>()
            })
            .collect();
        for path in leftovers {
            let removed = if path.is_dir() && !path.is_symlink() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            let _ = removed;
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The place of `relative` in the tree: every write and read of the tree goes through
    /// here, and a path that would leave the tree is refused.
    fn inside(&self, relative: &str) -> Result<PathBuf, MediaError> {
        let checked = RelativePath::new(relative).map_err(|problem| MediaError::Outside {
            path: relative.escape_debug().to_string(),
            problem,
        })?;
        Ok(self.root.join(checked.as_str()))
    }

    /// Whether `relative` is already on the media with `digest` (a regular file, not a link).
    pub fn has(&self, relative: &str, digest: &Digest) -> bool {
        let Ok(path) = self.inside(relative) else {
            return false;
        };
        fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.file_type().is_file())
            && Digest::of_file(&path).is_ok_and(|(found, _)| found == *digest)
    }

    /// Puts the store's blob `digest` at `relative`. A blob that was not fetched by this
    /// process (`fresh`) is hashed again on the way, so a damaged cache never reaches the media.
    pub fn place(
        &self,
        store: &Store,
        relative: &str,
        digest: &Digest,
        fresh: bool,
    ) -> Result<Placement, MediaError> {
        let target = self.inside(relative)?;
        let directory = target.parent().unwrap_or(&self.root).to_path_buf();
        let write_error = |source| MediaError::Write {
            path: target.clone(),
            cause: source,
        };
        fs::create_dir_all(&directory).map_err(write_error)?;
        let blob = store.blob_path(digest);
        // A hard link when the cache is on the same file system (no copy; checked again
        // unless this run just verified the bytes), a hashing copy otherwise.
        let mut copy_error = None;
        let staged =
            tempfile::Builder::new()
                .prefix(TEMPORARY_PREFIX)
                .make_in(&directory, |temporary| {
                    if fs::hard_link(&blob, temporary).is_ok() {
                        return Ok(None);
                    }
                    copy_file_hashing(&blob, temporary)
                        .map(Some)
                        .inspect_err(|error| {
                            copy_error = Some(error.kind());
                        })
                });
        let staged = match staged {
            Ok(staged) => staged,
            Err(source) if copy_error.is_some() => {
                return Err(MediaError::Read {
                    path: blob.clone(),
                    cause: source,
                });
            }
            Err(source) => return Err(write_error(source)),
        };
        let verified = match staged.as_file() {
            None => {
                fresh || Digest::of_file(staged.path()).is_ok_and(|(found, _)| found == *digest)
            }
            Some(copied) => copied == digest,
        };
        if !verified {
            drop(staged);
            store.evict(digest);
            return Ok(Placement::StoreDamaged);
        }
        staged
            .persist(&target)
            .map_err(|error| write_error(error.error))?;
        Ok(Placement::Written)
    }

    /// Removes files below `subtree` that are not in `keep` (paths relative to the root), and
    /// directories left empty. Returns what was removed.
    pub fn prune(&self, subtree: &str, keep: &BTreeSet<String>) -> Result<Vec<String>, MediaError> {
        let base = self.root.join(subtree);
        let mut removed = Vec::new();
        if !base.exists() {
            return Ok(removed);
        }
        let mut directories = Vec::new();
        for entry in walkdir::WalkDir::new(&base).follow_links(false) {
            let entry = entry.map_err(|error| MediaError::Read {
                path: base.clone(),
                cause: error.into(),
            })?;
            let relative = self.relative(entry.path());
            if entry.file_type().is_dir() {
                directories.push(entry.path().to_path_buf());
            } else if !keep.contains(&relative) {
                fs::remove_file(entry.path()).map_err(|source| MediaError::Write {
                    path: entry.path().to_path_buf(),
                    cause: source,
                })?;
                removed.push(relative);
            }
        }
        directories.sort_by_key(|directory| std::cmp::Reverse(directory.components().count()));
        for directory in directories {
            let _ = fs::remove_dir(&directory); // only succeeds when empty
        }
        Ok(removed)
    }

    /// Writes the lock copy, the public key, `SHA256SUMS` over `entries` plus those two, and
    /// the signature (kept when it already signs the same list with the same key).
    /// Returns files at the top of the tree that airgap did not write.
    pub fn finish(
        &self,
        lock_text: &str,
        mut entries: BTreeMap<String, Digest>,
        signer: &Signer,
    ) -> Result<Vec<String>, MediaError> {
        let public_key = signer.public_key_armored()?;
        for (relative, bytes) in [
            (LOCK, lock_text.as_bytes()),
            (PUBLIC_KEY, public_key.as_bytes()),
        ] {
            self.write_if_changed(relative, bytes)?;
            entries.insert(relative.to_string(), Digest::of_bytes(bytes));
        }
        let list = sums::render(&entries);
        let list_changed = self.write_if_changed(sums::SUMS, list.as_bytes())?;
        let signature_path = self.root.join(sums::SIGNATURE);
        let current = fs::read(&signature_path).ok();
        let still_valid = !list_changed
            && current.is_some_and(|signature| signer.signed(list.as_bytes(), &signature));
        if !still_valid {
            let signature = signer.sign_detached(list.as_bytes())?;
            self.write_if_changed(sums::SIGNATURE, signature.as_bytes())?;
        }
        // Anything else in the tree was not written by airgap.
        let mut strangers = Vec::new();
        for entry in walkdir::WalkDir::new(&self.root)
            .follow_links(false)
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_dir() {
                continue;
            }
            let relative = self.relative(entry.path());
            if relative != sums::SUMS
                && relative != sums::SIGNATURE
                && !entries.contains_key(&relative)
            {
                strangers.push(relative);
            }
        }
        Ok(strangers)
    }

    /// Removes the file at `relative` if it is there, and the directories it leaves empty;
    /// returns its size.
    pub fn remove(&self, relative: &str) -> Result<u64, MediaError> {
        let path = self.inside(relative)?;
        let size = match fs::symlink_metadata(&path) {
            Ok(metadata) => metadata.len(),
            Err(_) => return Ok(0),
        };
        fs::remove_file(&path).map_err(|source| MediaError::Write {
            path: path.clone(),
            cause: source,
        })?;
        let mut directory = path.parent();
        while let Some(current) = directory {
            if current == self.root || fs::remove_dir(current).is_err() {
                break;
            }
            directory = current.parent();
        }
        Ok(size)
    }

    /// The regular files of the tree and their total size.
    pub fn usage(&self) -> (usize, u64) {
        walkdir::WalkDir::new(&self.root)
            .follow_links(false)
            .into_iter()
            .flatten()
            .filter(|entry| entry.file_type().is_file())
            .fold((0, 0), |(files, bytes), entry| {
                (
                    files + 1,
                    bytes + entry.metadata().map_or(0, |metadata| metadata.len()),
                )
            })
    }

    /// Writes a small file atomically, unless it already has these bytes.
    pub fn write_if_changed(&self, relative: &str, bytes: &[u8]) -> Result<bool, MediaError> {
        let path = self.inside(relative)?;
        if same_contents(&path, bytes) {
            return Ok(false);
        }
        store::atomic_write(&path, bytes).map_err(|source| MediaError::Write {
            path,
            cause: source,
        })?;
        Ok(true)
    }

    /// Writes what `write` produces to `relative`, streamed through a temporary file and
    /// hashed on the way (never held whole), replacing the file only when the bytes differ.
    /// Returns the digest of the bytes.
    pub fn write_streamed(
        &self,
        relative: &str,
        write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
    ) -> Result<Digest, MediaError> {
        let path = self.inside(relative)?;
        let failed = |cause: io::Error| MediaError::Write {
            path: path.clone(),
            cause,
        };
        let directory = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(directory).map_err(failed)?;
        let temporary = tempfile::Builder::new()
            .prefix(TEMPORARY_PREFIX)
            .tempfile_in(directory)
            .map_err(failed)?;
        let (digest, length) = {
            let mut writer = HashingWriter {
                inner: io::BufWriter::with_capacity(1 << 16, temporary.as_file()),
                hasher: crate::digest::Hasher::new(),
            };
            write(&mut writer).map_err(failed)?;
            io::Write::flush(&mut writer.inner).map_err(failed)?;
            writer.hasher.finish()
        };
        let unchanged = fs::metadata(&path).is_ok_and(|metadata| metadata.len() == length)
            && fs::File::open(&path)
                .and_then(|file| copy_hashing(file, io::sink()))
                .is_ok_and(|(existing, _)| existing == digest);
        if unchanged {
            return Ok(digest);
        }
        use std::os::unix::fs::PermissionsExt;
        temporary
            .as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(failed)?;
        temporary.as_file().sync_all().map_err(failed)?;
        temporary
            .persist(&path)
            .map_err(|error| failed(error.error))?;
        store::sync_directory(directory);
        Ok(digest)
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .components()
            .map(|component| component.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Copies `source` to `target` (created new) and returns the digest of the bytes copied.
pub use crate::store::TEMPORARY_PREFIX;

/// Whether a file name is one of airgap's temporary names.
pub fn is_leftover(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with(TEMPORARY_PREFIX)
}

/// Whether the file at `path` holds exactly `bytes` (compared a block at a time).
fn same_contents(path: &Path, bytes: &[u8]) -> bool {
    use io::Read;
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    if file.metadata().map(|metadata| metadata.len()).ok() != Some(bytes.len() as u64) {
        return false;
    }
    let mut buffer = vec![0u8; 1 << 16];
    let mut offset = 0;
    while offset < bytes.len() {
        match file.read(&mut buffer) {
            Ok(0) => return false,
            Ok(read) => {
                if bytes.get(offset..offset + read) != Some(&buffer[..read]) {
                    return false;
                }
                offset += read;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// A writer that hashes what passes through it.
struct HashingWriter<W: io::Write> {
    inner: W,
    hasher: crate::digest::Hasher,
}

impl<W: io::Write> io::Write for HashingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn copy_file_hashing(source: &Path, target: &Path) -> io::Result<Digest> {
    let input = fs::File::open(source)?;
    let mut output = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)?;
    let (digest, _) = copy_hashing(input, &mut output)?;
    output.sync_all()?;
    Ok(digest)
}

impl crate::hint::Hint for MediaError {
    fn hint(&self) -> Option<String> {
        match self {
            MediaError::Signing(inner) => crate::hint::Hint::hint(inner),
            MediaError::Foreign { .. } => Some("choose an empty or new directory for --to, so that nothing of yours is overwritten".to_string()),
            MediaError::Outside { .. } => Some("the lock or an upstream's metadata names a path outside the tree; do not use that source, and restore the lock from version control".to_string()),
            MediaError::Workspace { .. } => Some("give --to a separate directory for the media, e.g. /media/usb/airgap".to_string()),
            MediaError::Write { .. } => Some("check free space and permissions on the media".to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
