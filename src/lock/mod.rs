//! The lockfile `airgap.lock`: its model, the deterministic writer, the reader that rejects
//! unknown versions, and staleness against the manifests.
//!
//! Depends on `manifest` and `digest` only; it never touches the network.

pub mod diff;
mod plan;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::manifest::{FileKey, PinSource};
pub use plan::{KindPlan, Reason, plan_kind};

/// The only lockfile format this version reads and writes.
pub const VERSION: u32 = 1;

const HEADER: &str = "# This file is written by airgap. Do not edit it by hand.\n\
# It pins every artifact of manifests/ to exact, content-addressed bytes.\n\
# Regenerate it with `airgap lock`; review changes with `airgap diff`.\n";

/// The whole lockfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    /// Digest of the normalized manifest inputs this lock was made from.
    pub manifest: Digest,
    #[serde(default, rename = "file", skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<LockedFile>,
    #[serde(default, rename = "image", skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<LockedImage>,
    #[serde(default, rename = "apt", skip_serializing_if = "Vec::is_empty")]
    pub apts: Vec<LockedApt>,
    #[serde(default, rename = "yum", skip_serializing_if = "Vec::is_empty")]
    pub yums: Vec<LockedYum>,
    #[serde(default, rename = "git", skip_serializing_if = "Vec::is_empty")]
    pub gits: Vec<LockedGit>,
    #[serde(default, rename = "chart", skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<LockedChart>,
}

/// One Helm chart pinned to a version and the digest of its archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedChart {
    pub name: String,
    pub repo: String,
    /// The version or range asked for.
    pub requirement: String,
    /// The version chosen: the newest that matches.
    pub version: String,
    /// Where the archive was fetched from (absolute); `oci://host/path/name:version` for OCI.
    pub url: String,
    /// The chart archive (for OCI charts: the chart layer, the bytes `helm pull` writes).
    pub digest: Digest,
    pub size: u64,
    /// For a dependency the parent chart does not vendor: the chart that needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency_of: Option<String>,
    /// Whether the chart's images were asked for (they are `[[image]]` entries with `chart`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub images: bool,
    /// For OCI charts: the manifest the tag resolved to, and its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_size: Option<u64>,
}

/// One git repository pinned to a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedGit {
    pub name: String,
    pub url: String,
    /// The ref as asked (`v2.31.0`, `master`, or a commit id).
    #[serde(rename = "ref")]
    pub reference: String,
    /// What the ref is upstream: `tag`, `branch` or `commit`.
    pub kind: String,
    /// The full ref name on the media (`refs/tags/v2.31.0`), empty for a bare commit.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub full_ref: String,
    /// The commit id the ref resolved to; git's object ids pin the tree transitively.
    pub commit: String,
}

/// One RPM repository: what was asked of it, the repomd it was resolved against, and every
/// package of the closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedYum {
    pub name: String,
    pub url: String,
    pub arch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpgkey: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    pub packages: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Digest of the verified `repomd.xml` the closure was resolved against.
    pub repomd: Digest,
    /// The repository has modular metadata (`modules.yaml`), which resolution does not apply.
    #[serde(default, skip_serializing_if = "is_false")]
    pub modular: bool,
    #[serde(default, rename = "package", skip_serializing_if = "Vec::is_empty")]
    pub rpms: Vec<LockedRpm>,
}

/// One `.rpm` of a closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRpm {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// The path below the repository root (`Packages/s/socat-1.7.4.1-5.el9.x86_64.rpm`).
    pub location: String,
    pub digest: Digest,
    pub size: u64,
}

/// One apt archive: what was asked of it, the Release it was resolved against, and every
/// package of the closure that comes from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedApt {
    pub name: String,
    pub url: String,
    pub suite: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// The packages asked for, `recommends` and `exclude`, as in the manifest.
    pub packages: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub recommends: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Digest of the verified `InRelease` (or `Release`) the closure was resolved against.
    pub release: Digest,
    /// Its `Date`, reused for the media repository's Release so that it is reproducible.
    pub release_date: String,
    /// The closure's packages that come from this archive.
    #[serde(default, rename = "package", skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<LockedDeb>,
}

/// One `.deb` of a closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDeb {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub component: String,
    /// The pool path (`pool/main/s/socat/socat_1.7.4.4-2_amd64.deb`).
    pub filename: String,
    pub digest: Digest,
    pub size: u64,
}

/// One pinned image: what its reference resolved to, and the manifests kept from it.
/// The digests pin every blob transitively, so blobs are not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedImage {
    /// The normalized full reference, as in the manifest and the layout's `ref.name`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The workspace OCI layout it came from, when not from a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Plain HTTP to a non-loopback registry, as the manifest declared.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// The platforms asked for (`["all"]` for every one).
    pub platforms: Vec<String>,
    /// Whether referrers (signatures, SBOMs) were asked for.
    #[serde(default, skip_serializing_if = "is_false")]
    pub referrers: bool,
    /// What the reference resolved to: an index, a manifest list or a single manifest.
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The platform manifests kept from an index (empty for a single manifest).
    #[serde(default, rename = "manifest", skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<LockedManifest>,
    /// Artifacts that refer to the image, when asked for.
    #[serde(default, rename = "referrer", skip_serializing_if = "Vec::is_empty")]
    pub referrer_manifests: Vec<LockedReferrer>,
    /// The chart that needs this image, when it came from a chart's `images = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
}

/// A platform manifest kept from an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedManifest {
    /// `os/arch[/variant]`, or `unknown/unknown` for attestations of a kept manifest.
    pub platform: String,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// A signature, SBOM or attestation that refers to a pinned manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedReferrer {
    /// The manifest it refers to.
    pub subject: Digest,
    /// The tag it was found under (`sha256-<hex>.sig`), when found by tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// One pinned static file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub url: String,
    /// Path below `files/` on the media.
    pub path: String,
    pub digest: Digest,
    pub size: u64,
    /// How the digest was established.
    pub pinned_by: PinSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_url: Option<String>,
}

impl LockedFile {
    pub fn key(&self) -> FileKey {
        FileKey {
            name: self.name.clone(),
            arch: self.arch.clone(),
        }
    }
}

/// Why a lockfile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a valid lockfile: {message}\nhint: it is written by airgap only; restore it from version control, or delete it and run `airgap lock`"
    )]
    Malformed { path: PathBuf, message: String },
    #[error(
        "{path} has lockfile version {found}, but this airgap reads version {VERSION}\nhint: use the airgap release that wrote it, or delete it and run `airgap lock` to re-resolve"
    )]
    UnknownVersion { path: PathBuf, found: i64 },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Lockfile {
    /// A lock with no entries, for inputs with the given digest.
    pub fn empty(manifest: Digest) -> Self {
        Lockfile {
            version: VERSION,
            manifest,
            files: Vec::new(),
            images: Vec::new(),
            apts: Vec::new(),
            yums: Vec::new(),
            gits: Vec::new(),
            charts: Vec::new(),
        }
    }

    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Self>, LockError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LockError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::parse(path, &text).map(Some)
    }

    /// Parses lockfile text; `path` is only for messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, LockError> {
        let malformed = |error: toml::de::Error| LockError::Malformed {
            path: path.to_path_buf(),
            message: error.to_string().trim().to_string(),
        };
        // The version is checked first, so that a newer format gets the right message.
        let table: toml::Table = toml::from_str(text).map_err(malformed)?;
        match table.get("version") {
            Some(toml::Value::Integer(version)) if *version == i64::from(VERSION) => {}
            Some(toml::Value::Integer(found)) => {
                return Err(LockError::UnknownVersion {
                    path: path.to_path_buf(),
                    found: *found,
                });
            }
            _ => {
                return Err(LockError::Malformed {
                    path: path.to_path_buf(),
                    message: "`version` is missing or not an integer".to_string(),
                });
            }
        }
        let lock: Lockfile = toml::from_str(text).map_err(malformed)?;
        Ok(lock)
    }

    /// The canonical bytes: header, sorted entries, fixed field order.
    pub fn render(&self) -> String {
        let mut sorted = self.clone();
        sorted.files.sort_by_key(LockedFile::key);
        sorted
            .images
            .sort_by(|left, right| left.reference.cmp(&right.reference));
        sorted
            .apts
            .sort_by(|left, right| left.name.cmp(&right.name));
        for apt in &mut sorted.apts {
            apt.debs.sort();
        }
        sorted
            .yums
            .sort_by(|left, right| left.name.cmp(&right.name));
        for yum in &mut sorted.yums {
            yum.rpms.sort();
        }
        sorted
            .gits
            .sort_by(|left, right| left.name.cmp(&right.name));
        sorted
            .charts
            .sort_by(|left, right| left.name.cmp(&right.name));
        let body = toml::to_string(&sorted).unwrap_or_default();
        format!("{HEADER}{body}")
    }

    /// Writes the lock atomically when its bytes differ from what is on disk.
    /// Returns whether anything was written.
    pub fn write_if_changed(&self, path: &Path) -> Result<bool, LockError> {
        let rendered = self.render();
        if std::fs::read(path).is_ok_and(|existing| existing == rendered.as_bytes()) {
            return Ok(false);
        }
        crate::store::atomic_write(path, rendered.as_bytes()).map_err(|source| {
            LockError::Write {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(true)
    }

    pub fn file(&self, key: &FileKey) -> Option<&LockedFile> {
        self.files.iter().find(|file| &file.key() == key)
    }

    pub fn image(&self, reference: &str) -> Option<&LockedImage> {
        self.images
            .iter()
            .find(|image| image.reference == reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lockfile {
        let mut lock = Lockfile::empty(Digest::of_bytes(b"inputs"));
        for (name, arch) in [
            ("zeta", None),
            ("alpha", Some("arm64")),
            ("alpha", Some("amd64")),
        ] {
            lock.files.push(LockedFile {
                name: name.to_string(),
                arch: arch.map(str::to_string),
                url: format!("https://example.org/{name}"),
                path: format!("example.org/{name}/{}", arch.unwrap_or("any")),
                digest: Digest::of_bytes(name.as_bytes()),
                size: 3,
                pinned_by: PinSource::Manifest,
                checksum_url: None,
            });
        }
        lock
    }

    #[test]
    fn renders_sorted_and_round_trips() {
        let lock = sample();
        let text = lock.render();
        assert!(text.starts_with("# This file is written by airgap"));
        let alpha_amd64 = text.find("arch = \"amd64\"").unwrap();
        let alpha_arm64 = text.find("arch = \"arm64\"").unwrap();
        let zeta = text.find("name = \"zeta\"").unwrap();
        assert!(alpha_amd64 < alpha_arm64 && alpha_arm64 < zeta, "{text}");
        let parsed = Lockfile::parse(Path::new("airgap.lock"), &text).unwrap();
        assert_eq!(parsed.render(), text);
    }

    #[test]
    fn unknown_version_is_a_clear_error() {
        let text = sample().render().replace("version = 1", "version = 7");
        let error = Lockfile::parse(Path::new("airgap.lock"), &text).unwrap_err();
        assert!(
            matches!(error, LockError::UnknownVersion { found: 7, .. }),
            "{error}"
        );
    }
}
