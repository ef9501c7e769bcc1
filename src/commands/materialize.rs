//! `airgap materialize --to DIR`: lock if needed, fetch what the lock pins into the cache,
//! place it on the media, prune what the lock no longer pins, then write the lock copy, the
//! public key, `SHA256SUMS` and its signature.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use futures_util::StreamExt;

use crate::cli::MaterializeArgs;
use crate::commands::lock;
use crate::lock::LockedFile;
use crate::manifest;
use crate::media::signing::Signer;
use crate::media::tree::{Placement, Tree};
use crate::printer::human_bytes;
use crate::settings::Settings;
use crate::source::{self, Downloader};

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
    let tally = Arc::new(Tally::default());
    let runtime = lock::runtime()?;
    let failures: Vec<String> = runtime.block_on(async {
        futures_util::stream::iter(lock.files.iter())
            .map(|file| {
                let downloader = &downloader;
                let tree = tree.clone();
                let tally = tally.clone();
                async move { place(downloader, &tree, file, &tally).await }
            })
            .buffer_unordered(settings.jobs)
            .filter_map(|result| async move { result.err().map(|error| format!("{error:#}")) })
            .collect()
            .await
    });
    if !failures.is_empty() {
        return Err(anyhow!(
            "{} of {} files could not be materialized; nothing wrong was written, and a rerun resumes:\n\n{}",
            failures.len(),
            lock.files.len(),
            failures.join("\n\n")
        ));
    }

    let keep: BTreeSet<String> = lock
        .files
        .iter()
        .map(|file| format!("files/{}", file.path))
        .collect();
    let removed = tree.prune("files", &keep)?;
    for path in &removed {
        settings
            .printer
            .detail(format!("removed {path} (no longer in the lock)"));
    }
    let entries: BTreeMap<String, crate::digest::Digest> = lock
        .files
        .iter()
        .map(|file| (format!("files/{}", file.path), file.digest))
        .collect();
    let strangers = tree.finish(&lock.render(), entries, &signer)?;
    for path in strangers {
        settings.printer.warn(format!(
            "{path} in {} was not written by airgap and is not in SHA256SUMS; `airgap verify` will report it",
            args.to.display()
        ));
    }
    let total: u64 = lock.files.iter().map(|file| file.size).sum();
    settings.printer.status(
        "Materialized",
        format!(
            "{} files ({}) into {} in {:.1}s: {} written, {} already present, {} removed, {} downloaded",
            lock.files.len(),
            human_bytes(total),
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

/// Gets one pinned file onto the media.
async fn place(
    downloader: &Downloader,
    tree: &Tree,
    file: &LockedFile,
    tally: &Tally,
) -> Result<()> {
    let relative = format!("files/{}", file.path);
    let digest = file.digest;
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
        let fetched = source::files::fetch(downloader, file).await?;
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
                "file {}: the cached copy of {digest} was damaged; fetching it again",
                file.key()
            )),
        }
    }
    Err(anyhow!(
        "file {}: the cache keeps returning damaged bytes for {digest}",
        file.key()
    ))
}
