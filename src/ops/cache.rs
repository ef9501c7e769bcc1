//! `airgap cache` and `airgap cache prune`: where the download cache is, what it holds, and
//! removing what no lock needs. The cache is content-addressed (`sha256/<hex>`), with
//! `partial/` downloads to resume and `tmp/` files being written; every blob is committed by
//! a rename, so pruning never leaves a half blob. What was added or used recently is kept,
//! since another airgap may be placing it right now; what it loses is fetched again.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use indicatif::HumanBytes;

use crate::cli::{CacheAction, CacheArgs, CachePruneArgs};
use crate::digest::Digest;
use crate::kinds;
use crate::settings::Settings;

/// Files and bytes of one part of the cache.
#[derive(Default, Clone, Copy)]
struct Usage {
    files: usize,
    bytes: u64,
}

impl Usage {
    fn describe(self, one: &str, many: &str) -> String {
        format!(
            "{} ({})",
            kinds::counted(self.files, one, many),
            HumanBytes(self.bytes)
        )
    }
}

/// Each regular file directly below `directory`, with its metadata.
fn files(directory: &Path) -> Vec<(std::path::PathBuf, std::fs::Metadata)> {
    std::fs::read_dir(directory)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let metadata = entry.metadata().ok()?;
            metadata.is_file().then(|| (entry.path(), metadata))
        })
        .collect()
}

fn usage(directory: &Path) -> Usage {
    files(directory)
        .iter()
        .fold(Usage::default(), |usage, (_, metadata)| Usage {
            files: usage.files + 1,
            bytes: usage.bytes + metadata.len(),
        })
}

pub fn run(settings: &Settings, args: &CacheArgs) -> Result<()> {
    let root = &settings.cache;
    match &args.action {
        None => {
            settings.printer.result(format!("{}", root.display()));
            settings.printer.result(format!(
                "  {}",
                usage(&root.join("sha256")).describe("blob", "blobs")
            ));
            settings.printer.result(format!(
                "  {}",
                usage(&root.join("partial")).describe("partial download", "partial downloads")
            ));
            settings.printer.result(format!(
                "  {}",
                usage(&root.join("tmp")).describe("temporary file", "temporary files")
            ));
            Ok(())
        }
        Some(CacheAction::Prune(prune)) => run_prune(settings, prune),
    }
}

/// Every blob a lock needs from the cache: what its pins place, and for images every manifest
/// and blob their manifests name (read from the cache when it has them).
fn needed(lock: &kinds::Lockfile, store: &crate::store::Store) -> BTreeSet<Digest> {
    let mut needed: BTreeSet<Digest> = kinds::pinned_paths(lock)
        .into_iter()
        .map(|(_, digest)| digest)
        .collect();
    let mut manifests: Vec<Digest> = kinds::layout_images(lock)
        .iter()
        .flat_map(crate::oci::pin::LockedImage::manifest_digests)
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(digest) = manifests.pop() {
        needed.insert(digest);
        if !seen.insert(digest) {
            continue;
        }
        let Ok(bytes) = crate::limits::read_bounded(
            &store.blob_path(&digest),
            crate::oci::manifest::MAX_MANIFEST_BYTES as u64,
        ) else {
            continue;
        };
        if let Ok(parsed) = crate::oci::manifest::parse(&bytes, None) {
            for child in &parsed.children {
                if !needed.contains(&child.digest) {
                    manifests.push(child.digest);
                }
            }
            needed.extend(parsed.blobs.iter().map(|blob| blob.digest));
        }
    }
    needed
}

fn run_prune(settings: &Settings, args: &CachePruneArgs) -> Result<()> {
    let store = crate::store::Store::open(&settings.cache)
        .with_context(|| format!("cannot open the cache at {}", settings.cache.display()))?;
    let workspaces = if args.keep_for.is_empty() {
        vec![settings.workspace.clone()]
    } else {
        args.keep_for.clone()
    };
    let mut keep = BTreeSet::new();
    let mut locks = 0;
    for workspace in &workspaces {
        let path = workspace.join("airgap.lock");
        match kinds::Lockfile::read(&path)? {
            Some(lock) => {
                keep.extend(needed(&lock, &store));
                locks += 1;
            }
            None if args.keep_for.is_empty() => {}
            None => anyhow::bail!(
                "{} has no airgap.lock; name workspaces whose locks keep their artifacts",
                workspace.display()
            ),
        }
    }
    let recent = SystemTime::now()
        .checked_sub(Duration::from_secs(args.keep_recent * 3600))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let used_recently = |metadata: &std::fs::Metadata| {
        let modified = metadata.modified().unwrap_or(SystemTime::now());
        let accessed = metadata.accessed().unwrap_or(modified);
        modified.max(accessed) >= recent
    };
    let mut removed = Usage::default();
    let mut kept = Usage::default();
    let remove = |path: &Path, metadata: &std::fs::Metadata, removed: &mut Usage| {
        if !args.dry_run {
            let _ = std::fs::remove_file(path);
        }
        settings
            .printer
            .detail(format!("removed {}", path.display()));
        removed.files += 1;
        removed.bytes += metadata.len();
    };
    for (path, metadata) in files(&store.root().join("sha256")) {
        let digest = path
            .file_name()
            .and_then(|name| Digest::parse(&format!("sha256:{}", name.to_string_lossy())).ok());
        let needed = digest.is_some_and(|digest| keep.contains(&digest));
        if needed || used_recently(&metadata) {
            kept.files += 1;
            kept.bytes += metadata.len();
        } else {
            remove(&path, &metadata, &mut removed);
        }
    }
    // Interrupted runs: an empty partial is worth nothing; any partial or temporary file an
    // hour old belongs to no running transfer.
    let stale = SystemTime::now()
        .checked_sub(Duration::from_secs(3600))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for directory in ["partial", "tmp"] {
        for (path, metadata) in files(&store.root().join(directory)) {
            let old = metadata.modified().unwrap_or(SystemTime::now()) < stale;
            if old || (directory == "partial" && metadata.len() == 0) {
                remove(&path, &metadata, &mut removed);
            }
        }
    }
    settings.printer.status(
        if args.dry_run {
            "Would remove"
        } else {
            "Removed"
        },
        format!(
            "{} from {}; kept {} ({} of {}, and what was used in the last {})",
            removed.describe("file", "files"),
            settings.cache.display(),
            kept.describe("blob", "blobs"),
            kinds::counted(locks, "lock", "locks"),
            kinds::counted(workspaces.len(), "workspace", "workspaces"),
            kinds::counted(args.keep_recent as usize, "hour", "hours"),
        ),
    );
    Ok(())
}
