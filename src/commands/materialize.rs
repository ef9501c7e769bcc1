//! `airgap materialize --to DIR`: lock if needed, fetch what the lock pins into the cache,
//! place it on the media (files, and images as one OCI layout), prune what the lock no longer
//! pins, then write the lock copy, the public key, `SHA256SUMS` and its signature.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use futures_util::StreamExt;

use crate::cli::MaterializeArgs;
use crate::commands::lock;
use crate::digest::Digest;
use crate::kinds::apt::repository as apt_repository;
use crate::kinds::chart::repository as charts_repository;
use crate::kinds::yum::repository as yum_repository;
use crate::lock::{LockedApt, LockedDeb, LockedImage, LockedRpm, LockedYum};
use crate::manifest;
use crate::media::signing::Signer;
use crate::media::tree::{Placement, Tree};
use crate::oci::layout as oci_layout;
use crate::oci::manifest::Descriptor;
use crate::oci::pull::{self as oci, Images};
use crate::oci::registry::Registry;
use crate::printer::human_bytes;
use crate::settings::Settings;
use crate::source::{self, Fetched};

#[derive(Default)]
struct Tally {
    present: AtomicUsize,
    written: AtomicUsize,
    downloaded_bytes: AtomicU64,
}

pub fn run(settings: &Settings, args: &MaterializeArgs) -> Result<()> {
    let started = Instant::now();
    let manifest = manifest::load(&settings.workspace)?;
    let downloader = lock::downloader(settings)?;
    let lock = lock::ensure(settings, &manifest, &args.mode, None, Some(&downloader))?;

    let default_key = args.signing_key.is_none();
    let key_path = args
        .signing_key
        .clone()
        .unwrap_or_else(Signer::default_path);
    let (signer, created) = Signer::load_or_create(&key_path, default_key)?;
    if created {
        settings.printer.status(
            "Created",
            format!(
                "signing key {} at {}",
                signer.fingerprint(),
                key_path.display()
            ),
        );
        settings.printer.warn(
            "give the enclave keys/airgap.asc from this media by a separate, trusted path; `airgap verify --key` checks against it",
        );
    }

    let tree = Tree::open(&args.to)?;
    let registry = Registry::new(downloader.client.clone(), settings.printer.clone());
    let images = Images {
        registry: &registry,
        downloader: &downloader,
    };
    // OCI charts travel in the OCI layout like images (so `helm pull oci://` works against
    // the server) and as archives in charts/.
    let chart_images: Vec<LockedImage> = lock
        .charts
        .iter()
        .filter_map(crate::kinds::chart::as_image)
        .collect();
    let all_images: Vec<LockedImage> = lock
        .images
        .iter()
        .chain(chart_images.iter())
        .cloned()
        .collect();
    let all_images = &all_images;
    let tally = Tally::default();
    let runtime = lock::runtime()?;
    let downloader = &downloader;
    let tree = &tree;
    let tally = &tally;
    let (entries, layout) = runtime.block_on(async {
        let mut failures = Vec::new();
        let mut entries: BTreeMap<String, Digest> = BTreeMap::new();

        // Files.
        let results: Vec<Result<()>> = futures_util::stream::iter(lock.files.iter())
            .map(|file| {
                let relative = format!("files/{}", file.path);
                place(tree, downloader, tally, relative, file.digest, move || {
                    crate::kinds::file::fetch(downloader, file)
                })
            })
            .buffer_unordered(settings.jobs)
            .collect()
            .await;
        failures.extend(results.into_iter().filter_map(Result::err).map(|error| format!("{error:#}")));
        for file in &lock.files {
            entries.insert(format!("files/{}", file.path), file.digest);
        }

        // Images: every manifest document first (small), then the unique blobs they name.
        let documents: Vec<(&LockedImage, Result<Vec<oci::StoredManifest>, oci::ImageError>)> =
            futures_util::stream::iter(all_images.iter())
                .map(|pin| {
                    let images = &images;
                    async move { (pin, images.manifests_of(pin).await) }
                })
                .buffer_unordered(settings.jobs)
                .collect()
                .await;
        let mut blobs: BTreeMap<Digest, (&LockedImage, Descriptor)> = BTreeMap::new();
        let mut manifest_digests = BTreeSet::new();
        for (pin, result) in documents {
            match result {
                Ok(stored) => {
                    for document in stored {
                        manifest_digests.insert(document.digest);
                        for blob in document.parsed.blobs {
                            blobs.entry(blob.digest).or_insert((pin, blob));
                        }
                    }
                }
                Err(error) => failures.push(error.to_string()),
            }
        }
        for digest in &manifest_digests {
            let size = downloader.store.size_of(digest).unwrap_or(0);
            let fetched = Fetched {
                digest: *digest,
                size,
                fresh: true,
            };
            if let Err(error) = place(tree, downloader, tally, oci_layout::blob_path(digest), *digest, || async move {
                Ok::<_, oci::ImageError>(fetched)
            })
            .await
            {
                failures.push(format!("{error:#}"));
            }
            entries.insert(oci_layout::blob_path(digest), *digest);
        }
        let results: Vec<Result<()>> = futures_util::stream::iter(blobs.values())
            .map(|(pin, descriptor)| {
                let images = &images;
                place(tree, downloader, tally, oci_layout::blob_path(&descriptor.digest), descriptor.digest, move || {
                    images.fetch_blob(pin, descriptor)
                })
            })
            .buffer_unordered(settings.jobs)
            .collect()
            .await;
        failures.extend(results.into_iter().filter_map(Result::err).map(|error| format!("{error:#}")));
        for digest in blobs.keys() {
            entries.insert(oci_layout::blob_path(digest), *digest);
        }

        // apt: the pinned .deb files; the indexes are written from them afterwards.
        let debs: Vec<(&LockedApt, &LockedDeb)> = lock
            .apts
            .iter()
            .flat_map(|apt| apt.debs.iter().map(move |deb| (apt, deb)))
            .collect();
        let results: Vec<Result<()>> = futures_util::stream::iter(debs.iter())
            .map(|(apt, deb)| {
                let relative = apt_repository::deb_path(apt, &deb.filename);
                place(tree, downloader, tally, relative, deb.digest, move || {
                    crate::kinds::apt::fetch_deb(downloader, apt, deb)
                })
            })
            .buffer_unordered(settings.jobs)
            .collect()
            .await;
        failures.extend(results.into_iter().filter_map(Result::err).map(|error| format!("{error:#}")));
        for (apt, deb) in &debs {
            entries.insert(apt_repository::deb_path(apt, &deb.filename), deb.digest);
        }

        // Charts: the pinned archives; index.yaml is written from them afterwards.
        let results: Vec<Result<()>> = futures_util::stream::iter(lock.charts.iter())
            .map(|pin| {
                let relative = charts_repository::archive_path(pin);
                let images = &images;
                place(tree, downloader, tally, relative, pin.digest, move || async move {
                    match crate::kinds::chart::as_image(pin) {
                        Some(image) => {
                            let layer = Descriptor {
                                media_type: crate::kinds::chart::HELM_CHART_LAYER.to_string(),
                                digest: pin.digest,
                                size: pin.size,
                                platform: None,
                                annotations: Default::default(),
                                artifact_type: None,
                            };
                            images.fetch_blob(&image, &layer).await.map_err(|error| anyhow!("{error}"))
                        }
                        None => crate::kinds::chart::fetch(downloader, pin).await.map_err(|error| anyhow!("{error}")),
                    }
                })
            })
            .buffer_unordered(settings.jobs)
            .collect()
            .await;
        failures.extend(results.into_iter().filter_map(Result::err).map(|error| format!("{error:#}")));
        for pin in &lock.charts {
            entries.insert(charts_repository::archive_path(pin), pin.digest);
        }

        // yum: the pinned .rpm files; repodata is written from their headers afterwards.
        let rpms: Vec<(&LockedYum, &LockedRpm)> = lock
            .yums
            .iter()
            .flat_map(|yum| yum.rpms.iter().map(move |rpm| (yum, rpm)))
            .collect();
        let results: Vec<Result<()>> = futures_util::stream::iter(rpms.iter())
            .map(|(yum, rpm)| {
                let relative = yum_repository::rpm_path(yum, &rpm.location);
                place(tree, downloader, tally, relative, rpm.digest, move || {
                    crate::kinds::yum::fetch_rpm(downloader, yum, rpm)
                })
            })
            .buffer_unordered(settings.jobs)
            .collect()
            .await;
        failures.extend(results.into_iter().filter_map(Result::err).map(|error| format!("{error:#}")));
        for (yum, rpm) in &rpms {
            entries.insert(yum_repository::rpm_path(yum, &rpm.location), rpm.digest);
        }
        if !failures.is_empty() {
            return Err(anyhow!(
                "{} artifacts could not be materialized; nothing wrong was written, and a rerun resumes:\n\n{}",
                failures.len(),
                failures.join("\n\n")
            ));
        }
        Ok((entries, layout_entries(all_images)))
    })?;

    let mut entries = entries;
    if !all_images.is_empty() {
        for (relative, bytes) in [
            (
                format!("{}/oci-layout", oci_layout::ROOT),
                oci_layout::LAYOUT_FILE.to_string(),
            ),
            (
                format!("{}/index.json", oci_layout::ROOT),
                oci_layout::index_json(&layout),
            ),
        ] {
            tree.write_if_changed(&relative, bytes.as_bytes())?;
            entries.insert(relative, Digest::of_bytes(bytes.as_bytes()));
        }
    }
    for apt in &lock.apts {
        entries.extend(apt_repository::write(tree, apt, &signer)?);
    }
    for yum in &lock.yums {
        entries.extend(yum_repository::write(tree, yum, &signer)?);
        if let Some(gpgkey) = &yum.gpgkey {
            let path = settings.workspace.join(gpgkey);
            let key = std::fs::read(&path)
                .with_context(|| format!("cannot read the yum key {}", path.display()))?;
            let relative = yum_repository::upstream_key_path(yum);
            tree.write_if_changed(&relative, &key)?;
            entries.insert(relative, Digest::of_bytes(&key));
        }
    }
    if !lock.charts.is_empty() {
        let index = charts_repository::index_yaml(tree.root(), &lock.charts)
            .map_err(|message| anyhow!("charts: {message}"))?;
        tree.write_if_changed("charts/index.yaml", index.as_bytes())?;
        entries.insert(
            "charts/index.yaml".to_string(),
            Digest::of_bytes(index.as_bytes()),
        );
    }
    for pin in &lock.gits {
        let relative = crate::kinds::git::media_path(pin);
        let target = tree.root().join(&relative);
        if !crate::kinds::git::is_present(&target, pin) {
            crate::kinds::git::materialize(pin, &target, &settings.workspace)?;
            settings.printer.detail(format!(
                "git {}: {} at {}",
                pin.name, pin.reference, pin.commit
            ));
        }
        for entry in walkdir::WalkDir::new(&target)
            .follow_links(false)
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_file() {
                let path = entry.path().to_path_buf();
                let (digest, _) = Digest::of_file(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let relative = path
                    .strip_prefix(tree.root())
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                entries.insert(relative, digest);
            }
        }
    }
    let inputs = render_inputs(settings, &manifest)?;
    let templates = crate::render::Templates::new(args.templates.as_deref())?;
    entries.extend(write_rendered(
        settings, tree, &lock, &inputs, &signer, &templates,
    )?);
    let keep: BTreeSet<String> = entries.keys().cloned().collect();
    let mut removed = tree.prune("files", &keep)?;
    removed.extend(tree.prune(oci_layout::ROOT, &keep)?);
    removed.extend(tree.prune("apt", &keep)?);
    removed.extend(tree.prune("yum", &keep)?);
    removed.extend(tree.prune("charts", &keep)?);
    for root in crate::render::ROOTS {
        removed.extend(tree.prune(root, &keep)?);
    }
    // Repositories are directories with empty ones git needs (refs/tags): remove whole
    // repositories the lock dropped, never parts of one.
    let wanted: BTreeSet<String> = lock
        .gits
        .iter()
        .map(crate::kinds::git::media_path)
        .collect();
    if let Ok(entries) = std::fs::read_dir(tree.root().join("git")) {
        for entry in entries.flatten() {
            let relative = format!("git/{}", entry.file_name().to_string_lossy());
            if !wanted.contains(&relative) {
                let _ = std::fs::remove_dir_all(entry.path());
                removed.push(relative);
            }
        }
    }
    let mut keep_keys = keep.clone();
    keep_keys.insert(crate::media::tree::PUBLIC_KEY.to_string());
    removed.extend(tree.prune("keys", &keep_keys)?);
    for path in &removed {
        settings
            .printer
            .detail(format!("removed {path} (no longer in the lock)"));
    }
    let strangers = tree.finish(&lock.render(), entries, &signer)?;
    for path in strangers {
        settings.printer.warn(format!(
            "{path} in {} was not written by airgap and is not in SHA256SUMS; `airgap verify` will report it",
            args.to.display()
        ));
    }
    settings.printer.status(
        "Materialized",
        format!(
            "{} files, {} images, {} apt and {} yum packages into {} in {:.1}s: {} written, {} already present, {} removed, {} downloaded",
            lock.files.len(),
            lock.images.len(),
            lock.apts.iter().map(|apt| apt.debs.len()).sum::<usize>(),
            lock.yums.iter().map(|yum| yum.rpms.len()).sum::<usize>(),
            args.to.display(),
            started.elapsed().as_secs_f64(),
            tally.written.load(Ordering::Relaxed),
            tally.present.load(Ordering::Relaxed),
            removed.len(),
            human_bytes(tally.downloaded_bytes.load(Ordering::Relaxed)),
        ),
    );
    Ok(())
}

/// The render inputs of a materialize: `[enclave]` (URL, CA), `[kubespray]` hosts, `[dns]`.
fn render_inputs(
    settings: &Settings,
    manifest: &manifest::Manifest,
) -> Result<crate::render::Inputs> {
    let ca = match &manifest.enclave.ca {
        Some(path) => {
            let path = settings.workspace.join(path);
            Some(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read the enclave CA {}", path.display()))?,
            )
        }
        None => None,
    };
    Ok(crate::render::Inputs {
        url: manifest
            .enclave
            .url
            .clone()
            .unwrap_or_else(|| crate::render::DEFAULT_URL.to_string()),
        kubespray: crate::render::Kubespray {
            host: manifest.kubespray_hosts.clone(),
        },
        dns: crate::render::Dns {
            forward: manifest.dns_forwards.clone(),
        },
        registry: None,
        ca,
    })
}

/// Renders the configuration into the tree; returns the files written, with their digests.
pub fn write_rendered(
    settings: &Settings,
    tree: &Tree,
    lock: &crate::lock::Lockfile,
    inputs: &crate::render::Inputs,
    signer: &Signer,
    templates: &crate::render::Templates,
) -> Result<BTreeMap<String, Digest>> {
    let root = std::path::absolute(tree.root()).unwrap_or_else(|_| tree.root().to_path_buf());
    let rendered = crate::render::render(
        lock,
        inputs,
        &root,
        &signer.public_key_armored()?,
        templates,
    )?;
    for warning in &rendered.warnings {
        settings.printer.warn(warning);
    }
    let mut entries = BTreeMap::new();
    for (relative, text) in rendered.files {
        tree.write_if_changed(&relative, text.as_bytes())?;
        entries.insert(relative, Digest::of_bytes(text.as_bytes()));
    }
    Ok(entries)
}

/// The `index.json` entries of the lock's images and their tagged referrers.
fn layout_entries(images: &[LockedImage]) -> Vec<oci_layout::Entry> {
    let mut entries = Vec::new();
    for image in images {
        entries.push(oci_layout::Entry {
            name: Some(oci_layout::layout_name(&image.reference)),
            digest: image.digest,
            media_type: image.media_type.clone(),
            size: image.size,
        });
        for referrer in &image.referrer_manifests {
            entries.push(oci_layout::Entry {
                name: referrer
                    .tag
                    .as_ref()
                    .map(|tag| oci_layout::referrer_name(&image.reference, tag)),
                digest: referrer.digest,
                media_type: referrer.media_type.clone(),
                size: referrer.size,
            });
        }
    }
    entries
}

/// Gets one verified blob onto the media at `relative`: kept when already right, otherwise
/// fetched into the store (by `fetch`) and linked or copied from there.
async fn place<F, Fut, E>(
    tree: &Tree,
    downloader: &source::Downloader,
    tally: &Tally,
    relative: String,
    digest: Digest,
    fetch: F,
) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Fetched, E>>,
    E: Into<anyhow::Error>,
{
    let check = {
        let tree = tree.clone();
        let relative = relative.clone();
        tokio::task::spawn_blocking(move || tree.has(&relative, &digest))
    };
    if check.await.context("internal error: hashing task failed")? {
        tally.present.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    for _ in 0..2 {
        let fetched = fetch().await.map_err(Into::into)?;
        if fetched.fresh {
            tally
                .downloaded_bytes
                .fetch_add(fetched.size, Ordering::Relaxed);
        }
        let placement = {
            let tree = tree.clone();
            let store = downloader.store.clone();
            let relative = relative.clone();
            tokio::task::spawn_blocking(move || {
                tree.place(&store, &relative, &digest, fetched.fresh)
            })
            .await
            .context("internal error: copy task failed")??
        };
        match placement {
            Placement::Written | Placement::Present => {
                tally.written.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Placement::StoreDamaged => downloader.printer.warn(format!(
                "{relative}: the cached copy of {digest} was damaged; fetching it again"
            )),
        }
    }
    Err(anyhow!(
        "{relative}: the cache keeps returning damaged bytes for {digest}"
    ))
}
