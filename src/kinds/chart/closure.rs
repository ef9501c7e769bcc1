//! A chart's closure: the dependencies its archive names but does not vendor, and, with
//! `images = true`, the images it and they declare.

use super::{
    HELM_CHART_LAYER, as_image, declared_images, rendered_images, resolve, unvendored_dependencies,
};
use crate::kinds::Manifest;
use crate::kinds::chart::ChartArtifact;
use crate::kinds::chart::LockedChart;
use crate::oci::manifest::Descriptor;
use crate::oci::pin::ImageArtifact;
use crate::oci::pin::LockedImage;
use crate::oci::pull::Images;

/// A resolved chart with what it brings: the dependencies it does not vendor (pinned as
/// charts marked `dependency_of`) and, with `images = true`, the images it and they declare
/// (pinned as images marked `chart`). Images the manifests list themselves stay theirs.
pub async fn closure(
    resolver: &Images<'_>,
    manifest: &Manifest,
    root: LockedChart,
    artifact: &ChartArtifact,
) -> Result<(Vec<LockedChart>, Vec<LockedImage>), String> {
    let mut charts = vec![root];
    let mut images: Vec<LockedImage> = Vec::new();
    let mut index = 0;
    while index < charts.len() {
        let chart = charts[index].clone();
        index += 1;
        let archive = stored_archive(resolver, &chart).await?;
        let missing = unvendored_dependencies(&archive)
            .map_err(|message| format!("chart {}: the archive {message}", chart.name))?;
        for dependency in missing {
            // The name becomes a file name on the media (charts/<name>-<version>.tgz).
            if !crate::manifest::validate::is_name(&dependency.name) {
                return Err(format!(
                    "chart {} names a dependency `{}`, which is not a chart name (letters, digits, `.`, `_`, `+`, `-`)\nhint: the chart tries to place a file outside the repository; do not use it",
                    chart.name,
                    dependency.name.escape_debug()
                ));
            }
            let known = charts.iter().any(|known| known.name == dependency.name)
                || manifest
                    .charts
                    .iter()
                    .any(|known| known.name == dependency.name);
            if known {
                continue;
            }
            let needed = ChartArtifact {
                name: dependency.name.clone(),
                repo: dependency.repository.clone(),
                version: dependency.version.clone(),
                images: artifact.images,
                origin: artifact.origin.clone(),
            };
            let mut pinned = resolve(resolver.downloader, resolver.registry, &needed)
                .await
                .map_err(|error| {
                    format!(
                        "chart {} needs {}: {}",
                        chart.name,
                        dependency.name,
                        crate::hint::explain(&error)
                    )
                })?;
            pinned.dependency_of = Some(charts[0].name.clone());
            charts.push(pinned);
        }
        if !artifact.images {
            continue;
        }
        let mut references = declared_images(&archive)
            .map_err(|message| format!("chart {}: the archive {message}", chart.name))?;
        references.extend(rendered_images(&archive));
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
            let image = ImageArtifact {
                reference: reference.clone(),
                platforms: manifest.enclave.platforms.clone(),
                layout: None,
                referrers: false,
                insecure: false,
                origin: artifact.origin.clone(),
            };
            let mut locked = resolver.resolve(&image).await.map_err(|error| {
                format!(
                    "chart {} needs {reference}: {}",
                    chart.name,
                    crate::hint::explain(&error)
                )
            })?;
            locked.chart = Some(chart.name.clone());
            images.push(locked);
        }
    }
    Ok((charts, images))
}

/// The chart's archive in the store: an HTTP chart's is there from resolution; an OCI chart's
/// layer is fetched now.
async fn stored_archive(
    resolver: &Images<'_>,
    chart: &LockedChart,
) -> Result<std::path::PathBuf, String> {
    let downloader = resolver.downloader;
    if downloader.store.size_of(&chart.digest).is_none()
        && let Some(image) = as_image(chart)
    {
        let layer = Descriptor {
            media_type: HELM_CHART_LAYER.to_string(),
            digest: chart.digest,
            size: chart.size,
            platform: None,
            annotations: Default::default(),
            artifact_type: None,
        };
        resolver
            .fetch_blob(&image, &layer)
            .await
            .map_err(|error| crate::hint::explain(&error))?;
    }
    Ok(downloader.store.blob_path(&chart.digest))
}
