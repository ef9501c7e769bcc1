//! The pull side of the OCI distribution API over `DIR/oci`: `/v2/`, manifests by tag or
//! digest, blobs (with `Range`), `tags/list`, `_catalog`, the referrers API, OCI error bodies.
//! One server stands in for every upstream registry of the lock: `?ns=<registry>` (what
//! containerd's mirrors send), a name carrying the registry host, or the bare upstream path
//! (Kubespray's flattened names, `library/` for Docker Hub) when it names one image only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::json;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::digest::Digest;
use crate::oci::reference::Reference;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A tagged manifest: digest, media type, size.
type Tagged = (Digest, String, u64);
/// (registry, repository).
type Repository = (String, String);

/// A name the registry cannot resolve: status, OCI error code, message.
struct NameError(StatusCode, &'static str, String);

/// What the layout holds, indexed for the API.
pub struct Registry {
    blobs: PathBuf,
    /// (registry, repository) to tag to (digest, media type, size).
    tags: BTreeMap<Repository, BTreeMap<String, Tagged>>,
    /// Every manifest of the layout: digest to media type and bytes. Manifests are small
    /// (at most 4 MiB each, usually a few KiB) and by far the most requested documents, so they
    /// are answered from memory; blobs stream from disk.
    manifests: HashMap<Digest, (String, bytes::Bytes)>,
    /// Subject digest to the descriptors of the manifests that refer to it.
    referrers: HashMap<Digest, Vec<serde_json::Value>>,
}

/// Why the media's OCI layout could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read {path}: {cause}")]
    Read {
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not JSON: {message}")]
    Json {
        path: std::path::PathBuf,
        message: String,
    },
}

/// The largest manifest the server loads from the media.
const MANIFEST_LIMIT: u64 = 4 << 20;
/// The largest `oci/index.json` the server loads (tens of thousands of images fit).
const INDEX_LIMIT: u64 = 256 << 20;

impl Registry {
    /// Reads `DIR/oci` (an absent layout serves an empty registry).
    pub fn load(root: &Path) -> Result<Registry, LayoutError> {
        let layout = root.join("oci");
        let mut registry = Registry {
            blobs: layout.join("blobs/sha256"),
            tags: BTreeMap::new(),
            manifests: HashMap::new(),
            referrers: HashMap::new(),
        };
        let index_path = layout.join("index.json");
        if let Ok(metadata) = std::fs::symlink_metadata(&index_path)
            && (!metadata.file_type().is_file() || metadata.len() > INDEX_LIMIT)
        {
            return Err(LayoutError::Read {
                path: index_path,
                cause: std::io::Error::other(format!(
                    "not a regular file of at most {} MiB",
                    INDEX_LIMIT >> 20
                )),
            });
        }
        let index = match std::fs::read(&index_path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(registry),
            Err(cause) => {
                return Err(LayoutError::Read {
                    path: layout.join("index.json"),
                    cause,
                });
            }
        };
        let index: serde_json::Value =
            serde_json::from_slice(&index).map_err(|error| LayoutError::Json {
                path: layout.join("index.json"),
                message: error.to_string(),
            })?;
        let mut pending: Vec<(Digest, String)> = Vec::new();
        for entry in index["manifests"].as_array().into_iter().flatten() {
            let Some(digest) = entry["digest"]
                .as_str()
                .and_then(|digest| Digest::parse(digest).ok())
            else {
                continue;
            };
            let media_type = entry["mediaType"].as_str().unwrap_or(OCI_INDEX).to_string();
            let size = entry["size"].as_u64().unwrap_or(0);
            if let Some(name) = entry["annotations"]["org.opencontainers.image.ref.name"].as_str()
                && let Ok(reference) = Reference::parse(name)
            {
                let tag = match (&reference.tag, &reference.digest) {
                    (Some(tag), _) => tag.clone(),
                    (None, Some(digest)) => digest.to_string(),
                    (None, None) => "latest".to_string(),
                };
                registry
                    .tags
                    .entry((reference.registry.clone(), reference.repository.clone()))
                    .or_default()
                    .insert(tag, (digest, media_type.clone(), size));
            }
            pending.push((digest, media_type));
        }
        // Walk indexes to know every manifest and every referrer.
        while let Some((digest, media_type)) = pending.pop() {
            if registry.manifests.contains_key(&digest) {
                continue;
            }
            // A manifest is small and a regular file: anything else is not read at all.
            let path = registry.blobs.join(digest.hex());
            let small = std::fs::symlink_metadata(&path).is_ok_and(|metadata| {
                metadata.file_type().is_file() && metadata.len() <= MANIFEST_LIMIT
            });
            if !small {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if bytes.len() as u64 > MANIFEST_LIMIT || Digest::of_bytes(&bytes) != digest {
                continue;
            }
            registry.manifests.insert(
                digest,
                (media_type.clone(), bytes::Bytes::from(bytes.clone())),
            );
            let Ok(document) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            for child in document["manifests"].as_array().into_iter().flatten() {
                if let Some(child_digest) = child["digest"]
                    .as_str()
                    .and_then(|digest| Digest::parse(digest).ok())
                {
                    let child_type = child["mediaType"].as_str().unwrap_or_default().to_string();
                    pending.push((child_digest, child_type));
                }
            }
            if let Some(subject) = document["subject"]["digest"]
                .as_str()
                .and_then(|digest| Digest::parse(digest).ok())
            {
                let mut descriptor = json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()});
                if let Some(artifact_type) = document["artifactType"]
                    .as_str()
                    .or(document["config"]["mediaType"].as_str())
                {
                    descriptor["artifactType"] = json!(artifact_type);
                }
                registry
                    .referrers
                    .entry(subject)
                    .or_default()
                    .push(descriptor);
            }
        }
        Ok(registry)
    }

    /// The registries and repositories served, for the start-up message.
    pub fn repositories(&self) -> Vec<String> {
        self.tags
            .keys()
            .map(|(registry, repository)| format!("{registry}/{repository}"))
            .collect()
    }

    /// Which (registry, repository) a request name means.
    fn resolve(&self, name: &str, namespace: Option<&str>) -> Result<Repository, NameError> {
        let known = |registry: &str, repository: &str| {
            self.tags
                .contains_key(&(registry.to_string(), repository.to_string()))
        };
        if let Some(namespace) = namespace {
            let registry = match namespace {
                "registry-1.docker.io" | "index.docker.io" => "docker.io",
                other => other,
            };
            let repository = if registry == "docker.io" && !name.contains('/') {
                format!("library/{name}")
            } else {
                name.to_string()
            };
            if known(registry, &repository) {
                return Ok((registry.to_string(), repository));
            }
            return Err(NameError(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                format!("{registry}/{repository} is not on this media"),
            ));
        }
        if let Some((first, rest)) = name.split_once('/') {
            let registry = if first == "registry-1.docker.io" || first == "index.docker.io" {
                "docker.io"
            } else {
                first
            };
            if (first.contains(['.', ':']) || first == "localhost") && known(registry, rest) {
                return Ok((registry.to_string(), rest.to_string()));
            }
            // `host_5000`: a registry with a port, as a path component (`:` cannot be one),
            // which the rendered registries.conf mirrors use.
            if let Some((host, port)) = first.rsplit_once('_')
                && !port.is_empty()
                && port.bytes().all(|byte| byte.is_ascii_digit())
            {
                let registry = format!("{host}:{port}");
                if known(&registry, rest) {
                    return Ok((registry, rest.to_string()));
                }
            }
            if registry == "docker.io"
                && !rest.contains('/')
                && known("docker.io", &format!("library/{rest}"))
            {
                return Ok(("docker.io".to_string(), format!("library/{rest}")));
            }
        }
        let candidates: BTreeSet<(String, String)> = self
            .tags
            .keys()
            .filter(|(registry, repository)| {
                repository == name
                    || (registry == "docker.io" && *repository == format!("library/{name}"))
            })
            .cloned()
            .collect();
        match candidates.len() {
            1 => Ok(candidates.into_iter().next().unwrap_or_default()),
            0 => Err(NameError(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                format!("no image named {name} is on this media"),
            )),
            _ => {
                let names: Vec<String> = candidates
                    .iter()
                    .map(|(registry, repository)| format!("{registry}/{repository}"))
                    .collect();
                Err(NameError(
                    StatusCode::NOT_FOUND,
                    "NAME_INVALID",
                    format!(
                        "{name} is ambiguous on this media; use one of: {} (or ?ns=<registry>)",
                        names.join(", ")
                    ),
                ))
            }
        }
    }

    /// Handles a request below `/v2/`.
    pub async fn handle(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let namespace = request.uri().query().and_then(|query| {
            query.split('&').find_map(|pair| {
                pair.strip_prefix("ns=").map(|value| {
                    percent_encoding::percent_decode_str(value)
                        .decode_utf8_lossy()
                        .into_owned()
                })
            })
        });
        let rest = path.trim_start_matches("/v2").trim_start_matches('/');
        if method != Method::GET && method != Method::HEAD {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "this registry is read-only: it serves the media",
            );
        }
        if rest.is_empty() {
            let mut response = json_response(&json!({}));
            response.headers_mut().insert(
                "Docker-Distribution-API-Version",
                HeaderValue::from_static("registry/2.0"),
            );
            return response;
        }
        if rest == "_catalog" {
            return json_response(&json!({"repositories": self.repositories()}));
        }
        let (name, kind, reference) = if let Some(name) = rest.strip_suffix("/tags/list") {
            (name, "tags", "")
        } else if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
            (name, "manifests", reference)
        } else if let Some((name, reference)) = rest.rsplit_once("/blobs/") {
            (name, "blobs", reference)
        } else if let Some((name, reference)) = rest.rsplit_once("/referrers/") {
            (name, "referrers", reference)
        } else {
            return error(
                StatusCode::NOT_FOUND,
                "UNSUPPORTED",
                "unknown registry API path",
            );
        };
        let (registry, repository) = match self.resolve(name, namespace.as_deref()) {
            Ok(found) => found,
            Err(NameError(status, code, message)) => return error(status, code, &message),
        };
        match kind {
            "tags" => {
                let tags: Vec<&String> = self.tags[&(registry.clone(), repository.clone())]
                    .keys()
                    .collect();
                json_response(&json!({"name": format!("{registry}/{repository}"), "tags": tags}))
            }
            "manifests" => {
                let digest = match Digest::parse(reference) {
                    Ok(digest) => Some(digest),
                    Err(_) => self.tags[&(registry.clone(), repository.clone())]
                        .get(reference)
                        .map(|(digest, _, _)| *digest),
                };
                match digest
                    .and_then(|digest| self.manifests.get(&digest).map(|found| (digest, found)))
                {
                    Some((digest, (media_type, bytes))) => {
                        manifest_response(&request, digest, media_type, bytes)
                    }
                    None => error(
                        StatusCode::NOT_FOUND,
                        "MANIFEST_UNKNOWN",
                        &format!("{registry}/{repository}:{reference} is not on this media"),
                    ),
                }
            }
            "blobs" => match Digest::parse(reference) {
                Ok(digest) => self.blob(digest, None, request).await,
                Err(_) => error(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "not a sha256 digest",
                ),
            },
            _ => match Digest::parse(reference) {
                Ok(digest) => {
                    let manifests = self.referrers.get(&digest).cloned().unwrap_or_default();
                    let mut response = json_response(
                        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
                    );
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
                    response
                }
                Err(_) => error(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "not a sha256 digest",
                ),
            },
        }
    }

    async fn blob(
        &self,
        digest: Digest,
        media_type: Option<&str>,
        request: Request<Body>,
    ) -> Response<Body> {
        let path = self.blobs.join(digest.hex());
        if !crate::serve::files::is_regular(&path) {
            let code = if media_type.is_some() {
                "MANIFEST_UNKNOWN"
            } else {
                "BLOB_UNKNOWN"
            };
            return error(
                StatusCode::NOT_FOUND,
                code,
                &format!("{digest} is not on this media"),
            );
        }
        let content_type = media_type.unwrap_or("application/octet-stream");
        let mime: mime::Mime = content_type
            .parse()
            .unwrap_or(mime::APPLICATION_OCTET_STREAM);
        let fast = if crate::serve::files::is_plain_get(&request) {
            crate::serve::files::whole_file(&path, Some(content_type)).await
        } else {
            None
        };
        let mut response = match fast {
            Some(response) => response,
            None => match ServeFile::new_with_mime(&path, &mime)
                .with_buf_chunk_size(1 << 20)
                .oneshot(request)
                .await
            {
                Ok(response) => response.map(Body::new),
                Err(_) => {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "UNKNOWN",
                        "cannot read the blob",
                    );
                }
            },
        };
        if let Ok(value) = HeaderValue::from_str(&digest.to_string()) {
            response
                .headers_mut()
                .insert("Docker-Content-Digest", value);
        }
        response
    }
}

/// A manifest from memory, with its digest as a strong `ETag`.
fn manifest_response(
    request: &Request<Body>,
    digest: Digest,
    media_type: &str,
    bytes: &bytes::Bytes,
) -> Response<Body> {
    let etag = format!("\"{digest}\"");
    let not_modified = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|candidate| candidate.trim() == etag || candidate.trim() == "*")
        });
    let mut response = if not_modified {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else if request.method() == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(bytes.clone()))
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(media_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    if let Ok(value) = HeaderValue::from_str(&digest.to_string()) {
        headers.insert("Docker-Content-Digest", value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

fn json_response(value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An OCI error body.
fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let mut response = json_response(&json!({"errors": [{"code": code, "message": message}]}));
    *response.status_mut() = status;
    response
}
