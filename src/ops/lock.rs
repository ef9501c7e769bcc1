//! Bringing airgap.lock in line with the manifests: `airgap lock`, and the first step of
//! `materialize`. Each kind plans itself against the old lock (`kinds::AnyKind::plan`); what
//! must be resolved is resolved by every kind at once, into one new lock that replaces the old
//! one only when every entry resolved.

use std::collections::BTreeSet;

use anyhow::Result;

use crate::cli::LockMode;
use crate::kinds::Lockfile;
use crate::kinds::Manifest;
use crate::kinds::{self, AnyPlan, Resolver};
use crate::lock::Reason;
use crate::oci::pull::Images;
use crate::settings::Settings;
use crate::source::Downloader;

/// Why the lock cannot be brought up to date under the given mode.
#[derive(Debug, thiserror::Error)]
pub enum LockModeError {
    #[error("airgap.lock needs to change, but --locked forbids it:\n{changes}")]
    Locked { changes: String },
    #[error(
        "airgap.lock does not pin everything the manifests name, and --offline forbids the network:\n{missing}"
    )]
    Offline { missing: String },
    #[error("--update names `{name}`, which no manifest entry has")]
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
        let known: BTreeSet<String> = kinds::ALL
            .iter()
            .flat_map(|kind| kind.update_names(manifest))
            .collect();
        for name in names {
            if !known.contains(name.as_str()) {
                return Err(LockModeError::UnknownName {
                    name: name.clone(),
                    known: known.iter().cloned().collect::<Vec<_>>().join(", "),
                }
                .into());
            }
        }
    }
    let plans: Vec<Box<dyn AnyPlan>> = kinds::ALL
        .iter()
        .map(|kind| kind.plan(manifest, old.as_ref(), update))
        .collect();
    let pending: Vec<String> = plans.iter().flat_map(|plan| plan.pending()).collect();
    let dropped: Vec<String> = plans.iter().flat_map(|plan| plan.dropped()).collect();
    if let Some(old) = &old
        && pending.is_empty()
        && dropped.is_empty()
        && old.manifest == manifest.inputs_digest
    {
        settings.printer.status(
            "Locked",
            format!("{}; airgap.lock is up to date", kinds::summary(old)),
        );
        return Ok(old.clone());
    }
    let indent = |lines: &[String]| {
        lines
            .iter()
            .map(|line| format!("  {line}"))
            .collect::<Vec<_>>()
    };

    if mode.locked {
        let forced = update.is_some();
        let mut changes = if forced { Vec::new() } else { indent(&pending) };
        changes.extend(indent(&dropped));
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
    if mode.offline && !pending.is_empty() {
        return Err(LockModeError::Offline {
            missing: indent(&pending).join("\n"),
        }
        .into());
    }

    let mut new = resolve(
        settings,
        manifest,
        plans,
        old.as_ref(),
        shared,
        pending.len(),
    )?;
    crate::ops::policy::enforce(settings, manifest, &mut new, mode.offline, shared)?;
    finish(
        settings,
        &path,
        old.as_ref(),
        new,
        mode,
        &pending,
        dropped.len(),
    )
}

/// Runs every kind's plan: kept pins are kept, and what must be resolved is resolved by every
/// kind at once, each into its own part of the new lock. The network (a downloader) is set up
/// only when something must be resolved.
fn resolve(
    settings: &Settings,
    manifest: &Manifest,
    plans: Vec<Box<dyn AnyPlan>>,
    old: Option<&Lockfile>,
    shared: Option<&Downloader>,
    pending: usize,
) -> Result<Lockfile> {
    let owned;
    let downloader = match shared {
        Some(downloader) => Some(downloader),
        None if plans.iter().any(|plan| plan.has_work()) => {
            owned = crate::ops::downloader(settings)?;
            Some(&owned)
        }
        None => None,
    };
    let registry =
        downloader.map(|downloader| crate::ops::registry(settings, downloader.client.clone()));
    let images = downloader
        .zip(registry.as_ref())
        .map(|(downloader, registry)| Images {
            registry,
            downloader,
        });
    let context = downloader
        .zip(images.as_ref())
        .map(|(downloader, images)| Resolver {
            downloader,
            images,
            manifest,
            printer: &settings.printer,
            jobs: settings.jobs,
        });
    let mut parts: Vec<Lockfile> = plans
        .iter()
        .map(|_| Lockfile::empty(manifest.inputs_digest))
        .collect();
    let runtime = crate::ops::runtime()?;
    let mut failures: Vec<String> = runtime.block_on(async {
        let runs = plans
            .into_iter()
            .zip(parts.iter_mut())
            .map(|(plan, part)| plan.run(context.as_ref(), old, part));
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect()
    });
    if !failures.is_empty() {
        failures.sort();
        return Err(LockModeError::Failed {
            count: failures.len(),
            total: pending,
            details: failures.join("\n\n"),
        }
        .into());
    }
    let mut new = Lockfile::empty(manifest.inputs_digest);
    for mut part in parts {
        for kind in kinds::ALL {
            kind.absorb(&mut new, &mut part);
        }
    }
    Ok(new)
}

/// Normalizes the new lock, refuses a change `--locked` forbids, writes it when it changed,
/// and says what happened.
fn finish(
    settings: &Settings,
    path: &std::path::Path,
    old: Option<&Lockfile>,
    mut new: Lockfile,
    mode: &LockMode,
    pending: &[String],
    removed: usize,
) -> Result<Lockfile> {
    for kind in kinds::ALL {
        kind.normalize(&mut new);
    }
    if mode.locked && old.map(Lockfile::render) != Some(new.render()) {
        // Only `--update` entries were resolved: the lock must come out the same.
        return Err(LockModeError::Locked {
            changes: "  --update resolved different pins".to_string(),
        }
        .into());
    }
    let written = new.write_if_changed(path)?;
    let added = pending
        .iter()
        .filter(|line| line.ends_with(&Reason::New.to_string()))
        .count();
    let changed = pending.len() - added;
    let summary = kinds::summary(&new);
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

/// `airgap lock`.
pub fn run(settings: &Settings, mode: &LockMode, update: Option<&[String]>) -> Result<()> {
    let manifest = crate::kinds::load(&settings.workspace)?;
    ensure(settings, &manifest, mode, update, None)?;
    Ok(())
}

impl crate::hint::Hint for LockModeError {
    fn hint(&self) -> Option<String> {
        match self {
            LockModeError::Locked { .. } => {
                Some("run `airgap lock` and commit the new airgap.lock".to_string())
            }
            LockModeError::Offline { .. } => Some(
                "run `airgap lock` on a connected machine and bring the lock along".to_string(),
            ),
            LockModeError::UnknownName { known, .. } => Some(format!("entries are: {known}")),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
