//! The push side of the OCI distribution API: copying every image of a media tree's OCI
//! layout into an enclave's own registry (Harbor, distribution, Zot), digests preserved byte
//! for byte. Blobs the registry has are skipped (`HEAD`), blobs shared between repositories
//! are mounted (`?mount=&from=`) instead of sent again, uploads are monolithic or chunked as
//! the registry asks, each blob is hashed as it is read from the media (a damaged blob is
//! never committed), and every request is retried on transient failures. Nothing is written
//! before the credentials are known to work.
//!
//! Depends on `oci::registry` (scheme, challenge, credentials, tokens), `lock`, `oci::reference`
//! and `oci::layout`; `ops::push` calls it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, LOCATION};
use tokio::io::AsyncReadExt;

use crate::digest::{Digest, Hasher};
use crate::http;
use crate::oci::layout as oci_layout;
use crate::oci::manifest;
use crate::oci::pin::LockedImage;
use crate::oci::reference::Reference;
use crate::oci::registry::Registry;
use crate::oci::target::Target;

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("--layout flat maps several upstream repositories to one name:\n{0}")]
    Collision(String),
    #[error(transparent)]
    Registry(#[from] crate::oci::registry::RegistryError),
    #[error("{what}: {message}")]
    Failed {
        what: String,
        message: String,
        hint: Option<String>,
    },
}

fn failed(what: impl Into<String>, message: impl Into<String>) -> PushError {
    PushError::Failed {
        what: what.into(),
        message: message.into(),
        hint: None,
    }
}

/// One manifest to put: its repository, digest, media type, and the tag to put it under.
#[derive(Debug, Clone)]
struct ManifestPut {
    digest: Digest,
    media_type: String,
    tag: Option<String>,
    /// The manifest as the media holds it, read and verified once by [`Plan::new`].
    bytes: Vec<u8>,
}

/// One image (or OCI chart) of the tree, in the order its parts must land.
#[derive(Debug)]
pub struct ImagePlan {
    pub source: String,
    pub target: Reference,
    /// Manifests, children first, the tagged top last.
    manifests: Vec<ManifestPut>,
    /// Blobs (config and layers) with sizes.
    blobs: BTreeMap<Digest, u64>,
}

/// Everything a push sends.
#[derive(Debug)]
pub struct Plan {
    pub images: Vec<ImagePlan>,
    root: PathBuf,
}

impl Plan {
    /// Reads the images of the tree at `root` (its lock and OCI layout) and maps them onto
    /// `target`. Flat names that collide are an error listing every collision.
    pub fn new(root: &Path, images: &[LockedImage], target: &Target) -> Result<Plan, PushError> {
        let mut plans = Vec::new();
        let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for image in images {
            let upstream = Reference::parse(&image.reference)
                .map_err(|message| failed(&image.reference, message.to_string()))?;
            let repository = target.repository(&upstream);
            names
                .entry(repository.clone())
                .or_default()
                .insert(format!("{}/{}", upstream.registry, upstream.repository));
            let target_reference = Reference {
                registry: target.host.clone(),
                repository,
                tag: upstream.tag.clone(),
                digest: Some(image.digest),
            };
            let mut plan = ImagePlan {
                source: image.reference.clone(),
                target: target_reference,
                manifests: Vec::new(),
                blobs: BTreeMap::new(),
            };
            let root_path = root.to_path_buf();
            let mut add =
                |digest: &Digest, media_type: &str, tag: Option<String>| -> Result<(), PushError> {
                    let path = root_path.join(oci_layout::blob_path(digest));
                    let bytes = read_manifest(&path, digest)?;
                    let parsed = manifest::parse(&bytes, Some(media_type)).map_err(|message| {
                        failed(path.display().to_string(), message.to_string())
                    })?;
                    for blob in &parsed.blobs {
                        plan.blobs.insert(blob.digest, blob.size);
                    }
                    plan.manifests.push(ManifestPut {
                        digest: *digest,
                        media_type: media_type.to_string(),
                        tag,
                        bytes,
                    });
                    Ok(())
                };
            for child in &image.manifests {
                add(&child.digest, &child.media_type, None)?;
            }
            add(&image.digest, &image.media_type, upstream.tag.clone())?;
            for referrer in &image.referrer_manifests {
                add(&referrer.digest, &referrer.media_type, referrer.tag.clone())?;
            }
            plans.push(plan);
        }
        let collisions: Vec<String> = names
            .iter()
            .filter(|(_, sources)| sources.len() > 1)
            .map(|(name, sources)| {
                format!(
                    "  {}/{name} <- {}",
                    target.host,
                    sources.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        if !collisions.is_empty() {
            return Err(PushError::Collision(collisions.join("\n")));
        }
        Ok(Plan {
            images: plans,
            root: root.to_path_buf(),
        })
    }
}

/// Reads a manifest blob of the layout and checks its digest.
fn read_manifest(path: &Path, digest: &Digest) -> Result<Vec<u8>, PushError> {
    let bytes = std::fs::read(path).map_err(|error| {
        failed(
            path.display().to_string(),
            format!("{error}; run `airgap verify` on the tree"),
        )
    })?;
    if Digest::of_bytes(&bytes) != *digest {
        return Err(failed(
            path.display().to_string(),
            format!("is not {digest}; the tree is damaged, run `airgap verify` on it"),
        ));
    }
    Ok(bytes)
}

/// What a push did (or, dry, would do).
#[derive(Debug, Default)]
pub struct Tally {
    pub blobs_present: AtomicUsize,
    pub bytes_present: AtomicU64,
    pub blobs_mounted: AtomicUsize,
    pub blobs_sent: AtomicUsize,
    pub bytes_sent: AtomicU64,
    pub manifests_present: AtomicUsize,
    pub manifests_sent: AtomicUsize,
}

/// The pushing client.
pub struct Pusher<'a> {
    pub registry: &'a Registry,
    pub client: reqwest::Client,
    pub target: &'a Target,
    pub jobs: usize,
    pub dry_run: bool,
    /// Upload in chunks of this many bytes (otherwise monolithic, unless the registry asks
    /// for chunks with `OCI-Chunk-Min-Length`).
    pub chunk_size: Option<u64>,
    pub tally: Tally,
    /// How transient failures are retried (`settings.retry`).
    pub retry: http::RetryPolicy,
}

impl Pusher<'_> {
    async fn headers(
        &self,
        reference: &Reference,
        refresh: bool,
        mount_from: Option<&str>,
    ) -> Result<HeaderMap, PushError> {
        let mut scopes = vec![format!("repository:{}:pull,push", reference.repository)];
        if let Some(from) = mount_from {
            scopes.push(format!("repository:{from}:pull"));
        }
        Ok(self
            .registry
            .authorization_for(reference, self.target.plain_http, refresh, &scopes)
            .await?)
    }

    async fn base(&self, reference: &Reference) -> Result<String, PushError> {
        Ok(self
            .registry
            .base(reference, self.target.plain_http)
            .await?)
    }

    /// Fails, before anything is sent, when the registry refuses these credentials.
    pub async fn check_access(&self, plan: &Plan) -> Result<(), PushError> {
        let Some(first) = plan.images.first() else {
            return Ok(());
        };
        let headers = self.headers(&first.target, false, None).await?;
        let url = format!("{}/v2/", self.base(&first.target).await?);
        let response = self
            .client
            .get(&url)
            .headers(headers)
            .send()
            .await
            .map_err(|error| failed(&url, http::error_chain(&error)))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(PushError::Failed {
                what: self.target.host.clone(),
                message: format!(
                    "the registry refuses these credentials ({}); nothing was sent",
                    response.status()
                ),
                hint: Some(format!(
                    "`docker login {}`, or set AIRGAP_REGISTRY_USERNAME and AIRGAP_REGISTRY_PASSWORD",
                    self.target.host
                )),
            }),
            status => Err(failed(
                &url,
                format!("answered {status}; is this an OCI registry?"),
            )),
        }
    }

    /// Sends every blob, then every manifest.
    pub async fn push(&self, plan: &Plan) -> Result<(), PushError> {
        // Each blob once: to its first repository by upload, to the others by mount.
        let mut blobs: BTreeMap<Digest, (u64, Vec<&Reference>)> = BTreeMap::new();
        for image in &plan.images {
            for (digest, size) in &image.blobs {
                let entry = blobs.entry(*digest).or_insert((*size, Vec::new()));
                if !entry
                    .1
                    .iter()
                    .any(|known| known.repository == image.target.repository)
                {
                    entry.1.push(&image.target);
                }
            }
        }
        // Largest first: the longest transfer starts at once instead of last.
        let mut order: Vec<_> = blobs.iter().collect();
        order.sort_by(|left, right| right.1.0.cmp(&left.1.0).then(left.0.cmp(right.0)));
        let results: Vec<Result<(), PushError>> = futures_util::stream::iter(order)
            .map(|(digest, (size, repositories))| async move {
                let mut mounted_from: Option<&str> = None;
                for repository in repositories {
                    self.blob(plan, repository, digest, *size, mounted_from)
                        .await?;
                    mounted_from.get_or_insert(repository.repository.as_str());
                }
                Ok(())
            })
            .buffer_unordered(self.jobs.max(1))
            .collect()
            .await;
        all_done(
            results,
            "blobs",
            "could not be pushed; what landed stays, and a rerun sends only the rest",
        )?;
        let results: Vec<Result<(), PushError>> = futures_util::stream::iter(plan.images.iter())
            .map(|image| async move {
                for put in &image.manifests {
                    self.manifest(&image.target, put).await?;
                }
                Ok(())
            })
            .buffer_unordered(self.jobs.max(1))
            .collect()
            .await;
        all_done(results, "images", "could not be pushed")
    }

    /// Retries `attempt` on transport errors, 429 and 5xx, by the one retry policy (honouring
    /// `Retry-After`).
    async fn retrying<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, PushError>
    where
        F: FnMut(bool) -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        let mut refresh = false;
        let mut failures = 0;
        loop {
            match attempt(refresh).await {
                Ok(value) => return Ok(value),
                Err(Attempt::Fatal(message)) => return Err(failed(what, message)),
                Err(Attempt::Refused { message, hint }) => {
                    return Err(PushError::Failed {
                        what: what.to_string(),
                        message,
                        hint: Some(hint.to_string()),
                    });
                }
                Err(Attempt::Unauthorized(message)) if refresh => {
                    return Err(failed(what, message));
                }
                Err(Attempt::Unauthorized(_)) => refresh = true,
                Err(Attempt::Transient(message, retry_after)) => {
                    failures += 1;
                    if failures >= self.retry.attempts {
                        return Err(failed(
                            what,
                            format!("{message} (after {failures} attempts)"),
                        ));
                    }
                    tokio::time::sleep(self.retry.delay(failures, retry_after)).await;
                }
            }
        }
    }

    async fn blob(
        &self,
        plan: &Plan,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        mount_from: Option<&str>,
    ) -> Result<(), PushError> {
        let what = format!(
            "blob {digest} to {}/{}",
            reference.registry, reference.repository
        );
        let path = plan.root.join(oci_layout::blob_path(digest));
        let base = self.base(reference).await?;
        let outcome = self
            .retrying(&what, |refresh| {
                let path = path.clone();
                let base = base.clone();
                async move {
                    let headers = self
                        .headers(reference, refresh, mount_from)
                        .await
                        .map_err(|error| Attempt::Fatal(error.to_string()))?;
                    let head = format!("{base}/v2/{}/blobs/{digest}", reference.repository);
                    let response = self
                        .client
                        .head(&head)
                        .headers(headers.clone())
                        .send()
                        .await
                        .map_err(transport)?;
                    match response.status() {
                        status if status.is_success() => return Ok(Landed::Present),
                        StatusCode::NOT_FOUND => {}
                        _ => return Err(classify(&response, &head)),
                    }
                    if self.dry_run {
                        return Ok(Landed::WouldSend);
                    }
                    let start = match mount_from {
                        Some(from) => format!(
                            "{base}/v2/{}/blobs/uploads/?mount={digest}&from={from}",
                            reference.repository
                        ),
                        None => format!("{base}/v2/{}/blobs/uploads/", reference.repository),
                    };
                    let response = self
                        .client
                        .post(&start)
                        .headers(headers.clone())
                        .header(CONTENT_LENGTH, 0)
                        .send()
                        .await
                        .map_err(transport)?;
                    let status = response.status();
                    if status == StatusCode::CREATED && mount_from.is_some() {
                        return Ok(Landed::Mounted);
                    }
                    if status != StatusCode::ACCEPTED {
                        return Err(classify(&response, &start));
                    }
                    let minimum: Option<u64> = response
                        .headers()
                        .get("OCI-Chunk-Min-Length")
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse().ok());
                    let location = location(&base, &response).ok_or_else(|| {
                        Attempt::Fatal(format!("{start} answered 202 without a Location"))
                    })?;
                    match chunk_for(self.chunk_size, minimum) {
                        Some(chunk) if size > 0 => {
                            self.upload_chunked(&headers, location, &path, digest, size, chunk)
                                .await?
                        }
                        _ => {
                            self.upload_monolithic(&headers, &location, &path, digest, size)
                                .await?
                        }
                    }
                    Ok(Landed::Sent)
                }
            })
            .await?;
        match outcome {
            Landed::Present => {
                self.tally.blobs_present.fetch_add(1, Ordering::Relaxed);
                self.tally.bytes_present.fetch_add(size, Ordering::Relaxed);
            }
            Landed::Mounted => {
                self.tally.blobs_mounted.fetch_add(1, Ordering::Relaxed);
            }
            Landed::Sent | Landed::WouldSend => {
                self.tally.blobs_sent.fetch_add(1, Ordering::Relaxed);
                self.tally.bytes_sent.fetch_add(size, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// One PUT with the whole blob, hashed as it is read: a blob whose bytes are not its
    /// digest ends the request with an error, so the registry never commits it.
    async fn upload_monolithic(
        &self,
        headers: &HeaderMap,
        location: &str,
        path: &Path,
        digest: &Digest,
        size: u64,
    ) -> Result<(), Attempt> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|error| Attempt::Fatal(format!("cannot read {}: {error}", path.display())))?;
        let body = reqwest::Body::wrap_stream(verified_stream(file, *digest, size));
        let url = with_digest(location, digest);
        let response = self
            .client
            .put(&url)
            .headers(headers.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        committed(&response, &url)
    }

    /// PATCH chunks with `Content-Range`, then a closing PUT with the digest.
    async fn upload_chunked(
        &self,
        headers: &HeaderMap,
        mut location: String,
        path: &Path,
        digest: &Digest,
        size: u64,
        chunk: u64,
    ) -> Result<(), Attempt> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|error| Attempt::Fatal(format!("cannot read {}: {error}", path.display())))?;
        let mut hasher = Hasher::new();
        let mut offset = 0u64;
        while offset < size {
            let length = chunk.min(size - offset);
            let mut buffer = vec![0u8; length as usize];
            file.read_exact(&mut buffer).await.map_err(|error| {
                Attempt::Fatal(format!("cannot read {}: {error}", path.display()))
            })?;
            hasher.update(&buffer);
            if offset + length == size && hasher.clone().finish().0 != *digest {
                return Err(Attempt::Fatal(format!(
                    "{} is not {digest} on the media; nothing was committed. Run `airgap verify` on the tree",
                    path.display()
                )));
            }
            let response = self
                .client
                .patch(&location)
                .headers(headers.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, length)
                .header(CONTENT_RANGE, format!("{offset}-{}", offset + length - 1))
                .body(buffer)
                .send()
                .await
                .map_err(transport)?;
            if response.status() != StatusCode::ACCEPTED {
                return Err(classify(&response, &location));
            }
            let base = location
                .split("/v2/")
                .next()
                .unwrap_or_default()
                .to_string();
            location = self::location(&base, &response).unwrap_or(location);
            offset += length;
        }
        let url = with_digest(&location, digest);
        let response = self
            .client
            .put(&url)
            .headers(headers.clone())
            .header(CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(transport)?;
        committed(&response, &url)
    }

    async fn manifest(&self, reference: &Reference, put: &ManifestPut) -> Result<(), PushError> {
        let tag_or_digest = put.tag.clone().unwrap_or_else(|| put.digest.to_string());
        let what = format!(
            "manifest {}/{}:{tag_or_digest}",
            reference.registry, reference.repository
        );
        let bytes = &put.bytes;
        let base = self.base(reference).await?;
        let sent = self
            .retrying(&what, |refresh| {
                let bytes = bytes.clone();
                let base = base.clone();
                let tag_or_digest = tag_or_digest.clone();
                async move {
                    let headers = self.headers(reference, refresh, None).await.map_err(|error| Attempt::Fatal(error.to_string()))?;
                    let url = format!("{base}/v2/{}/manifests/{tag_or_digest}", reference.repository);
                    let response = self
                        .client
                        .head(&url)
                        .headers(headers.clone())
                        .header(reqwest::header::ACCEPT, put.media_type.as_str())
                        .send()
                        .await
                        .map_err(transport)?;
                    let current = response
                        .headers()
                        .get("Docker-Content-Digest")
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_string);
                    if response.status().is_success() && current.as_deref() == Some(put.digest.to_string().as_str()) {
                        return Ok(false);
                    }
                    if self.dry_run {
                        return Ok(true);
                    }
                    let response = self
                        .client
                        .put(&url)
                        .headers(headers)
                        .header(CONTENT_TYPE, put.media_type.as_str())
                        .body(bytes)
                        .send()
                        .await
                        .map_err(transport)?;
                    match response.status() {
                        StatusCode::CREATED | StatusCode::OK | StatusCode::NO_CONTENT => {}
                        _ => {
                            let attempt = classify(&response, &url);
                            let body = crate::oci::registry::error_body(response).await;
                            let hint = if body.contains("MANIFEST_BLOB_UNKNOWN") || body.contains("BLOB_UNKNOWN") {
                                "; the registry wants every referenced manifest and blob first (an index with platforms the media does not carry cannot be pushed as is)"
                            } else {
                                ""
                            };
                            return Err(match attempt {
                                Attempt::Fatal(message) => Attempt::Fatal(format!("{message}: {}{hint}", body.trim())),
                                other => other,
                            });
                        }
                    }
                    Ok(true)
                }
            })
            .await?;
        if sent {
            self.tally.manifests_sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.tally.manifests_present.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

enum Landed {
    Present,
    Mounted,
    Sent,
    WouldSend,
}

/// The most a chunked upload holds in memory at once.
pub const MAX_CHUNK: u64 = 64 << 20;

/// The chunk size of an upload: what was asked (`--chunk-size`), at least the registry's
/// `OCI-Chunk-Min-Length`, never above [`MAX_CHUNK`]; `None` for one streamed PUT. A
/// registry that asks for larger chunks gets the streamed PUT, which holds nothing in memory,
/// instead of a buffer the size of a layer.
fn chunk_for(asked: Option<u64>, minimum: Option<u64>) -> Option<u64> {
    let chunk = match (asked, minimum) {
        (Some(chunk), Some(minimum)) => chunk.max(minimum),
        (Some(chunk), None) => chunk,
        (None, Some(minimum)) => minimum.max(8 << 20),
        (None, None) => return None,
    };
    match minimum {
        Some(minimum) if minimum > MAX_CHUNK => None,
        _ => Some(chunk.clamp(1, MAX_CHUNK)),
    }
}

/// How one attempt failed.
enum Attempt {
    /// Worth another try, after the `Retry-After` the server asked for, if any.
    Transient(String, Option<std::time::Duration>),
    Unauthorized(String),
    Fatal(String),
    /// Not worth another try, and the user can do something about it.
    Refused {
        message: String,
        hint: &'static str,
    },
}

fn transport(error: reqwest::Error) -> Attempt {
    let chain = http::error_chain(&error);
    if http::is_certificate_error(&chain) {
        Attempt::Refused {
            message: chain,
            hint: "give the registry's CA with --ca FILE",
        }
    } else {
        Attempt::Transient(chain, None)
    }
}

/// Ok when every task succeeded; otherwise one error listing each failure.
fn all_done(results: Vec<Result<(), PushError>>, what: &str, why: &str) -> Result<(), PushError> {
    let errors: Vec<String> = results
        .into_iter()
        .filter_map(Result::err)
        .map(|error| crate::hint::explain(&error))
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(failed(
        format!("{} {what}", errors.len()),
        format!("{why}:\n{}", errors.join("\n")),
    ))
}

/// Whether the closing PUT of an upload committed the blob.
fn committed(response: &reqwest::Response, url: &str) -> Result<(), Attempt> {
    match response.status() {
        StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
        _ => Err(classify(response, url)),
    }
}

fn classify(response: &reqwest::Response, url: &str) -> Attempt {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        Attempt::Unauthorized(format!(
            "{url} answered {status}; check the credentials and their push rights"
        ))
    } else if http::is_transient(status) {
        Attempt::Transient(
            format!("{url} answered {status}"),
            http::retry_after(response),
        )
    } else {
        Attempt::Fatal(format!("{url} answered {status}"))
    }
}

/// The upload session URL of a response, absolute.
fn location(base: &str, response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get(LOCATION)?.to_str().ok()?;
    if value.starts_with("http://") || value.starts_with("https://") {
        Some(value.to_string())
    } else {
        Some(format!("{base}{value}"))
    }
}

fn with_digest(location: &str, digest: &Digest) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// The file's bytes as a stream, hashed on the way: each chunk is held back until the next
/// read, so the last one goes out only once the digest is known, and a wrong digest (or
/// length) ends the stream with an error instead: the registry never sees the whole blob.
fn verified_stream(
    file: tokio::fs::File,
    digest: Digest,
    size: u64,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    struct State {
        file: tokio::fs::File,
        hasher: Hasher,
        pending: Option<bytes::Bytes>,
        done: bool,
    }
    let state = State {
        file,
        hasher: Hasher::new(),
        pending: None,
        done: false,
    };
    futures_util::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            let mut buffer = vec![0u8; 256 * 1024];
            match state.file.read(&mut buffer).await {
                Err(error) => {
                    state.done = true;
                    return Some((Err(error), state));
                }
                Ok(0) => {
                    state.done = true;
                    let (actual, length) = state.hasher.clone().finish();
                    if actual == digest && length == size {
                        let last = state.pending.take()?;
                        return Some((Ok(last), state));
                    }
                    let error = std::io::Error::other(format!(
                        "the media's blob is {actual} ({length} bytes), not {digest} ({size} bytes); run `airgap verify` on the tree"
                    ));
                    return Some((Err(error), state));
                }
                Ok(count) => {
                    buffer.truncate(count);
                    state.hasher.update(&buffer);
                    if let Some(previous) = state.pending.replace(bytes::Bytes::from(buffer)) {
                        return Some((Ok(previous), state));
                    }
                }
            }
        }
    })
}

impl crate::hint::Hint for PushError {
    fn hint(&self) -> Option<String> {
        match self {
            PushError::Registry(crate::oci::registry::RegistryError::Unreachable { .. }) => Some(
                "check the address and that the registry runs; a registry that speaks plain HTTP is given as --registry http://HOST[:PORT], and one behind a private CA needs --ca FILE".to_string(),
            ),
            PushError::Registry(inner) => crate::hint::Hint::hint(inner),
            PushError::Collision(..) => Some("push with the default nested layout (HOST/PREFIX/<registry>/<path>), or drop one of them from the lock".to_string()),
            PushError::Failed { hint, .. } => hint.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::pin::LockedImage;
    use crate::oci::target::Layout;

    /// A media tree holding one image manifest (config and one layer) for each reference.
    fn tree(references: &[&str]) -> (tempfile::TempDir, Vec<LockedImage>) {
        let directory = tempfile::tempdir().unwrap();
        let mut images = Vec::new();
        for (index, reference) in references.iter().enumerate() {
            let config = Digest::of_bytes(format!("config {index}").as_bytes());
            let layer = Digest::of_bytes(b"a shared layer");
            let manifest = format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":8}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":14}}]}}"#
            );
            let digest = Digest::of_bytes(manifest.as_bytes());
            let path = directory.path().join(oci_layout::blob_path(&digest));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &manifest).unwrap();
            images.push(LockedImage {
                reference: reference.to_string(),
                layout: None,
                insecure: false,
                platforms: vec!["linux/amd64".to_string()],
                referrers: false,
                digest,
                media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
                size: manifest.len() as u64,
                manifests: Vec::new(),
                referrer_manifests: Vec::new(),
                signature: None,
                chart: None,
            });
        }
        (directory, images)
    }

    #[test]
    fn a_plan_names_each_image_in_the_target_and_lists_its_blobs() {
        let (directory, images) =
            tree(&["registry.k8s.io/pause:3.10", "127.0.0.1:5000/team/app:1"]);
        let target = Target::parse("harbor.internal/mirror", Layout::Nested).unwrap();
        let plan = Plan::new(directory.path(), &images, &target).unwrap();
        let names: Vec<String> = plan
            .images
            .iter()
            .map(|image| image.target.to_string())
            .collect();
        assert_eq!(
            names[0],
            format!(
                "harbor.internal/mirror/registry.k8s.io/pause:3.10@{}",
                images[0].digest
            )
        );
        assert_eq!(
            names[1],
            format!(
                "harbor.internal/mirror/127.0.0.1_5000/team/app:1@{}",
                images[1].digest
            )
        );
        // The config and the layer, and the manifest put last under its tag.
        assert_eq!(plan.images[0].blobs.len(), 2);
        assert_eq!(
            plan.images[0].manifests.last().unwrap().tag.as_deref(),
            Some("3.10")
        );
    }

    #[test]
    fn flat_names_that_collide_and_damaged_manifests_are_refused() {
        let (directory, images) = tree(&["a.io/team/app:1", "b.io/team/app:2"]);
        let flat = Target::parse("harbor.internal", Layout::Flat).unwrap();
        match Plan::new(directory.path(), &images, &flat) {
            Err(PushError::Collision(list)) => {
                assert!(
                    list.contains("harbor.internal/team/app <- a.io/team/app, b.io/team/app"),
                    "{list}"
                )
            }
            other => panic!("expected a collision, got {other:?}"),
        }
        let nested = Target::parse("harbor.internal", Layout::Nested).unwrap();
        assert!(Plan::new(directory.path(), &images, &nested).is_ok());
        std::fs::write(
            directory
                .path()
                .join(oci_layout::blob_path(&images[0].digest)),
            b"{}",
        )
        .unwrap();
        let error = Plan::new(directory.path(), &images, &nested).unwrap_err();
        assert!(error.to_string().contains("the tree is damaged"), "{error}");
    }

    fn response(status: u16, retry_after: Option<&str>) -> reqwest::Response {
        let mut builder = axum::http::Response::builder().status(status);
        if let Some(seconds) = retry_after {
            builder = builder.header("retry-after", seconds);
        }
        reqwest::Response::from(builder.body(String::new()).unwrap())
    }

    #[test]
    fn chunks_never_exceed_the_cap() {
        // Failed before: the buffer was as large as the registry's minimum, up to a layer.
        assert_eq!(chunk_for(None, None), None);
        assert_eq!(chunk_for(Some(5 << 20), None), Some(5 << 20));
        assert_eq!(chunk_for(None, Some(1 << 20)), Some(8 << 20));
        assert_eq!(chunk_for(Some(1 << 30), None), Some(MAX_CHUNK));
        assert_eq!(
            chunk_for(None, Some(10 << 30)),
            None,
            "a streamed PUT instead"
        );
        assert_eq!(chunk_for(Some(1 << 20), Some(MAX_CHUNK + 1)), None);
    }

    #[test]
    fn a_429_is_retried_after_what_the_registry_asked() {
        match classify(&response(429, Some("7")), "u") {
            Attempt::Transient(_, wait) => {
                assert_eq!(wait, Some(std::time::Duration::from_secs(7)));
                let policy = http::RetryPolicy::default();
                assert_eq!(
                    policy.delay(1, wait),
                    std::time::Duration::from_secs(7),
                    "the policy honours Retry-After"
                );
            }
            _ => panic!("429 must be transient"),
        }
        assert!(matches!(
            classify(&response(503, None), "u"),
            Attempt::Transient(_, None)
        ));
        assert!(matches!(
            classify(&response(401, None), "u"),
            Attempt::Unauthorized(_)
        ));
        assert!(matches!(
            classify(&response(404, None), "u"),
            Attempt::Fatal(_)
        ));
    }
}
