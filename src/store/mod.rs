//! The content-addressed cache: `sha256/<hex>` blobs that are only ever written through a
//! verified temporary file and a rename, so a blob at its final name always has the digest of
//! its name. Also home of `atomic_write`, used for every small file the tool writes.
//!
//! Depends on `digest` only.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, copy_hashing};

/// The prefix of every temporary name airgap gives (in the store, the media tree, beside the
/// lock): a file with it is never a result, and what an interrupted run left.
pub const TEMPORARY_PREFIX: &str = ".airgap-tmp-";

/// Verified bytes in the store, as a fetch left them.
#[derive(Debug, Clone, Copy)]
pub struct Fetched {
    pub digest: Digest,
    pub size: u64,
    /// The bytes were downloaded and verified by this process (not found in the cache).
    pub fresh: bool,
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename,
/// fsync of the directory. A crash leaves the old content or the new, never a mix.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let directory = parent_of(path);
    fs::create_dir_all(directory)?;
    let mut temporary = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .tempfile_in(directory)?;
    temporary.write_all(bytes)?;
    // tempfile creates 0600; the media is read by servers running as other users (nginx).
    use std::os::unix::fs::PermissionsExt;
    temporary
        .as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|error| error.error)?;
    sync_directory(directory);
    Ok(())
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Makes a rename durable. Best effort: not every file system lets a directory be fsynced.
pub fn sync_directory(directory: &Path) {
    if let Ok(handle) = fs::File::open(directory) {
        let _ = handle.sync_all();
    }
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (and creates) a store rooted at `root`.
    pub fn open(root: &Path) -> io::Result<Store> {
        for sub in ["sha256", "partial", "tmp"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// The default location: the user's cache directory.
    pub fn default_root() -> PathBuf {
        dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("airgap")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("sha256").join(digest.hex())
    }

    /// The size of the blob, if the store has it.
    pub fn size_of(&self, digest: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(digest))
            .ok()
            .map(|metadata| metadata.len())
    }

    /// The partial-download file for a transfer identified by `key` (the URL).
    pub fn partial_path(&self, key: &str) -> PathBuf {
        self.root
            .join("partial")
            .join(Digest::of_bytes(key.as_bytes()).hex())
    }

    /// A fresh temporary file inside the store (same file system as the blobs).
    pub fn temporary(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix("incoming-")
            .tempfile_in(self.root.join("tmp"))
    }

    /// Moves a fully written and verified file to its blob name, read-only.
    pub fn commit(&self, file: &Path, digest: &Digest) -> io::Result<PathBuf> {
        let target = self.blob_path(digest);
        let handle = fs::File::open(file)?;
        handle.sync_all()?;
        // Read-only, and readable by everyone: media files may be hard links to blobs, and are
        // served by processes of other users (nginx workers).
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(file, fs::Permissions::from_mode(0o444))?;
        fs::rename(file, &target)?;
        sync_directory(&self.root.join("sha256"));
        Ok(target)
    }

    /// Removes a blob found to be damaged, so that the next use fetches it again.
    pub fn evict(&self, digest: &Digest) {
        let _ = fs::remove_file(self.blob_path(digest));
    }

    /// Streams `reader` into the store, hashing as it goes; the blob is committed only if it
    /// matches `expected` (when given). Returns the digest and size, or the actual digest on a
    /// mismatch.
    pub fn insert_reader(
        &self,
        reader: impl Read,
        expected: Option<&Digest>,
    ) -> io::Result<Result<(Digest, u64), Digest>> {
        let mut temporary = self.temporary()?;
        let (digest, size) = copy_hashing(reader, &mut temporary)?;
        if expected.is_some_and(|expected| *expected != digest) {
            return Ok(Err(digest));
        }
        let path = temporary.into_temp_path();
        self.commit(&path, &digest)?;
        // The file was renamed away; forgetting the TempPath avoids a spurious delete.
        let _ = path.keep();
        Ok(Ok((digest, size)))
    }
}
