//! The git kind in the list: `[[git]]` entries pinned to commits, bare repositories under
//! `git/<name>.git` on the media.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use futures_util::future::{BoxFuture, LocalBoxFuture};

use super::{GitArtifact, LockedGit, RawGit};
use super::{ROOT, is_present, materialize, media_path, resolve};
use crate::digest::Digest;
use toml::Spanned;

use crate::kinds::{Kind, Lockfile, Placed, Placer, Resolver, counted};
use crate::lock::Reason;
use crate::lock::diff::Pin;
use crate::manifest::loader::{Context as TableContext, Loader};
use crate::media::signing::Signer;
use crate::media::tree::Tree;

/// `[[git]]`.
pub struct Git;

impl Kind for Git {
    const NAME: &'static str = "git";
    const ROOTS: &'static [&'static str] = &[ROOT];
    const EXAMPLE: (&'static str, &'static str) = ("git", include_str!("example.toml"));
    type Raw = RawGit;
    type Entry = GitArtifact;
    type Pin = LockedGit;

    fn load(loader: &mut Loader, context: &TableContext, raw: Spanned<RawGit>) -> Vec<GitArtifact> {
        super::entry::load(loader, context, raw)
    }
    fn key(entry: &GitArtifact) -> String {
        entry.name.clone()
    }
    fn changed(artifact: &GitArtifact, pinned: &LockedGit) -> Option<&'static str> {
        if artifact.url != pinned.url {
            Some("url")
        } else if artifact.reference != pinned.reference {
            Some("ref")
        } else {
            None
        }
    }
    fn count(lock: &Lockfile) -> String {
        counted(lock.gits.len(), "git repository", "git repositories")
    }

    fn resolve<'a>(
        context: &'a Resolver<'a>,
        entries: Vec<(GitArtifact, Reason)>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>> {
        // `git ls-remote` is a blocking process: one at a time, off the async workers.
        Box::pin(async move {
            let mut failures = Vec::new();
            for (artifact, reason) in entries {
                context
                    .printer
                    .detail(format!("resolving git {} ({reason})", artifact.name));
                let workspace = context.downloader.workspace.clone();
                let pace = context.downloader.pace;
                let outcome =
                    tokio::task::spawn_blocking(move || resolve(&artifact, &workspace, pace)).await;
                match outcome {
                    Ok(Ok(pin)) => into.gits.push(pin),
                    Ok(Err(error)) => failures.push(crate::hint::explain(&error)),
                    Err(error) => {
                        failures.push(format!("internal error: git task failed: {error}"))
                    }
                }
            }
            failures
        })
    }

    /// Git objects are not blobs of the store: the repositories are written with the metadata.
    fn pinned_paths(_lock: &Lockfile) -> Vec<(String, Digest)> {
        Vec::new()
    }

    /// A repository is pinned by its commit (git's own object ids), not by a sha256.
    fn components(lock: &Lockfile) -> Vec<crate::sbom::Component> {
        lock.gits
            .iter()
            .map(|git| crate::sbom::Component {
                kind: "application",
                airgap_kind: "git",
                name: git.name.clone(),
                version: Some(git.commit.clone()),
                purl: crate::sbom::purl(
                    "generic",
                    None,
                    &git.name,
                    Some(&git.commit),
                    &[("vcs_url", &format!("git+{}@{}", git.url, git.commit))],
                ),
                sha256: None,
                source: Some(git.url.clone()),
                media_path: Some(media_path(git)),
                ..Default::default()
            })
            .collect()
    }

    fn place<'a>(_context: &'a Placer<'a>, _lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed> {
        Box::pin(async { Placed::default() })
    }

    /// Each pinned repository as a bare repository at its commit, every file listed.
    fn write_metadata(
        context: &Placer<'_>,
        lock: &Lockfile,
        _signer: &Signer,
    ) -> anyhow::Result<BTreeMap<String, Digest>> {
        let tree = context.tree;
        let mut entries = BTreeMap::new();
        for pin in &lock.gits {
            let relative = media_path(pin);
            let target = tree.root().join(&relative);
            if !is_present(&target, pin) {
                materialize(pin, &target, context.workspace, context.downloader.pace)?;
                context.printer.detail(format!(
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
        Ok(entries)
    }

    /// Repositories are directories with empty ones git needs (refs/tags): whole
    /// repositories the lock dropped are removed, never parts of one.
    fn prune(
        tree: &Tree,
        lock: &Lockfile,
        _keep: &BTreeSet<String>,
    ) -> anyhow::Result<Vec<String>> {
        let wanted: BTreeSet<String> = lock.gits.iter().map(media_path).collect();
        let mut removed = Vec::new();
        if let Ok(entries) = std::fs::read_dir(tree.root().join(ROOT)) {
            for entry in entries.flatten() {
                let relative = format!("{ROOT}/{}", entry.file_name().to_string_lossy());
                if !wanted.contains(&relative) {
                    let _ = std::fs::remove_dir_all(entry.path());
                    removed.push(relative);
                }
            }
        }
        Ok(removed)
    }
}

impl Pin for LockedGit {
    const KIND: &'static str = "git";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("url", self.url.clone()),
            ("ref", self.reference.clone()),
            ("commit", self.commit.clone()),
        ]
    }
    fn summary(&self) -> String {
        format!("{} {} at {}", self.url, self.reference, self.commit)
    }
}
