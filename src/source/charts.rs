//! `[[chart]]`: a Helm chart from an HTTP repository. The repository's `index.yaml` names the
//! versions; the newest that matches the requirement is pinned with its archive's sha256 (the
//! index's `digest` is checked when it has one).

use crate::lock::LockedChart;
use crate::manifest::ChartArtifact;
use crate::source::download::{Downloader, FetchError, Fetched};

/// Why a chart could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("chart {name}: {message}\nhint: {hint}")]
    Failed {
        name: String,
        message: String,
        hint: String,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

#[derive(serde::Deserialize)]
struct Index {
    #[serde(default)]
    entries: std::collections::BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(serde::Deserialize)]
struct IndexEntry {
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
}

/// Resolves the chart's requirement against its repository's index.
pub async fn resolve(
    downloader: &Downloader,
    artifact: &ChartArtifact,
) -> Result<LockedChart, ChartError> {
    let name = &artifact.name;
    let failed = |message: String, hint: &str| ChartError::Failed {
        name: name.clone(),
        message,
        hint: hint.to_string(),
    };
    let label = format!("chart {name}");
    let index_url = format!("{}/index.yaml", artifact.repo);
    let fetched = downloader.fetch(&label, name, &index_url, None).await?;
    let text =
        std::fs::read_to_string(downloader.store.blob_path(&fetched.digest)).map_err(|error| {
            failed(
                format!("{index_url} cannot be read: {error}"),
                "check the repository URL",
            )
        })?;
    let index: Index = yaml_serde::from_str(&text).map_err(|error| {
        failed(
            format!("{index_url} is not a Helm repository index: {error}"),
            "check the repository URL",
        )
    })?;
    let requirement = crate::reference::version_requirement(&artifact.version)
        .map_err(|message| failed(message, "write an exact version or a range"))?;
    let versions = index.entries.get(name).ok_or_else(|| {
        failed(
            format!("{index_url} has no chart named `{name}`"),
            "check the chart name",
        )
    })?;
    let chosen = versions
        .iter()
        .filter_map(|entry| {
            semver::Version::parse(entry.version.trim_start_matches('v'))
                .ok()
                .map(|version| (version, entry))
        })
        .filter(|(version, _)| requirement.matches(version))
        .max_by(|left, right| left.0.cmp(&right.0));
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
    let expected = match &entry.digest {
        Some(digest) => Some(crate::digest::Digest::parse(digest).map_err(|error| {
            failed(
                format!("the index's digest for {version}: {error}"),
                "report it to the repository",
            )
        })?),
        None => None,
    };
    let fetched = downloader.fetch(&label, name, &url, expected).await?;
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
    })
}

/// Fetches a pinned chart archive into the store, verified.
pub async fn fetch(downloader: &Downloader, pin: &LockedChart) -> Result<Fetched, FetchError> {
    let label = format!("chart {} {}", pin.name, pin.version);
    downloader
        .fetch(&label, &pin.name, &pin.url, Some(pin.digest))
        .await
}
