//! `airgap lock`: bring airgap.lock in line with the manifests. Also the first step of
//! `materialize`. Orchestration only: staleness is `lock::plan`, resolution is `source`.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use futures_util::StreamExt;

use crate::cli::{LockArgs, LockMode};
use crate::lock::{self, Lockfile, Reason};
use crate::manifest::{self, Manifest};
use crate::settings::Settings;
use crate::source::{self, Downloader};

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
        && plan.resolve.is_empty()
        && plan.removed.is_empty()
        && old.manifest == manifest.inputs_digest
    {
        settings.printer.detail("airgap.lock is up to date");
        return Ok(old.clone());
    }

    if mode.locked {
        let mut changes: Vec<String> = plan
            .resolve
            .iter()
            .filter(|(_, reason)| *reason != Reason::Update)
            .map(|(artifact, reason)| format!("  file {}: {reason}", artifact.key))
            .collect();
        changes.extend(
            plan.removed
                .iter()
                .map(|file| format!("  file {}: no longer in the manifests", file.key())),
        );
        if old.is_none() {
            changes.insert(0, "  airgap.lock does not exist".to_string());
        } else if changes.is_empty() && plan.resolve.is_empty() {
            changes.push("  the manifests changed in a way that changes the lock".to_string());
        }
        if !changes.is_empty() {
            return Err(LockModeError::Locked {
                changes: changes.join("\n"),
            }
            .into());
        }
    }
    if mode.offline && !plan.resolve.is_empty() {
        let missing = plan
            .resolve
            .iter()
            .map(|(artifact, reason)| format!("  file {}: {reason}", artifact.key))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(LockModeError::Offline { missing }.into());
    }

    let mut files = plan.keep.clone();
    if !plan.resolve.is_empty() {
        let owned;
        let downloader = match shared {
            Some(downloader) => downloader,
            None => {
                owned = downloader(settings)?;
                &owned
            }
        };
        let runtime = runtime()?;
        let total = plan.resolve.len();
        let results: Vec<_> = runtime.block_on(async {
            futures_util::stream::iter(plan.resolve.iter())
                .map(|(artifact, reason)| async move {
                    downloader
                        .printer
                        .detail(format!("resolving file {} ({reason})", artifact.key));
                    source::files::resolve(downloader, artifact).await
                })
                .buffer_unordered(settings.jobs)
                .collect()
                .await
        });
        let mut failures = Vec::new();
        for result in results {
            match result {
                Ok(pinned) => files.push(pinned),
                Err(error) => failures.push(error.to_string()),
            }
        }
        if !failures.is_empty() {
            failures.sort();
            return Err(LockModeError::Failed {
                count: failures.len(),
                total,
                details: failures.join("\n\n"),
            }
            .into());
        }
    }

    if mode.locked {
        // Only `--update` entries were resolved: the lock must come out the same.
        let candidate = Lockfile {
            files: files.clone(),
            ..Lockfile::empty(manifest.inputs_digest)
        };
        if old.as_ref().map(Lockfile::render) != Some(candidate.render()) {
            return Err(LockModeError::Locked {
                changes: "  --update resolved different pins".to_string(),
            }
            .into());
        }
    }

    let new = Lockfile {
        files,
        ..Lockfile::empty(manifest.inputs_digest)
    };
    let written = new.write_if_changed(&path)?;
    let added = plan
        .resolve
        .iter()
        .filter(|(_, reason)| *reason == Reason::New)
        .count();
    let changed = plan.resolve.len() - added;
    if written {
        settings.printer.status(
            "Locked",
            format!(
                "{} files ({added} new, {changed} re-resolved, {} removed) in {}",
                new.files.len(),
                plan.removed.len(),
                path.display()
            ),
        );
    } else {
        settings.printer.status(
            "Locked",
            format!("{} files; airgap.lock unchanged", new.files.len()),
        );
    }
    Ok(new)
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
