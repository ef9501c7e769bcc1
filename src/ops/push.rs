//! `airgap push DIR --registry HOST[/PREFIX]`: every image and OCI chart of a media tree into
//! an existing registry, digests preserved.

use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Result, anyhow};

use crate::cli::{LayoutArg, PushArgs};
use crate::http::HttpSettings;
use crate::oci::pin::LockedImage;
use crate::oci::push::{Plan, Pusher};
use crate::oci::target::{Layout, Target};
use crate::settings::Settings;
use indicatif::HumanBytes;

impl From<LayoutArg> for Layout {
    fn from(layout: LayoutArg) -> Layout {
        match layout {
            LayoutArg::Nested => Layout::Nested,
            LayoutArg::Flat => Layout::Flat,
        }
    }
}

pub fn run(settings: &Settings, args: &PushArgs) -> Result<()> {
    let started = Instant::now();
    let target = Target::parse(&args.registry, args.layout.into())
        .map_err(|message| anyhow!("--registry {message}"))?;
    let (_, lock) = crate::ops::render::tree_lock(&args.dir)?;
    let images: Vec<LockedImage> = crate::kinds::layout_images(&lock);
    let plan = Plan::new(&args.dir, &images, &target)?;
    let http = HttpSettings {
        ca_bundle: args.ca.clone().or_else(|| settings.http.ca_bundle.clone()),
    };
    let client = crate::http::client(&http)?;
    let registry = crate::ops::registry(settings, client.clone());
    let pusher = Pusher {
        registry: &registry,
        client,
        target: &target,
        jobs: settings.jobs,
        dry_run: args.dry_run,
        chunk_size: args.chunk_size.map(|mib| mib.max(1) << 20),
        tally: Default::default(),
        retry: settings.retry,
    };
    let runtime = crate::ops::runtime()?;
    runtime.block_on(async {
        pusher.check_access(&plan).await?;
        pusher.push(&plan).await
    })?;
    let tally = &pusher.tally;
    let load = |counter: &std::sync::atomic::AtomicUsize| counter.load(Ordering::Relaxed);
    if args.dry_run {
        for image in &plan.images {
            settings
                .printer
                .result(format!("{} -> {}", image.source, image.target));
        }
        settings.printer.status(
            "Would push",
            format!(
                "{} images to {}: {} blobs ({}) to send, {} blobs ({}) and {} manifests already there, {} manifests to put",
                plan.images.len(),
                target.name(),
                load(&tally.blobs_sent),
                HumanBytes(tally.bytes_sent.load(Ordering::Relaxed)),
                load(&tally.blobs_present),
                HumanBytes(tally.bytes_present.load(Ordering::Relaxed)),
                load(&tally.manifests_present),
                load(&tally.manifests_sent),
            ),
        );
        return Ok(());
    }
    settings.printer.status(
        "Pushed",
        format!(
            "{} to {} in {:.1}s: {} sent ({}), {} mounted, {} already there; {} put, {} already there",
            crate::kinds::counted(plan.images.len(), "image", "images"),
            target.name(),
            started.elapsed().as_secs_f64(),
            crate::kinds::counted(load(&tally.blobs_sent), "blob", "blobs"),
            HumanBytes(tally.bytes_sent.load(Ordering::Relaxed)),
            load(&tally.blobs_mounted),
            load(&tally.blobs_present),
            crate::kinds::counted(load(&tally.manifests_sent), "manifest", "manifests"),
            load(&tally.manifests_present),
        ),
    );
    Ok(())
}
