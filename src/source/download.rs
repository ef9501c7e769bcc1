//! Streaming, verified, resumable transfers into the store. Bytes are hashed while they
//! stream to a partial file; a dropped connection resumes with `Range`; only bytes whose
//! digest matches reach a blob name. Memory use is one buffer per transfer, whatever the size.

use std::collections::HashSet;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

use crate::digest::{Digest, Hasher};
use crate::http::{self, RetryPolicy};
use crate::manifest::Location;
use crate::printer::Printer;
use crate::store::Store;

/// " after N attempts" when there were several.
fn after_attempts(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

/// Why bytes could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{artifact}: {url} sends more than the {limit} bytes it may")]
    TooLarge {
        artifact: String,
        url: String,
        limit: u64,
    },
    #[error(
        "{artifact}: {url} is too slow: {received} bytes in {seconds} s, below {min_rate} bytes/s after a grace of {grace} s"
    )]
    TooSlow {
        artifact: String,
        url: String,
        received: u64,
        seconds: u64,
        min_rate: u64,
        grace: u64,
    },
    #[error(transparent)]
    DigestMismatch(Box<Mismatch>),
    #[error("{artifact}: {url} answered {status}")]
    Status {
        artifact: String,
        url: String,
        status: reqwest::StatusCode,
        hint: &'static str,
    },
    #[error("{artifact}: cannot fetch {url}{}: {message}", after_attempts(*.attempts))]
    Network {
        artifact: String,
        url: String,
        attempts: u32,
        message: String,
    },
    #[error("{artifact}: cannot read {path}: {cause}")]
    Local {
        artifact: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{artifact}: the checksum file {url} {message}")]
    Checksum {
        artifact: String,
        url: String,
        message: String,
    },
    #[error("cannot write to the cache at {path}: {cause}")]
    Cache {
        path: PathBuf,
        cause: std::io::Error,
    },
}

pub use crate::store::Fetched;

/// Fetches artifacts into the store.
#[derive(Clone)]
pub struct Downloader {
    pub client: reqwest::Client,
    pub store: Store,
    pub printer: Printer,
    pub retry: RetryPolicy,
    /// The pace every HTTP fetch must keep (an overall deadline that grows with progress).
    pub pace: crate::limits::Pace,
    pub workspace: PathBuf,
    /// Blobs this process downloaded and verified; they need no second hashing pass.
    pub verified: Arc<Mutex<HashSet<Digest>>>,
}

impl Downloader {
    /// Makes the bytes at `url` available in the store and returns their digest. With
    /// `expected`, a blob already in the store is used as is, and other bytes are refused.
    /// `limit` bounds the bytes accepted: the pinned size, or one of `limits` when no size is
    /// pinned; the transfer stops one byte past it.
    pub async fn fetch(
        &self,
        artifact: &str,
        name: &str,
        url: &str,
        expected: Option<Digest>,
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        self.fetch_with(artifact, name, url, expected, limit, &HeaderMap::new())
            .await
    }

    /// [`fetch`](Self::fetch) with extra request headers (a registry's `Authorization`).
    /// reqwest drops `Authorization` when a redirect leaves the host, so object-storage
    /// redirects never see registry credentials.
    pub async fn fetch_with(
        &self,
        artifact: &str,
        name: &str,
        url: &str,
        expected: Option<Digest>,
        limit: u64,
        headers: &HeaderMap,
    ) -> Result<Fetched, FetchError> {
        if let Some(expected) = expected
            && let Some(size) = self.store.size_of(&expected)
        {
            self.printer.detail(format!(
                "cached  {url} ({}, {})",
                indicatif::HumanBytes(size),
                expected.short()
            ));
            return Ok(Fetched {
                digest: expected,
                size,
                fresh: self.was_verified(&expected),
            });
        }
        let location =
            Location::parse(url, &self.workspace).map_err(|message| FetchError::Network {
                artifact: artifact.to_string(),
                url: url.to_string(),
                attempts: 0,
                message: message.to_string(),
            })?;
        let (digest, size, resumed) = match location {
            Location::Local(path) => {
                let (digest, size) = self
                    .fetch_local(artifact, &path, expected.as_ref(), limit)
                    .await?;
                (digest, size, false)
            }
            Location::Http(_) => {
                let outcome = self
                    .fetch_http(artifact, url, expected.as_ref(), limit, headers)
                    .await?;
                (outcome.0, outcome.1, outcome.2)
            }
        };
        match expected {
            Some(expected) if expected != digest => {
                if resumed {
                    // The partial bytes may predate an upstream change: start over once.
                    self.printer.warn(format!(
                        "{artifact}: resumed download of {url} did not verify; downloading it again from the start"
                    ));
                    let (digest, size, _) = self
                        .fetch_http(artifact, url, Some(&expected), limit, headers)
                        .await?;
                    if digest == expected {
                        self.mark_verified(digest);
                        return Ok(Fetched {
                            digest,
                            size,
                            fresh: true,
                        });
                    }
                    return Err(mismatch(artifact, name, url, expected, digest));
                }
                Err(mismatch(artifact, name, url, expected, digest))
            }
            _ => {
                self.mark_verified(digest);
                self.printer.detail(format!(
                    "fetched {url} ({}, {})",
                    indicatif::HumanBytes(size),
                    digest.short()
                ));
                Ok(Fetched {
                    digest,
                    size,
                    fresh: true,
                })
            }
        }
    }

    fn was_verified(&self, digest: &Digest) -> bool {
        self.verified
            .lock()
            .is_ok_and(|verified| verified.contains(digest))
    }

    fn mark_verified(&self, digest: Digest) {
        if let Ok(mut verified) = self.verified.lock() {
            verified.insert(digest);
        }
    }

    async fn fetch_local(
        &self,
        artifact: &str,
        path: &Path,
        expected: Option<&Digest>,
        limit: u64,
    ) -> Result<(Digest, u64), FetchError> {
        // A regular file within the limit: a FIFO or a device would be read forever.
        let regular = std::fs::metadata(path).map(|metadata| (metadata.is_file(), metadata.len()));
        if let Ok((is_file, length)) = regular
            && (!is_file || length > limit)
        {
            return Err(FetchError::TooLarge {
                artifact: artifact.to_string(),
                url: path.display().to_string(),
                limit,
            });
        }
        let store = self.store.clone();
        let path_owned = path.to_path_buf();
        let expected = expected.copied();
        let artifact_owned = artifact.to_string();
        let outcome = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path_owned).map_err(|source| FetchError::Local {
                artifact: artifact_owned.clone(),
                path: path_owned.clone(),
                cause: source,
            })?;
            store
                .insert_reader(file, expected.as_ref())
                .map_err(|source| FetchError::Local {
                    artifact: artifact_owned,
                    path: path_owned,
                    cause: source,
                })
        })
        .await
        .map_err(|error| FetchError::Cache {
            path: self.store.root().to_path_buf(),
            cause: std::io::Error::other(error),
        })??;
        // A mismatch is reported by the caller, which knows the name and the URL.
        Ok(match outcome {
            Ok(found) => found,
            Err(actual) => (actual, 0),
        })
    }

    /// Downloads into the partial file, resuming and retrying; commits to the store when
    /// the digest is right. Returns (digest, size, whether earlier partial bytes were reused).
    async fn fetch_http(
        &self,
        artifact: &str,
        url: &str,
        expected: Option<&Digest>,
        limit: u64,
        headers: &HeaderMap,
    ) -> Result<(Digest, u64, bool), FetchError> {
        let partial_path = self.store.partial_path(url);
        let too_large = |partial: &Path| {
            // What was received is not the pinned bytes: nothing of it is kept to resume.
            let _ = std::fs::remove_file(partial);
            FetchError::TooLarge {
                artifact: artifact.to_string(),
                url: url.to_string(),
                limit,
            }
        };
        let cache_error = |source: std::io::Error| FetchError::Cache {
            path: partial_path.clone(),
            cause: source,
        };
        let mut file = {
            let path = partial_path.clone();
            tokio::task::spawn_blocking(move || open_locked(&path))
                .await
                .map_err(|error| cache_error(std::io::Error::other(error)))?
                .map_err(cache_error)?
        };
        // Another process may have finished this very transfer while we waited for the lock.
        if let Some(expected) = expected
            && let Some(size) = self.store.size_of(expected)
        {
            return Ok((*expected, size, false));
        }
        // Bytes left by an earlier, interrupted run are hashed again to resume the digest.
        let mut hasher = Hasher::new();
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = file.read(&mut buffer).await.map_err(cache_error)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        drop(buffer);
        let reused_partial = hasher.length() > 0;
        let mut resumed = reused_partial;
        let mut failures = 0u32;
        // Progress is bytes beyond the most ever held: a server that ignores Range and drops
        // the connection early sends the same first bytes again and again, which is no progress.
        let mut high_water = hasher.length();
        // The deadline: bytes received now (beyond what an earlier run left) buy time.
        let clock = self.pace.start();
        let initial = hasher.length();
        let too_slow = |received: u64| {
            let pace = clock.pace();
            FetchError::TooSlow {
                artifact: artifact.to_string(),
                url: url.to_string(),
                received,
                seconds: clock.elapsed().as_secs(),
                min_rate: pace.min_rate,
                grace: pace.grace.as_secs(),
            }
        };
        let mut last_error = String::new();
        let bar = self.printer.transfer_bar(artifact, None);
        loop {
            if failures >= self.retry.attempts {
                bar.finish_and_clear();
                return Err(FetchError::Network {
                    artifact: artifact.to_string(),
                    url: url.to_string(),
                    attempts: failures,
                    message: last_error,
                });
            }
            let offset = hasher.length();
            let mut request = self.client.get(url).headers(headers.clone());
            if offset > 0 {
                request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
            }
            let received = high_water.saturating_sub(initial);
            let mut response =
                match tokio::time::timeout(clock.remaining(received), request.send()).await {
                    Err(_) => {
                        bar.finish_and_clear();
                        return Err(too_slow(received));
                    }
                    Ok(Ok(response)) => response,
                    Ok(Err(error)) => {
                        failures += 1;
                        last_error = http::error_chain(&error);
                        if http::is_permanent(&last_error) {
                            // Retrying cannot fix a certificate the client does not trust,
                            // nor a host name that does not exist.
                            bar.finish_and_clear();
                            return Err(FetchError::Network {
                                artifact: artifact.to_string(),
                                url: url.to_string(),
                                attempts: 1,
                                message: last_error,
                            });
                        }
                        self.pause(artifact, url, failures, None, &last_error).await;
                        continue;
                    }
                };
            let status = response.status();
            if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE && offset > 0 {
                // The partial bytes are no prefix of what is served now: start over.
                restart(&mut file, &mut hasher).await.map_err(cache_error)?;
                resumed = false;
                continue;
            }
            if http::is_transient(status) {
                failures += 1;
                last_error = format!("the server answered {status}");
                let wait = http::retry_after(&response);
                self.pause(artifact, url, failures, wait, &last_error).await;
                continue;
            }
            if !status.is_success() {
                bar.finish_and_clear();
                return Err(FetchError::Status {
                    artifact: artifact.to_string(),
                    url: url.to_string(),
                    status,
                    hint: match status.as_u16() {
                        401 | 403 => {
                            "the upstream refuses access; check credentials or whether the URL is public"
                        }
                        404 | 410 => {
                            "check the URL and version in the manifest; the upstream does not have this file"
                        }
                        _ => "check the URL in the manifest",
                    },
                });
            }
            let ranged = status == reqwest::StatusCode::PARTIAL_CONTENT
                && content_range_start(&response) == Some(offset);
            if offset > 0 && !ranged {
                // The server ignored the Range header and sends everything.
                restart(&mut file, &mut hasher).await.map_err(cache_error)?;
                resumed = false;
            }
            let total = response
                .content_length()
                .map(|length| length + hasher.length());
            if total.is_some_and(|total| total > limit) {
                bar.finish_and_clear();
                drop(file);
                return Err(too_large(&partial_path));
            }
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(hasher.length());
            file.seek(SeekFrom::Start(hasher.length()))
                .await
                .map_err(cache_error)?;
            let mut writer = BufWriter::with_capacity(1 << 20, &mut file);
            let mut progressed = false;
            let mut broken = None;
            loop {
                let received = high_water.max(hasher.length()).saturating_sub(initial);
                let Ok(next) =
                    tokio::time::timeout(clock.remaining(received), response.chunk()).await
                else {
                    // What arrived is kept: it is checked by its digest, and a rerun resumes.
                    bar.finish_and_clear();
                    writer.flush().await.map_err(cache_error)?;
                    return Err(too_slow(received));
                };
                match next {
                    Ok(Some(chunk)) => {
                        if hasher.length() + chunk.len() as u64 > limit {
                            bar.finish_and_clear();
                            drop(writer);
                            drop(file);
                            return Err(too_large(&partial_path));
                        }
                        writer.write_all(&chunk).await.map_err(cache_error)?;
                        hasher.update(&chunk);
                        bar.set_position(hasher.length());
                        progressed = true;
                    }
                    Ok(None) => break,
                    Err(error) => {
                        broken = Some(http::error_chain(&error));
                        break;
                    }
                }
            }
            writer.flush().await.map_err(cache_error)?;
            drop(writer);
            if progressed && hasher.length() > high_water {
                high_water = hasher.length();
                failures = 0;
            }
            let short = total.is_some_and(|total| hasher.length() < total);
            if broken.is_some() || short {
                failures += 1;
                last_error = broken.unwrap_or_else(|| {
                    "the connection closed before the end of the body".to_string()
                });
                resumed = true;
                self.printer.detail(format!(
                    "{artifact}: transfer interrupted at {} bytes ({last_error}); resuming",
                    hasher.length()
                ));
                self.pause(artifact, url, failures, None, &last_error).await;
                continue;
            }
            break;
        }
        bar.finish_and_clear();
        file.sync_all().await.map_err(cache_error)?;
        drop(file);
        let (digest, size) = hasher.finish();
        if expected.is_some_and(|expected| *expected != digest) {
            let _ = std::fs::remove_file(&partial_path);
            return Ok((digest, size, resumed));
        }
        self.store
            .commit(&partial_path, &digest)
            .map_err(cache_error)?;
        Ok((digest, size, resumed))
    }

    async fn pause(
        &self,
        artifact: &str,
        url: &str,
        failures: u32,
        retry_after: Option<std::time::Duration>,
        reason: &str,
    ) {
        if failures >= self.retry.attempts {
            return;
        }
        let delay = self.retry.delay(failures, retry_after);
        self.printer.detail(format!(
            "{artifact}: {url}: {reason}; retrying in {:.1}s",
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }
}

/// Opens (creating) the partial file and takes an exclusive lock on it, so that two
/// processes sharing a cache never append to the same partial file. If the file was renamed
/// into the store while we waited, the lock is on a stale inode: open again.
fn open_locked(path: &Path) -> std::io::Result<tokio::fs::File> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        file.lock()?;
        let still_there = std::fs::metadata(path).is_ok_and(|on_disk| {
            file.metadata()
                .is_ok_and(|held| held.ino() == on_disk.ino() && held.dev() == on_disk.dev())
        });
        if still_there {
            return Ok(tokio::fs::File::from_std(file));
        }
    }
}

/// Bytes that do not match their pin (boxed: the rarest error is the largest).
#[derive(Debug, thiserror::Error)]
#[error(
    "{artifact}: the bytes from {url} do not match the pin\n  expected: {expected}\n  actual:   {actual}"
)]
pub struct Mismatch {
    pub artifact: String,
    pub name: String,
    pub url: String,
    pub expected: Digest,
    pub actual: Digest,
}

impl crate::hint::Hint for Mismatch {
    fn hint(&self) -> Option<String> {
        Some(format!(
            "if the upstream really published new bytes, review that and update the pin (`sha256` in the manifest, or `airgap lock --update {}`); otherwise the download was tampered with or corrupted",
            self.name
        ))
    }
}

/// `base` (ending in `/`) joined with a repository-relative `path`. For HTTP(S) each segment is
/// percent-encoded, as apt and dnf do: pool paths may hold `%` (an epoch's `:` is stored as
/// `%3a`) or `+`. Local paths are joined as they are.
pub fn join_url(base: &str, path: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'+');
    if base.starts_with("http://") || base.starts_with("https://") {
        let encoded: Vec<String> = path
            .split('/')
            .map(|segment| percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string())
            .collect();
        format!("{base}{}", encoded.join("/"))
    } else {
        format!("{base}{path}")
    }
}

fn mismatch(artifact: &str, name: &str, url: &str, expected: Digest, actual: Digest) -> FetchError {
    FetchError::DigestMismatch(Box::new(Mismatch {
        artifact: artifact.to_string(),
        name: name.to_string(),
        url: url.to_string(),
        expected,
        actual,
    }))
}

async fn restart(file: &mut tokio::fs::File, hasher: &mut Hasher) -> std::io::Result<()> {
    file.set_len(0).await?;
    file.seek(SeekFrom::Start(0)).await?;
    *hasher = Hasher::new();
    Ok(())
}

/// The first byte position of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

impl crate::hint::Hint for FetchError {
    fn hint(&self) -> Option<String> {
        match self {
            FetchError::TooLarge { .. } => Some(
                "the upstream sends more than was pinned (or than airgap accepts unpinned); it changed or is hostile: review it before pinning anything new".to_string(),
            ),
            FetchError::TooSlow { .. } => Some("a rerun resumes where this one stopped; on a slow but honest link, lower --min-rate or raise --fetch-grace".to_string()),
            FetchError::DigestMismatch(inner) => crate::hint::Hint::hint(inner.as_ref()),
            FetchError::Status { hint, .. } => Some(hint.to_string()),
            FetchError::Network { message, .. } if message.contains("Name or service not known") || message.contains("No address associated with hostname") => Some("the host name does not resolve: check the URL's spelling, and the DNS or HTTPS_PROXY of this machine".to_string()),
            FetchError::Network { .. } => Some("check the network path to the upstream (HTTPS_PROXY, NO_PROXY, --ca-cert for a TLS-inspecting proxy); a rerun resumes where this one stopped".to_string()),
            FetchError::Local { .. } => Some("local sources are paths relative to the workspace, or file:// URLs".to_string()),
            FetchError::Checksum { .. } => Some("check `checksum_url`, or pin the digest with `sha256` in the manifest".to_string()),
            FetchError::Cache { .. } => Some("check free space and permissions, or choose another cache with --cache DIR".to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
