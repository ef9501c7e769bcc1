//! `[[file]]`: static files by URL or from the workspace. Resolution establishes the digest
//! (manifest pin, upstream checksum file, or trust on first use, in that order), fetches the
//! bytes once to check it and learn the size, and returns the lock pin.

pub mod checksum;
pub mod entry;
mod kind;
pub mod pin;

pub use entry::{FileArtifact, FileKey, PinSource, RawFile, RawSha256};
pub use kind::{Files, ROOT};
pub use pin::LockedFile;

use crate::source::download::{Downloader, FetchError, Fetched};

/// Resolves one manifest file entry into a pin. The bytes end up in the store.
pub async fn resolve(
    downloader: &Downloader,
    artifact: &FileArtifact,
) -> Result<LockedFile, FetchError> {
    let label = format!("file {}", artifact.key);
    let mut expected = artifact.sha256;
    if let Some(checksum_url) = &artifact.checksum_url {
        let published = published_digest(
            downloader,
            &label,
            &artifact.key.name,
            checksum_url,
            &artifact.url,
        )
        .await?;
        match expected {
            Some(pinned) if pinned != published => {
                return Err(FetchError::Checksum {
                    artifact: label,
                    url: checksum_url.clone(),
                    message: format!("publishes {published}, but the manifest pins {pinned}"),
                });
            }
            _ => expected = Some(published),
        }
    }
    let fetched = downloader
        .fetch(
            &label,
            &artifact.key.name,
            &artifact.url,
            expected,
            crate::limits::UNPINNED_FILE,
        )
        .await?;
    if expected.is_none() {
        downloader.printer.warn(format!(
            "{label}: no `sha256` or `checksum_url` in {}; trusting the bytes seen now ({})\n         pin it: sha256 = \"{}\"",
            artifact.origin,
            fetched.digest,
            fetched.digest.hex()
        ));
    }
    Ok(LockedFile {
        name: artifact.key.name.clone(),
        arch: artifact.key.arch.clone(),
        url: artifact.url.clone(),
        path: artifact.path.clone(),
        digest: fetched.digest,
        size: fetched.size,
        pinned_by: artifact.pin_source(),
        checksum_url: artifact.checksum_url.clone(),
        signature_url: artifact.signature_url.clone(),
        certificate_url: artifact.certificate_url.clone(),
        signature: None,
    })
}

/// Makes the bytes of a pin available in the store, verified against the pin.
pub async fn fetch(downloader: &Downloader, pinned: &LockedFile) -> Result<Fetched, FetchError> {
    let label = format!("file {}", pinned.key());
    downloader
        .fetch(
            &label,
            &pinned.name,
            &pinned.url,
            Some(pinned.digest),
            crate::limits::pinned(pinned.size),
        )
        .await
}

async fn published_digest(
    downloader: &Downloader,
    label: &str,
    name: &str,
    checksum_url: &str,
    url: &str,
) -> Result<crate::digest::Digest, FetchError> {
    let checksum_label = format!("{label} checksum");
    let fetched = downloader
        .fetch(
            &checksum_label,
            name,
            checksum_url,
            None,
            crate::limits::CHECKSUM_FILE,
        )
        .await?;
    let checksum_error = |message: String| FetchError::Checksum {
        artifact: label.to_string(),
        url: checksum_url.to_string(),
        message,
    };
    if fetched.size > 1 << 20 {
        return Err(checksum_error(format!(
            "is {} bytes, too large for a checksum file",
            fetched.size
        )));
    }
    let text = std::fs::read_to_string(downloader.store.blob_path(&fetched.digest))
        .map_err(|error| checksum_error(format!("cannot be read as text: {error}")))?;
    let file_name = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .next()
        .unwrap_or(url);
    checksum::find(&text, file_name).map_err(|error| checksum_error(error.to_string()))
}
