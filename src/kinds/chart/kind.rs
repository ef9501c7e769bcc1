//! The chart kind in the list: `[[chart]]` entries with the dependencies and images they
//! bring, a Helm repository under `charts/` on the media, OCI charts also in the layout.

use std::collections::BTreeMap;

use anyhow::anyhow;
use futures_util::future::{BoxFuture, LocalBoxFuture};

use super::repository::{self, archive_path};
use super::{ChartArtifact, LockedChart, RawChart};
use super::{HELM_CHART_LAYER, ROOT, as_image, closure, fetch, resolve};
use crate::digest::Digest;
use crate::hint::Hinted;
use crate::oci::pin::LockedImage;
use toml::Spanned;

use crate::kinds::{Kind, Lockfile, Placed, Placer, Resolver, counted};
use crate::lock::Reason;
use crate::lock::diff::Pin;
use crate::manifest::loader::{Context, Loader};
use crate::media::signing::Signer;
use crate::oci::manifest::Descriptor;

/// `[[chart]]`.
pub struct Charts;

impl Kind for Charts {
    const NAME: &'static str = "chart";
    const ROOTS: &'static [&'static str] = &[ROOT];
    const EXAMPLE: (&'static str, &'static str) = ("charts", include_str!("example.toml"));
    type Raw = RawChart;
    type Entry = ChartArtifact;
    type Pin = LockedChart;

    fn load(loader: &mut Loader, context: &Context, raw: Spanned<RawChart>) -> Vec<ChartArtifact> {
        super::entry::load(loader, context, raw)
    }
    fn key(entry: &ChartArtifact) -> String {
        entry.name.clone()
    }
    fn is_own(pin: &LockedChart) -> bool {
        // Dependencies a chart brought are kept or re-resolved with it.
        pin.dependency_of.is_none()
    }
    fn changed(artifact: &ChartArtifact, pinned: &LockedChart) -> Option<&'static str> {
        if artifact.repo != pinned.repo {
            Some("repo")
        } else if artifact.version != pinned.requirement {
            Some("version")
        } else if artifact.images != pinned.images {
            Some("images")
        } else {
            None
        }
    }
    fn count(lock: &Lockfile) -> String {
        counted(lock.charts.len(), "chart", "charts")
    }

    /// One chart at a time: each brings its closure (dependencies, declared images).
    fn resolve<'a>(
        context: &'a Resolver<'a>,
        entries: Vec<(ChartArtifact, Reason)>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut failures = Vec::new();
            for (artifact, reason) in entries {
                context
                    .printer
                    .detail(format!("resolving chart {} ({reason})", artifact.name));
                let images = context.images;
                let pinned = match resolve(context.downloader, images.registry, &artifact).await {
                    Ok(pinned) => pinned,
                    Err(error) => {
                        failures.push(crate::hint::explain(&error));
                        continue;
                    }
                };
                match closure::closure(images, context.manifest, pinned, &artifact).await {
                    Ok((charts, derived)) => {
                        into.charts.extend(charts);
                        into.images.extend(derived);
                    }
                    Err(error) => failures.push(error),
                }
            }
            failures
        })
    }

    /// Charts kept as they were keep the dependencies and images they brought.
    fn keep_derived(old: &Lockfile, kept: &[LockedChart], into: &mut Lockfile) {
        for chart in kept {
            let dependencies: Vec<&LockedChart> = old
                .charts
                .iter()
                .filter(|dependency| {
                    dependency.dependency_of.as_deref() == Some(chart.name.as_str())
                })
                .collect();
            into.charts
                .extend(dependencies.iter().map(|dependency| (*dependency).clone()));
            let owners: Vec<&str> = std::iter::once(chart.name.as_str())
                .chain(
                    dependencies
                        .iter()
                        .map(|dependency| dependency.name.as_str()),
                )
                .collect();
            into.images.extend(
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

    /// OCI charts travel in the OCI layout like images (so `helm pull oci://` works against
    /// the server) and as archives in charts/.
    fn layout_images(lock: &Lockfile) -> Vec<LockedImage> {
        lock.charts.iter().filter_map(as_image).collect()
    }

    fn pinned_paths(lock: &Lockfile) -> Vec<(String, Digest)> {
        lock.charts.iter().map(target).collect()
    }

    fn components(lock: &Lockfile) -> Vec<crate::sbom::Component> {
        lock.charts
            .iter()
            .map(|chart| crate::sbom::Component {
                kind: "application",
                airgap_kind: "chart",
                name: chart.name.clone(),
                version: Some(chart.version.clone()),
                purl: crate::sbom::purl(
                    "generic",
                    None,
                    &chart.name,
                    Some(&chart.version),
                    &[
                        ("download_url", &chart.url),
                        ("checksum", &chart.digest.to_string()),
                    ],
                ),
                sha256: Some(chart.digest),
                source: Some(chart.url.clone()),
                media_path: Some(target(chart).0),
                ..Default::default()
            })
            .collect()
    }

    fn place<'a>(context: &'a Placer<'a>, lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed> {
        Box::pin(context.place_all(
            lock.charts.iter().collect(),
            target,
            move |pin: &'a LockedChart| async move {
                match as_image(pin) {
                    Some(image) => {
                        let layer = Descriptor {
                            media_type: HELM_CHART_LAYER.to_string(),
                            digest: pin.digest,
                            size: pin.size,
                            platform: None,
                            annotations: Default::default(),
                            artifact_type: None,
                        };
                        context
                            .images
                            .fetch_blob(&image, &layer)
                            .await
                            .map_err(|error| Hinted::of(&error))
                    }
                    None => fetch(context.downloader, pin)
                        .await
                        .map_err(|error| Hinted::of(&error)),
                }
            },
        ))
    }

    /// `index.yaml`, made from the placed archives' Chart.yaml.
    fn write_metadata(
        context: &Placer<'_>,
        lock: &Lockfile,
        _signer: &Signer,
    ) -> anyhow::Result<BTreeMap<String, Digest>> {
        let mut entries = BTreeMap::new();
        if !lock.charts.is_empty() {
            let index = repository::index_yaml(context.tree.root(), &lock.charts)
                .map_err(|message| anyhow!("charts: {message}"))?;
            let relative = format!("{ROOT}/index.yaml");
            context.tree.write_if_changed(&relative, index.as_bytes())?;
            entries.insert(relative, Digest::of_bytes(index.as_bytes()));
        }
        Ok(entries)
    }
}

/// Where a chart's archive lies on the media, and its digest.
fn target(pin: &LockedChart) -> (String, Digest) {
    (archive_path(pin), pin.digest)
}

impl Pin for LockedChart {
    const KIND: &'static str = "chart";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("repo", self.repo.clone()),
            ("version", self.version.clone()),
            ("url", self.url.clone()),
            ("digest", self.digest.to_string()),
        ]
    }
    fn summary(&self) -> String {
        format!("{} {}  {}", self.version, self.digest, self.url)
    }
}
