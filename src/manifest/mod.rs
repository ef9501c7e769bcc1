//! The manifests of a workspace: `manifests/*.toml` read in name order, merged and validated
//! into [`Manifest`]. Every problem is reported with `file:line:col` and a hint.
//!
//! Depends only on `digest`; nothing in the manifest stage touches the network.

pub mod diagnostic;
mod load;
pub mod model;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::digest::Digest;
pub use diagnostic::{Diagnostic, ManifestError};
pub use load::load;
pub(crate) use load::{is_identifier, is_inventory_name};

/// The merged, validated manifests of a workspace.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub enclave: Enclave,
    /// One entry per `[[file]]` and architecture, sorted by key.
    pub files: Vec<FileArtifact>,
    /// One entry per `[[image]]`, sorted by reference.
    pub images: Vec<ImageArtifact>,
    /// One entry per `[[apt]]`, sorted by name.
    pub apts: Vec<AptArtifact>,
    /// One entry per `[[yum]]`, sorted by name.
    pub yums: Vec<YumArtifact>,
    /// One entry per `[[git]]`, sorted by name.
    pub gits: Vec<GitArtifact>,
    /// One entry per `[[chart]]`, sorted by name.
    pub charts: Vec<ChartArtifact>,
    /// `[[kubespray.host]]`, in manifest order.
    pub kubespray_hosts: Vec<KubesprayHost>,
    /// `[[dns.forward]]`, in manifest order.
    pub dns_forwards: Vec<DnsForward>,
    /// Digest of the normalized inputs, recorded in the lock to detect staleness offline.
    pub inputs_digest: Digest,
}

/// `[enclave]`, with defaults applied.
#[derive(Debug, Clone, Serialize)]
pub struct Enclave {
    pub url: Option<String>,
    pub platforms: Vec<String>,
    /// Workspace path of the PEM CA certificate behind the server's TLS, if private.
    pub ca: Option<String>,
}

impl Default for Enclave {
    fn default() -> Self {
        Enclave {
            url: None,
            platforms: vec!["linux/amd64".to_string()],
            ca: None,
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

/// The identity of a file artifact: its manifest name and, for `{arch}` files, the architecture.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FileKey {
    pub name: String,
    pub arch: Option<String>,
}

impl fmt::Display for FileKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.arch {
            Some(arch) => write!(formatter, "{} ({arch})", self.name),
            None => write!(formatter, "{}", self.name),
        }
    }
}

/// One `[[file]]` entry expanded for one architecture.
#[derive(Debug, Clone, Serialize)]
pub struct FileArtifact {
    #[serde(flatten)]
    pub key: FileKey,
    /// `http(s)://…`, `file://…`, or a path relative to the workspace.
    pub url: String,
    /// Path below `files/` on the media.
    pub path: String,
    /// The pin written in the manifest, if any.
    pub sha256: Option<Digest>,
    pub checksum_url: Option<String>,
    /// Where the entry was written, for messages (`manifests/files.toml:12`).
    #[serde(skip)]
    pub origin: Origin,
}

/// One `[[image]]` entry.
#[derive(Debug, Clone, Serialize)]
pub struct ImageArtifact {
    /// The normalized full reference (`registry.k8s.io/pause:3.10`), the entry's key.
    pub reference: String,
    /// Platforms to keep from an index (`os/arch[/variant]`), or `["all"]`.
    pub platforms: Vec<String>,
    /// An OCI image layout in the workspace to take the image from, instead of a registry.
    pub layout: Option<String>,
    /// Also bring signatures, SBOMs and attestations that refer to the image.
    pub referrers: bool,
    /// Plain HTTP to a registry that is not on a loopback address, declared by the user.
    pub insecure: bool,
    #[serde(skip)]
    pub origin: Origin,
}

/// One `[[apt]]` entry: an archive and the packages to take from it.
#[derive(Debug, Clone, Serialize)]
pub struct AptArtifact {
    pub name: String,
    /// The archive root (`http://deb.debian.org/debian`), without a trailing slash.
    pub url: String,
    pub suite: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    /// Path of the OpenPGP keyring (binary or armored), relative to the workspace.
    pub keyring: Option<String>,
    pub packages: Vec<String>,
    pub recommends: bool,
    pub exclude: Vec<String>,
    /// No signature check, as the user declared.
    pub insecure: bool,
    #[serde(skip)]
    pub origin: Origin,
}

/// One `[[yum]]` entry: an RPM repository and the packages to take from it.
#[derive(Debug, Clone, Serialize)]
pub struct YumArtifact {
    pub name: String,
    /// The repository root (where `repodata/` is), with a trailing slash.
    pub url: String,
    /// The repository's OpenPGP key (armored), relative to the workspace.
    pub gpgkey: Option<String>,
    /// `x86_64`, `aarch64`, ...: packages of this architecture and `noarch`.
    pub arch: String,
    pub packages: Vec<String>,
    pub exclude: Vec<String>,
    pub insecure: bool,
    #[serde(skip)]
    pub origin: Origin,
}

/// One `[[git]]` entry: a repository pinned to the commit a ref names.
#[derive(Debug, Clone, Serialize)]
pub struct GitArtifact {
    pub name: String,
    /// `https://…`, `http://…`, `ssh://…`, `file://…`, or a path relative to the workspace.
    pub url: String,
    /// A tag, a branch, or a full commit id.
    pub reference: String,
    #[serde(skip)]
    pub origin: Origin,
}

/// One `[[chart]]` entry: a Helm chart from an HTTP repository.
#[derive(Debug, Clone, Serialize)]
pub struct ChartArtifact {
    pub name: String,
    /// The repository root (where `index.yaml` is), without a trailing slash.
    pub repo: String,
    /// An exact version or a semver range (`^4.11`, `>=1.0 <2.0`).
    pub version: String,
    /// Also pin the images the chart declares.
    pub images: bool,
    #[serde(skip)]
    pub origin: Origin,
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

impl FileArtifact {
    /// How this artifact's bytes are checked before they are trusted.
    pub fn pin_source(&self) -> PinSource {
        if self.sha256.is_some() {
            PinSource::Manifest
        } else if self.checksum_url.is_some() {
            PinSource::ChecksumUrl
        } else {
            PinSource::FirstUse
        }
    }
}

/// Where a file's digest came from; recorded in the lock so reviews see trust-on-first-use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinSource {
    /// `sha256` in the manifest.
    Manifest,
    /// The upstream's published checksum file.
    ChecksumUrl,
    /// Trust on first use: the digest of the bytes seen when the lock was made.
    FirstUse,
}

/// Where a URL in the manifest points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Http(url::Url),
    Local(PathBuf),
}

impl Location {
    /// Interprets a manifest URL; relative paths are taken against `workspace`.
    pub fn parse(text: &str, workspace: &std::path::Path) -> Result<Location, String> {
        if text.contains("://") {
            let url = url::Url::parse(text)
                .map_err(|error| format!("`{text}` is not a valid URL: {error}"))?;
            match url.scheme() {
                "http" | "https" if url.host_str().is_some() => Ok(Location::Http(url)),
                "http" | "https" => Err(format!("`{text}` has no host")),
                "file" => url
                    .to_file_path()
                    .map(Location::Local)
                    .map_err(|_| format!("`{text}` is not a usable file:// URL")),
                scheme => Err(format!("`{text}` uses the unsupported scheme `{scheme}`")),
            }
        } else if text.is_empty() {
            Err("the URL is empty".to_string())
        } else if text.starts_with('/') {
            Err(format!(
                "`{text}` is an absolute path; write file://{text} to fetch from it"
            ))
        } else {
            Ok(Location::Local(workspace.join(text)))
        }
    }
}
