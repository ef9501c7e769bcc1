//! `airgap lock`: bring airgap.lock in line with the manifests. Also the first step of
//! `materialize`. Orchestration only: staleness is `lock::plan`, resolution is `source`.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use futures_util::StreamExt;

use crate::cli::{LockArgs, LockMode};
use crate::lock::{self, Lockfile, Reason};
use crate::manifest::{self, Manifest};
use crate::oci::pull::Images;
use crate::oci::registry::Registry;
use crate::settings::Settings;
use crate::source::Downloader;

/// Why the lock cannot be brought up to date under the given mode.
#[derive(Debug, thiserror::Error)]
pub enum LockModeError {
    #[error(
        "airgap.lock needs to change, but --locked forbids it:\n{changes}\nhint: run `airgap lock` and commit the new airgap.lock"
    )]
    Locked { changes: String },
    #[error(
        "airgap.lock does not pin everything the manifests name, and --offline forbids the network:\n{missing}\nhint: run `airgap lock` on a connected machine and bring the lock along"
    )]
    Offline { missing: String },
    #[error("--update names `{name}`, which no manifest entry has\nhint: entries are: {known}")]
    UnknownName { name: String, known: String },
    #[error(
        "{count} of {total} entries could not be resolved; airgap.lock was not changed:\n\n{details}"
    )]
    Failed {
        count: usize,
        total: usize,
        details: String,
    },
}

pub fn run(settings: &Settings, args: &LockArgs) -> Result<()> {
    let manifest = manifest::load(&settings.workspace)?;
    ensure(
        settings,
        &manifest,
        &args.mode,
        args.update.as_deref(),
        None,
    )?;
    Ok(())
}

/// Loads, checks and (unless forbidden) updates the lock; returns the lock to use. The
/// downloader, when given, is shared with the caller (so bytes verified here are not hashed
/// again); otherwise one is made only if something must be resolved.
pub fn ensure(
    settings: &Settings,
    manifest: &Manifest,
    mode: &LockMode,
    update: Option<&[String]>,
    shared: Option<&Downloader>,
) -> Result<Lockfile> {
    let path = settings.lock_path();
    let old = Lockfile::read(&path)?;
    if let Some(names) = update {
        let known: BTreeSet<&str> = manifest
            .files
            .iter()
            .map(|file| file.key.name.as_str())
            .chain(manifest.images.iter().map(|image| image.reference.as_str()))
            .chain(manifest.apts.iter().map(|apt| apt.name.as_str()))
            .chain(manifest.yums.iter().map(|yum| yum.name.as_str()))
            .chain(manifest.gits.iter().map(|git| git.name.as_str()))
            .chain(manifest.charts.iter().map(|chart| chart.name.as_str()))
            .collect();
        for name in names {
            if !known.contains(name.as_str()) {
                return Err(LockModeError::UnknownName {
                    name: name.clone(),
                    known: known.iter().copied().collect::<Vec<_>>().join(", "),
                }
                .into());
            }
        }
    }
    let plan = lock::plan(manifest, old.as_ref(), update);
    if let Some(old) = &old
        && plan.is_settled()
        && old.manifest == manifest.inputs_digest
    {
        settings.printer.detail("airgap.lock is up to date");
        return Ok(old.clone());
    }
    let indent = |lines: Vec<String>| {
        lines
            .into_iter()
            .map(|line| format!("  {line}"))
            .collect::<Vec<_>>()
    };

    if mode.locked {
        let forced = update.is_some();
        let mut changes = if forced {
            Vec::new()
        } else {
            indent(plan.pending())
        };
        changes.extend(indent(plan.dropped()));
        if old.is_none() {
            changes.insert(0, "  airgap.lock does not exist".to_string());
        } else if changes.is_empty() && !forced {
            changes.push("  the manifests changed in a way that changes the lock".to_string());
        }
        if !changes.is_empty() {
            return Err(LockModeError::Locked {
                changes: changes.join("\n"),
            }
            .into());
        }
    }
    let pending = plan.pending();
    if mode.offline && !pending.is_empty() {
        return Err(LockModeError::Offline {
            missing: indent(pending).join("\n"),
        }
        .into());
    }

    let mut files = plan.files.keep.clone();
    let mut gits = plan.gits.keep.clone();
    let mut charts = plan.charts.keep.clone();
    let mut images = plan.images.keep.clone();
    // apt entries resolve together (a package of one may depend on another's): when any of
    // them changes, all are resolved again.
    let apt_changed = !plan.apts.resolve.is_empty() || !plan.apts.removed.is_empty();
    let mut apts = if apt_changed {
        Vec::new()
    } else {
        plan.apts.keep.clone()
    };
    let yum_changed = !plan.yums.resolve.is_empty() || !plan.yums.removed.is_empty();
    let mut yums = if yum_changed {
        Vec::new()
    } else {
        plan.yums.keep.clone()
    };
    if !pending.is_empty()
        || (apt_changed && !manifest.apts.is_empty())
        || (yum_changed && !manifest.yums.is_empty())
    {
        let owned;
        let downloader = match shared {
            Some(downloader) => downloader,
            None => {
                owned = downloader(settings)?;
                &owned
            }
        };
        let registry = Registry::new(downloader.client.clone(), settings.printer.clone());
        let resolver = Images {
            registry: &registry,
            downloader,
        };
        let runtime = runtime()?;
        let (file_results, image_results, apt_result, yum_result) = runtime.block_on(async {
            let files = futures_util::stream::iter(plan.files.resolve.iter())
                .map(|(artifact, reason)| async move {
                    settings
                        .printer
                        .detail(format!("resolving file {} ({reason})", artifact.key));
                    crate::kinds::file::resolve(downloader, artifact)
                        .await
                        .map_err(|error| error.to_string())
                })
                .buffer_unordered(settings.jobs)
                .collect::<Vec<_>>();
            let images = futures_util::stream::iter(plan.images.resolve.iter())
                .map(|(artifact, reason)| {
                    let resolver = &resolver;
                    async move {
                        settings
                            .printer
                            .detail(format!("resolving image {} ({reason})", artifact.reference));
                        resolver
                            .resolve(artifact)
                            .await
                            .map_err(|error| error.to_string())
                    }
                })
                .buffer_unordered(settings.jobs)
                .collect::<Vec<_>>();
            let apts = async {
                if apt_changed && !manifest.apts.is_empty() {
                    Some(
                        crate::kinds::apt::resolve(downloader, &manifest.apts)
                            .await
                            .map_err(|error| error.to_string()),
                    )
                } else {
                    None
                }
            };
            let yums = async {
                if yum_changed && !manifest.yums.is_empty() {
                    Some(
                        crate::kinds::yum::resolve(downloader, &manifest.yums)
                            .await
                            .map_err(|error| error.to_string()),
                    )
                } else {
                    None
                }
            };
            futures_util::join!(files, images, apts, yums)
        });
        let mut failures = Vec::new();
        for result in file_results {
            match result {
                Ok(pinned) => files.push(pinned),
                Err(error) => failures.push(error),
            }
        }
        for result in image_results {
            match result {
                Ok(pinned) => images.push(pinned),
                Err(error) => failures.push(error),
            }
        }
        match apt_result {
            Some(Ok(pinned)) => apts = pinned,
            Some(Err(error)) => failures.push(error),
            None => {}
        }
        match yum_result {
            Some(Ok(pinned)) => yums = pinned,
            Some(Err(error)) => failures.push(error),
            None => {}
        }
        for (artifact, _) in &plan.charts.resolve {
            match runtime.block_on(crate::kinds::chart::resolve(
                downloader, &registry, artifact,
            )) {
                Ok(pinned) => match runtime.block_on(chart_closure(
                    &resolver, &registry, manifest, pinned, artifact,
                )) {
                    Ok((pinned_charts, derived)) => {
                        charts.extend(pinned_charts);
                        images.extend(derived);
                    }
                    Err(error) => failures.push(error),
                },
                Err(error) => failures.push(error.to_string()),
            }
        }
        for (artifact, _) in &plan.gits.resolve {
            match crate::kinds::git::resolve(artifact, &downloader.workspace) {
                Ok(pinned) => gits.push(pinned),
                Err(error) => failures.push(error.to_string()),
            }
        }
        if !failures.is_empty() {
            failures.sort();
            return Err(LockModeError::Failed {
                count: failures.len(),
                total: pending.len(),
                details: failures.join("\n\n"),
            }
            .into());
        }
    }

    // Charts kept as they were keep the dependencies and images they brought.
    if let Some(old) = &old {
        for chart in &plan.charts.keep {
            let dependencies: Vec<&crate::lock::LockedChart> = old
                .charts
                .iter()
                .filter(|dependency| {
                    dependency.dependency_of.as_deref() == Some(chart.name.as_str())
                })
                .collect();
            charts.extend(dependencies.iter().map(|dependency| (*dependency).clone()));
            let owners: Vec<&str> = std::iter::once(chart.name.as_str())
                .chain(
                    dependencies
                        .iter()
                        .map(|dependency| dependency.name.as_str()),
                )
                .collect();
            images.extend(
                old.images
                    .iter()
                    .filter(|image| {
                        image
                            .chart
                            .as_deref()
                            .is_some_and(|owner| owners.contains(&owner))
                    })
                    .cloned(),
            );
        }
    }
    charts.sort_by(|left, right| left.name.cmp(&right.name));
    charts.dedup_by(|left, right| left.name == right.name);
    images.sort_by(|left, right| left.reference.cmp(&right.reference));
    images.dedup_by(|left, right| left.reference == right.reference);
    let new = Lockfile {
        files,
        images,
        apts,
        yums,
        gits,
        charts,
        ..Lockfile::empty(manifest.inputs_digest)
    };
    if mode.locked && old.as_ref().map(Lockfile::render) != Some(new.render()) {
        // Only `--update` entries were resolved: the lock must come out the same.
        return Err(LockModeError::Locked {
            changes: "  --update resolved different pins".to_string(),
        }
        .into());
    }
    let written = new.write_if_changed(&path)?;
    let added = pending
        .iter()
        .filter(|line| line.ends_with(&Reason::New.to_string()))
        .count();
    let changed = pending.len() - added;
    let removed = plan.dropped().len();
    let summary = format!(
        "{} files, {} images, {} apt and {} yum packages, {} git repositories, {} charts",
        new.files.len(),
        new.images.len(),
        new.apts.iter().map(|apt| apt.debs.len()).sum::<usize>(),
        new.yums.iter().map(|yum| yum.rpms.len()).sum::<usize>(),
        new.gits.len(),
        new.charts.len()
    );
    if written {
        settings.printer.status(
            "Locked",
            format!(
                "{summary} ({added} new, {changed} re-resolved, {removed} removed) in {}",
                path.display()
            ),
        );
    } else {
        settings
            .printer
            .status("Locked", format!("{summary}; airgap.lock unchanged"));
    }
    Ok(new)
}

/// A resolved chart with what it brings: the dependencies it does not vendor (pinned as
/// charts marked `dependency_of`) and, with `images = true`, the images it and they declare
/// (pinned as images marked `chart`). Images the manifests list themselves stay theirs.
async fn chart_closure(
    resolver: &Images<'_>,
    registry: &Registry,
    manifest: &Manifest,
    root: crate::lock::LockedChart,
    artifact: &crate::manifest::ChartArtifact,
) -> Result<(Vec<crate::lock::LockedChart>, Vec<crate::lock::LockedImage>), String> {
    let mut charts = vec![root];
    let mut images: Vec<crate::lock::LockedImage> = Vec::new();
    let mut index = 0;
    while index < charts.len() {
        let chart = charts[index].clone();
        index += 1;
        let archive = chart_archive(resolver, &chart).await?;
        let missing = crate::kinds::chart::unvendored_dependencies(&archive)
            .map_err(|message| format!("chart {}: the archive {message}", chart.name))?;
        for dependency in missing {
            let known = charts.iter().any(|known| known.name == dependency.name)
                || manifest
                    .charts
                    .iter()
                    .any(|known| known.name == dependency.name);
            if known {
                continue;
            }
            let needed = crate::manifest::ChartArtifact {
                name: dependency.name.clone(),
                repo: dependency.repository.clone(),
                version: dependency.version.clone(),
                images: artifact.images,
                origin: artifact.origin.clone(),
            };
            let mut pinned = crate::kinds::chart::resolve(resolver.downloader, registry, &needed)
                .await
                .map_err(|error| {
                    format!("chart {} needs {}: {error}", chart.name, dependency.name)
                })?;
            pinned.dependency_of = Some(charts[0].name.clone());
            charts.push(pinned);
        }
        if !artifact.images {
            continue;
        }
        let mut references = crate::kinds::chart::declared_images(&archive)
            .map_err(|message| format!("chart {}: the archive {message}", chart.name))?;
        references.extend(crate::kinds::chart::rendered_images(&archive));
        references.sort();
        references.dedup();
        for reference in references {
            let listed = manifest
                .images
                .iter()
                .any(|image| image.reference == reference)
                || images.iter().any(|image| image.reference == reference);
            if listed {
                continue;
            }
            let image = crate::manifest::ImageArtifact {
                reference: reference.clone(),
                platforms: manifest.enclave.platforms.clone(),
                layout: None,
                referrers: false,
                insecure: false,
                origin: artifact.origin.clone(),
            };
            let mut locked = resolver
                .resolve(&image)
                .await
                .map_err(|error| format!("chart {} needs {reference}: {error}", chart.name))?;
            locked.chart = Some(chart.name.clone());
            images.push(locked);
        }
    }
    Ok((charts, images))
}

/// The chart's archive in the store: an HTTP chart's is there from resolution; an OCI chart's
/// layer is fetched now.
async fn chart_archive(
    resolver: &Images<'_>,
    chart: &crate::lock::LockedChart,
) -> Result<std::path::PathBuf, String> {
    let downloader = resolver.downloader;
    if downloader.store.size_of(&chart.digest).is_none()
        && let Some(image) = crate::kinds::chart::as_image(chart)
    {
        let layer = crate::oci::manifest::Descriptor {
            media_type: crate::kinds::chart::HELM_CHART_LAYER.to_string(),
            digest: chart.digest,
            size: chart.size,
            platform: None,
            annotations: Default::default(),
            artifact_type: None,
        };
        resolver
            .fetch_blob(&image, &layer)
            .await
            .map_err(|error| error.to_string())?;
    }
    Ok(downloader.store.blob_path(&chart.digest))
}

/// The downloader for this invocation's settings.
pub fn downloader(settings: &Settings) -> Result<Downloader> {
    let store = crate::store::Store::open(&settings.cache)
        .with_context(|| format!("cannot open the cache at {}", settings.cache.display()))?;
    let client = crate::http::client(&settings.http)?;
    let workspace = std::path::absolute(&settings.workspace).with_context(|| {
        format!(
            "cannot resolve the workspace {}",
            settings.workspace.display()
        )
    })?;
    Ok(Downloader {
        client,
        store,
        printer: settings.printer.clone(),
        retry: settings.retry,
        workspace,
        verified: Default::default(),
    })
}

/// The async runtime for network work.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
