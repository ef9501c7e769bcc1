//! The manifests of a workspace: `manifests/*.toml` read in name order, merged and validated.
//! Every problem is reported with `file:line:col` and a hint. This module holds what is not a
//! kind (`[enclave]`, `[kubespray]`, `[dns]`, locations, diagnostics, shared checks); each
//! kind reads and validates its own table (`kinds::<kind>::entry`), and `kinds` assembles the
//! whole [`kinds::Manifest`](crate::kinds::Manifest).
//!
//! Depends only on `digest`; nothing in the manifest stage touches the network.

pub mod diagnostic;
pub mod loader;
pub mod model;
pub mod validate;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use diagnostic::{Diagnostic, ManifestError};
pub use loader::{Loaded, Tables, load};

/// `[enclave]`, with defaults applied.
#[derive(Debug, Clone, Serialize)]
pub struct Enclave {
    pub url: Option<String>,
    pub platforms: Vec<String>,
    /// Workspace path of the PEM CA certificate behind the server's TLS, if private.
    pub ca: Option<String>,
    /// `host:port` of each `airgap serve` replica behind the rendered load balancer.
    pub replicas: Vec<String>,
}

impl Default for Enclave {
    fn default() -> Self {
        Enclave {
            url: None,
            platforms: vec!["linux/amd64".to_string()],
            ca: None,
            replicas: Vec::new(),
        }
    }
}

/// A host of the rendered Kubespray inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubesprayHost {
    pub name: String,
    /// Where Ansible reaches the host (`ansible_host`).
    pub address: String,
    /// The address Kubernetes binds to (`ip`); `address` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub groups: Vec<String>,
}

/// A CoreDNS forward: queries for `zone` go to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsForward {
    pub zone: String,
    pub to: Vec<String>,
}

/// A signature policy (`[[policy]]`), validated: which images and files it covers and what
/// they must be signed by. The trust material (a key, a trusted root, a keyring) is a
/// workspace file, pinned by its digest so a changed key makes the lock stale.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub name: String,
    /// Globs over image references without tag or digest (`registry.k8s.io/*`).
    pub images: Vec<String>,
    /// Globs over file URLs (`https://dl.k8s.io/*`).
    pub files: Vec<String>,
    /// `key`, `keyless` or `keyring`.
    pub trust: String,
    /// Keyless: the signer's certificate identity and OIDC issuer.
    pub identity: Option<String>,
    pub issuer: Option<String>,
    /// The trust material's workspace path and digest.
    pub material: crate::relative_path::RelativePath,
    pub sha256: crate::digest::Digest,
}

/// A manifest location.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.file.display(), self.line)
    }
}

/// Where a URL in the manifest points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Http(url::Url),
    Local(PathBuf),
}

/// Why a manifest URL points nowhere airgap can fetch from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("`{text}` is not a valid URL: {message}")]
    Invalid { text: String, message: String },
    #[error("`{0}` has no host")]
    NoHost(String),
    #[error("`{0}` is not a usable file:// URL")]
    FileUrl(String),
    #[error("`{text}` uses the unsupported scheme `{scheme}`")]
    Scheme { text: String, scheme: String },
    #[error("the URL is empty")]
    Empty,
    #[error("`{0}` is an absolute path; write file://{0} to fetch from it")]
    Absolute(String),
    #[error("`{0}` carries credentials; a manifest, the lock and the media must never hold them")]
    Credentials(String),
}

impl crate::hint::Hint for LocationError {
    fn hint(&self) -> Option<String> {
        match self {
            LocationError::Credentials(_) => Some(
                "remove `user:password@` from the URL; credentials come from the docker config (registries), ~/.netrc or the environment (HTTP_PROXY), never from the manifest".to_string(),
            ),
            _ => None,
        }
    }
}

impl LocationError {
    /// The error's own hint, or `default` (what a well-formed value of the field looks like).
    pub fn hint_or(&self, default: &str) -> String {
        crate::hint::Hint::hint(self).unwrap_or_else(|| default.to_string())
    }
}

impl Location {
    /// Interprets a manifest URL; relative paths are taken against `workspace`.
    pub fn parse(text: &str, workspace: &std::path::Path) -> Result<Location, LocationError> {
        let shown = validate::redact(text).into_owned();
        let text = shown.as_str();
        if text.contains("://") {
            let url = url::Url::parse(text).map_err(|error| LocationError::Invalid {
                text: text.to_string(),
                message: error.to_string(),
            })?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(LocationError::Credentials(text.to_string()));
            }
            match url.scheme() {
                "http" | "https" if url.host_str().is_some() => Ok(Location::Http(url)),
                "http" | "https" => Err(LocationError::NoHost(text.to_string())),
                "file" => url
                    .to_file_path()
                    .map(Location::Local)
                    .map_err(|_| LocationError::FileUrl(text.to_string())),
                scheme => Err(LocationError::Scheme {
                    text: text.to_string(),
                    scheme: scheme.to_string(),
                }),
            }
        } else if text.is_empty() {
            Err(LocationError::Empty)
        } else if text.starts_with('/') {
            Err(LocationError::Absolute(text.to_string()))
        } else {
            Ok(Location::Local(workspace.join(text)))
        }
    }
}
