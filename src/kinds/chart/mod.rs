//! `[[chart]]`: a Helm chart from an HTTP repository. The repository's `index.yaml` names the
//! versions; the newest that matches the requirement is pinned with its archive's sha256 (the
//! index's `digest` is checked when it has one).

pub mod closure;
pub mod entry;
mod kind;
pub mod pin;
pub mod repository;

pub use entry::{ChartArtifact, RawChart};
pub use kind::Charts;

/// The folder of the media tree that holds the Helm repository.
pub const ROOT: &str = "charts";
pub use pin::LockedChart;

use crate::oci::pin::LockedImage;
use crate::oci::reference::Reference;
use crate::oci::registry::Registry;
use crate::source::download::{Downloader, FetchError, Fetched};

/// Why a chart could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("chart {name}: {message}")]
    Failed {
        name: String,
        message: String,
        hint: String,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// A Helm repository's `index.yaml`: each chart name's versions.
#[derive(serde::Deserialize)]
pub struct Index {
    #[serde(default)]
    pub entries: std::collections::BTreeMap<String, Vec<IndexEntry>>,
}

/// One version of a chart in an `index.yaml`.
#[derive(serde::Deserialize)]
pub struct IndexEntry {
    pub version: String,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub digest: Option<String>,
}

impl Index {
    /// Parses an `index.yaml`.
    pub fn parse(text: &str) -> Result<Index, String> {
        yaml_serde::from_str(text).map_err(|error| error.to_string())
    }

    /// The newest of `versions` that `requirement` accepts (versions that are not semver are
    /// passed over, as Helm does).
    pub fn newest<'a>(
        versions: &'a [IndexEntry],
        requirement: &semver::VersionReq,
    ) -> Option<(semver::Version, &'a IndexEntry)> {
        versions
            .iter()
            .filter_map(|entry| {
                semver::Version::parse(entry.version.trim_start_matches('v'))
                    .ok()
                    .map(|version| (version, entry))
            })
            .filter(|(version, _)| requirement.matches(version))
            .max_by(|left, right| left.0.cmp(&right.0))
    }
}

/// Resolves the chart's requirement against its repository's index.
pub async fn resolve(
    downloader: &Downloader,
    registry: &Registry,
    artifact: &ChartArtifact,
) -> Result<LockedChart, ChartError> {
    if let Some(path) = artifact.repo.strip_prefix("oci://") {
        return resolve_oci(downloader, registry, artifact, path).await;
    }
    let name = &artifact.name;
    let failed = |message: String, hint: &str| ChartError::Failed {
        name: name.clone(),
        message,
        hint: hint.to_string(),
    };
    let label = format!("chart {name}");
    let index_url = format!("{}/index.yaml", artifact.repo);
    let fetched = downloader
        .fetch(&label, name, &index_url, None, crate::limits::HELM_INDEX)
        .await?;
    let text =
        std::fs::read_to_string(downloader.store.blob_path(&fetched.digest)).map_err(|error| {
            failed(
                format!("{index_url} cannot be read: {error}"),
                "check the repository URL",
            )
        })?;
    let index = Index::parse(&text).map_err(|error| {
        failed(
            format!("{index_url} is not a Helm repository index: {error}"),
            "check the repository URL",
        )
    })?;
    let requirement = crate::version::version_requirement(&artifact.version)
        .map_err(|message| failed(message.to_string(), "write an exact version or a range"))?;
    let versions = index.entries.get(name).ok_or_else(|| {
        failed(
            format!("{index_url} has no chart named `{name}`"),
            "check the chart name",
        )
    })?;
    let chosen = Index::newest(versions, &requirement);
    let Some((version, entry)) = chosen else {
        let available: Vec<&str> = versions
            .iter()
            .map(|entry| entry.version.as_str())
            .take(10)
            .collect();
        return Err(failed(
            format!("no version of `{name}` matches `{}`", artifact.version),
            &format!("available: {}", available.join(", ")),
        ));
    };
    let archive = entry.urls.first().ok_or_else(|| {
        failed(
            format!("version {version} has no download URL in the index"),
            "report it to the repository",
        )
    })?;
    let url = if archive.contains("://") {
        archive.clone()
    } else {
        format!("{}/{}", artifact.repo, archive.trim_start_matches("./"))
    };
    // An index fetched over HTTP(S) only points at HTTP(S): the downloader also reads
    // file:// URLs and workspace paths, and a remote index must never make it read this
    // machine's files (onto the media).
    let remote = |text: &str| text.starts_with("http://") || text.starts_with("https://");
    if remote(&artifact.repo) && !remote(&url) {
        return Err(failed(
            format!(
                "the index points version {version} at `{}`, which is not an http(s) URL",
                crate::manifest::validate::redact(&url)
            ),
            "a remote repository's charts are fetched over HTTP(S) only; report the index to its owner",
        ));
    }
    let expected = match &entry.digest {
        Some(digest) => Some(crate::digest::Digest::parse(digest).map_err(|error| {
            failed(
                format!("the index's digest for {version}: {error}"),
                "report it to the repository",
            )
        })?),
        None => None,
    };
    let fetched = downloader
        .fetch(&label, name, &url, expected, crate::limits::CHART_ARCHIVE)
        .await?;
    if expected.is_none() {
        downloader.printer.warn(format!(
            "chart {name}: {index_url} lists no digest for {version}; trusting the archive seen now ({})",
            fetched.digest
        ));
    }
    Ok(LockedChart {
        name: name.clone(),
        repo: artifact.repo.clone(),
        requirement: artifact.version.clone(),
        version: version.to_string(),
        url,
        digest: fetched.digest,
        size: fetched.size,
        dependency_of: None,
        images: artifact.images,
        manifest: None,
        manifest_size: None,
    })
}

/// The media type of a Helm chart's content layer in an OCI registry.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Resolves a chart pushed to an OCI registry (`oci://host/namespace`): the newest tag that
/// matches (Helm writes `+` as `_` in tags), pinned to its manifest and chart layer.
async fn resolve_oci(
    downloader: &Downloader,
    registry: &Registry,
    artifact: &ChartArtifact,
    path: &str,
) -> Result<LockedChart, ChartError> {
    let name = &artifact.name;
    let failed = |message: String, hint: &str| ChartError::Failed {
        name: name.clone(),
        message,
        hint: hint.to_string(),
    };
    let repository = format!("{path}/{name}");
    let reference = Reference::parse(&repository)
        .map_err(|message| failed(message.to_string(), "check `repo`"))?;
    let requirement = crate::version::version_requirement(&artifact.version)
        .map_err(|message| failed(message.to_string(), "write an exact version or a range"))?;
    let tags = registry
        .tags(&reference, false)
        .await
        .map_err(|error| failed(error.to_string(), "check `repo` and the registry"))?;
    let chosen = tags
        .iter()
        .filter_map(|tag| {
            semver::Version::parse(&tag.replace('_', "+"))
                .ok()
                .map(|version| (version, tag))
        })
        .filter(|(version, _)| requirement.matches(version))
        .max_by(|left, right| left.0.cmp(&right.0));
    let Some((version, tag)) = chosen else {
        return Err(failed(
            format!(
                "no tag of oci://{repository} matches `{}`",
                artifact.version
            ),
            &format!(
                "tags: {}",
                tags.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let raw = registry
        .manifest(&reference, false, tag)
        .await
        .map_err(|error| failed(error.to_string(), "check the registry"))?;
    let parsed =
        crate::oci::manifest::parse(&raw.bytes, raw.content_type.as_deref()).map_err(|detail| {
            failed(
                format!("the manifest of {tag} {detail}"),
                "push the chart again with helm",
            )
        })?;
    let layer = parsed
        .blobs
        .iter()
        .find(|blob| blob.media_type == HELM_CHART_LAYER)
        .ok_or_else(|| {
            failed(
                format!("oci://{repository}:{tag} is not a Helm chart (no chart layer)"),
                "check `repo`",
            )
        })?;
    downloader
        .store
        .insert_reader(raw.bytes.as_slice(), Some(&raw.digest))
        .map_err(|source| FetchError::Cache {
            path: downloader.store.root().to_path_buf(),
            cause: source,
        })?
        .map_err(|_| {
            failed(
                "the manifest changed while it was stored".to_string(),
                "retry",
            )
        })?;
    Ok(LockedChart {
        name: name.clone(),
        repo: artifact.repo.clone(),
        requirement: artifact.version.clone(),
        version: version.to_string(),
        url: format!("oci://{repository}:{tag}"),
        digest: layer.digest,
        size: layer.size,
        dependency_of: None,
        images: artifact.images,
        manifest: Some(raw.digest),
        manifest_size: Some(raw.bytes.len() as u64),
    })
}

/// For an OCI chart, the image entry that puts it into the media's OCI layout (so
/// `helm pull oci://` works against `airgap serve`), named like the chart's reference.
pub fn as_image(pin: &LockedChart) -> Option<LockedImage> {
    let reference = pin.url.strip_prefix("oci://")?;
    Some(LockedImage {
        reference: Reference::parse(reference).ok()?.to_string(),
        layout: None,
        insecure: false,
        platforms: vec!["all".to_string()],
        referrers: false,
        digest: pin.manifest?,
        media_type: crate::oci::manifest::OCI_MANIFEST.to_string(),
        size: pin.manifest_size?,
        manifests: Vec::new(),
        referrer_manifests: Vec::new(),
        signature: None,
        chart: None,
    })
}

/// Fetches a pinned chart archive into the store, verified.
pub async fn fetch(downloader: &Downloader, pin: &LockedChart) -> Result<Fetched, FetchError> {
    let label = format!("chart {} {}", pin.name, pin.version);
    downloader
        .fetch(
            &label,
            &pin.name,
            &pin.url,
            Some(pin.digest),
            crate::limits::pinned(pin.size),
        )
        .await
}

/// What is read from a chart archive (`<chart>/...` inside a gzip'd tar): the text of the
/// wanted files at the chart's top level, and every path below the chart's directory.
pub struct ChartArchive {
    pub files: std::collections::BTreeMap<String, String>,
    pub paths: Vec<String>,
}

/// Why a chart archive could not be read (the message follows the archive's name).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{path}: {cause}")]
    File { path: String, cause: std::io::Error },
    #[error("has no Chart.yaml")]
    NoChartYaml,
    #[error("{file} is not YAML: {message}")]
    Yaml { file: &'static str, message: String },
}

impl ChartArchive {
    /// Reads the chart archive at `archive`: the `wanted` files' text, every member's path.
    pub fn read(archive: &std::path::Path, wanted: &[&str]) -> Result<ChartArchive, ArchiveError> {
        Self::from_reader(std::fs::File::open(archive)?, wanted)
    }

    /// [`read`](Self::read) of a `.tgz` stream.
    pub fn from_reader(
        archive: impl std::io::Read,
        wanted: &[&str],
    ) -> Result<ChartArchive, ArchiveError> {
        use std::io::Read;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
        let mut contents = ChartArchive {
            files: std::collections::BTreeMap::new(),
            paths: Vec::new(),
        };
        for entry in tar.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.to_string_lossy().into_owned();
            let Some((_, below)) = path.trim_start_matches("./").split_once('/') else {
                continue;
            };
            if wanted.contains(&below) {
                let mut text = String::new();
                // Decompressed sizes are bounded: a member that inflates without end is refused.
                (&mut entry)
                    .take(crate::limits::CHART_MEMBER + 1)
                    .read_to_string(&mut text)
                    .map_err(|cause| ArchiveError::File {
                        path: path.clone(),
                        cause,
                    })?;
                if text.len() as u64 > crate::limits::CHART_MEMBER {
                    return Err(ArchiveError::File {
                        path: path.clone(),
                        cause: std::io::Error::other(format!(
                            "is larger than {} bytes when decompressed",
                            crate::limits::CHART_MEMBER
                        )),
                    });
                }
                contents.files.insert(below.to_string(), text);
            }
            contents.paths.push(below.to_string());
        }
        Ok(contents)
    }

    /// The chart's `Chart.yaml`, parsed.
    pub fn chart_yaml(&self) -> Result<yaml_serde::Value, ArchiveError> {
        let text = self
            .files
            .get("Chart.yaml")
            .ok_or(ArchiveError::NoChartYaml)?;
        yaml_serde::from_str(text).map_err(|error| ArchiveError::Yaml {
            file: "Chart.yaml",
            message: error.to_string(),
        })
    }
}

/// The images a chart declares: `Chart.yaml` annotations (`artifacthub.io/images`,
/// `helm.sh/images`), an `images.lock` or `.images.lock.yaml`, and `values.yaml` (`image:`
/// strings, and `image:` maps of `registry`/`repository`/`tag`/`digest`; a missing tag is the
/// chart's `appVersion`). Normalized full references, sorted, without template expressions.
pub fn declared_images(archive: &std::path::Path) -> Result<Vec<String>, ArchiveError> {
    declared_images_in(&ChartArchive::read(archive, &IMAGE_SOURCES)?)
}

/// The files of a chart that name its images.
pub const IMAGE_SOURCES: [&str; 4] = [
    "Chart.yaml",
    "values.yaml",
    "images.lock",
    ".images.lock.yaml",
];

/// [`declared_images`] of an archive's files, read with [`IMAGE_SOURCES`] wanted.
pub fn declared_images_in(contents: &ChartArchive) -> Result<Vec<String>, ArchiveError> {
    let chart = contents.chart_yaml()?;
    let values = contents.files.get("values.yaml").cloned();
    let locks: Vec<&String> = ["images.lock", ".images.lock.yaml"]
        .iter()
        .filter_map(|name| contents.files.get(*name))
        .collect();
    let app_version = chart["appVersion"].as_str().map(str::to_string);
    let mut found = std::collections::BTreeSet::new();
    let mut add = |text: &str| {
        if !text.contains("{{")
            && let Ok(reference) = Reference::parse(text.trim())
        {
            found.insert(reference.to_string());
        }
    };
    for annotation in ["artifacthub.io/images", "helm.sh/images"] {
        if let Some(listed) = chart["annotations"][annotation].as_str()
            && let Ok(entries) = yaml_serde::from_str::<Vec<yaml_serde::Value>>(listed)
        {
            for entry in entries {
                if let Some(image) = entry["image"].as_str() {
                    add(image);
                }
            }
        }
    }
    for lock in locks {
        if let Ok(document) = yaml_serde::from_str::<yaml_serde::Value>(lock) {
            for entry in document["images"].as_sequence().into_iter().flatten() {
                if let Some(image) = entry["image"].as_str() {
                    add(image);
                }
            }
        }
    }
    if let Some(values) = values {
        let document: yaml_serde::Value =
            yaml_serde::from_str(&values).map_err(|error| ArchiveError::Yaml {
                file: "values.yaml",
                message: error.to_string(),
            })?;
        for site in image_sites(&document, app_version.as_deref()) {
            found.insert(site.reference);
        }
    }
    Ok(found.into_iter().collect())
}

/// Where a chart's `values.yaml` names an image: an `image:` string or an `image:` map of
/// `registry`/`repository`/`tag`/`digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSite {
    /// The keys from the top of the values to the `image` key; `None` inside a list, which a
    /// values override can only replace whole.
    pub path: Option<Vec<String>>,
    /// The normalized full reference it names (tag from `appVersion` when the map has none).
    pub reference: String,
    pub form: SiteForm,
}

/// How an [`ImageSite`] writes its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteForm {
    /// `image: registry/repository:tag`.
    Text,
    /// `image: {registry, repository, tag, digest}`; which of `registry` and `digest` it has.
    Map { registry: bool, digest: bool },
}

/// Every [`ImageSite`] of a chart's values (template expressions skipped).
pub fn image_sites(values: &yaml_serde::Value, app_version: Option<&str>) -> Vec<ImageSite> {
    let mut sites = Vec::new();
    let mut stack: Vec<(&yaml_serde::Value, Option<Vec<String>>)> =
        vec![(values, Some(Vec::new()))];
    let parse = |text: &str| {
        (!text.contains("{{"))
            .then(|| Reference::parse(text.trim()).ok())
            .flatten()
            .map(|reference| reference.to_string())
    };
    while let Some((value, path)) = stack.pop() {
        if let Some(mapping) = value.as_mapping() {
            for (key, inner) in mapping {
                let inner_path = match (&path, key.as_str()) {
                    (Some(path), Some(key)) => {
                        let mut path = path.clone();
                        path.push(key.to_string());
                        Some(path)
                    }
                    _ => None,
                };
                if key.as_str() == Some("image") {
                    if let Some(text) = inner.as_str() {
                        if let Some(reference) = parse(text) {
                            sites.push(ImageSite {
                                path: inner_path.clone(),
                                reference,
                                form: SiteForm::Text,
                            });
                        }
                    } else if let Some(repository) = inner["repository"].as_str() {
                        let registry = inner["registry"]
                            .as_str()
                            .filter(|registry| !registry.is_empty());
                        let mut text = match registry {
                            Some(registry) => format!("{registry}/{repository}"),
                            None => repository.to_string(),
                        };
                        let tag = inner["tag"]
                            .as_str()
                            .filter(|tag| !tag.is_empty())
                            .or(app_version)
                            .filter(|tag| !tag.is_empty());
                        if let Some(tag) = tag {
                            text.push(':');
                            text.push_str(tag);
                        }
                        if let Some(digest) =
                            inner["digest"].as_str().filter(|digest| !digest.is_empty())
                        {
                            text.push('@');
                            text.push_str(digest);
                        }
                        if let Some(reference) = parse(&text) {
                            sites.push(ImageSite {
                                path: inner_path.clone(),
                                reference,
                                form: SiteForm::Map {
                                    registry: inner.get("registry").is_some(),
                                    digest: inner.get("digest").is_some(),
                                },
                            });
                        }
                    }
                }
                stack.push((inner, inner_path));
            }
        } else if let Some(sequence) = value.as_sequence() {
            stack.extend(sequence.iter().map(|inner| (inner, None)));
        }
    }
    sites
}

/// A dependency a chart names in its `Chart.yaml` but does not vendor in its `charts/`.
#[derive(Debug, Clone)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
}

/// The dependencies of the chart archive at `archive` that it does not carry itself.
pub fn unvendored_dependencies(archive: &std::path::Path) -> Result<Vec<Dependency>, ArchiveError> {
    unvendored_in(&ChartArchive::read(archive, &["Chart.yaml"])?)
}

/// [`unvendored_dependencies`] of an archive's files, read with `Chart.yaml` wanted.
pub fn unvendored_in(contents: &ChartArchive) -> Result<Vec<Dependency>, ArchiveError> {
    // charts/<name>/... or charts/<name>-<version>.tgz
    let vendored: std::collections::BTreeSet<String> = contents
        .paths
        .iter()
        .filter_map(|path| path.strip_prefix("charts/"))
        .filter_map(|rest| rest.split('/').next())
        .filter(|name| !name.is_empty())
        .map(|name| name.trim_end_matches(".tgz").to_string())
        .collect();
    let chart = contents.chart_yaml()?;
    let mut missing = Vec::new();
    for dependency in chart["dependencies"].as_sequence().into_iter().flatten() {
        let (Some(name), Some(version), Some(repository)) = (
            dependency["name"].as_str(),
            dependency["version"].as_str(),
            dependency["repository"].as_str(),
        ) else {
            continue;
        };
        let carried = vendored.contains(name)
            || vendored
                .iter()
                .any(|vendored| vendored.starts_with(&format!("{name}-")));
        if !carried
            && !repository.is_empty()
            && !repository.starts_with("file://")
            && !repository.starts_with('@')
        {
            missing.push(Dependency {
                name: name.to_string(),
                version: version.to_string(),
                repository: repository.trim_end_matches('/').to_string(),
            });
        }
    }
    Ok(missing)
}

/// Images in the rendered manifests of a chart, when a `helm` binary is on the PATH
/// (`helm template` with the chart's default values): the `image:` lines.
pub fn rendered_images(archive: &std::path::Path) -> Vec<String> {
    let Ok(output) = std::process::Command::new("helm")
        .arg("template")
        .arg(archive)
        .output()
    else {
        return Vec::new();
    };
    if !output.status.success() {
        return Vec::new();
    }
    let mut found = std::collections::BTreeSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim().trim_start_matches("- ");
        if let Some(value) = line.strip_prefix("image:") {
            let value = value.trim().trim_matches(['"', '\'']);
            if let Ok(reference) = Reference::parse(value) {
                found.insert(reference.to_string());
            }
        }
    }
    found.into_iter().collect()
}

impl crate::hint::Hint for ChartError {
    fn hint(&self) -> Option<String> {
        match self {
            ChartError::Fetch(inner) => crate::hint::Hint::hint(inner),
            ChartError::Failed { hint, .. } => Some(hint.to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_member_that_inflates_without_end_is_refused() {
        // Failed before: Chart.yaml was read whole, however large it inflated.
        let directory = tempfile::tempdir().unwrap();
        let archive = directory.path().join("bomb.tgz");
        let file = std::fs::File::create(&archive).unwrap();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::best(),
        ));
        let size = crate::limits::CHART_MEMBER + 1;
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(
                &mut header,
                "bomb/Chart.yaml",
                std::io::Read::take(std::io::repeat(b'a'), size),
            )
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let error = ChartArchive::read(&archive, &["Chart.yaml"]).err().unwrap();
        assert!(error.to_string().contains("larger than"), "{error}");
    }
}
