//! The artifact kinds, each in its own folder, and the one list of them ([`ALL`]).
//!
//! A kind is a vertical slice: its manifest entry, its pin, resolution (lock), fetching and
//! placement on the media (materialize), its media metadata (Packages/Release, repodata,
//! index.yaml), and what `verify` checks of it. It says so by implementing [`Kind`]; the
//! stages that concern every kind (`lock::plan`, the lockfile's tables, `diff`, `ops::lock`,
//! `ops::materialize`'s fetch, metadata and prune steps, `ops::verify`, the served and nginx
//! prefixes, `init`'s examples) iterate over [`ALL`] instead of naming kinds.
//!
//! Adding a kind: a folder here (its raw table and entry in `entry.rs`, its pin in `pin.rs`,
//! resolution, fetch and metadata, `example.toml`, and a type implementing [`Kind`]) and one
//! line in the `kinds!` list below, which writes [`ALL`], the lockfile ([`Lockfile`]), a
//! manifest file's tables ([`RawManifest`]) and the merged [`Manifest`] from it.
//!
//! Kinds never import each other. What two kinds share lives below them: the OCI client
//! (`oci`, images and OCI charts), the downloader (`source`), the store and the media tree.
//! Depends on `manifest`, `lock`, `source`, `store`, `oci`, `media` and the leaves; never on
//! `render`, `serve`, `ops` or `commands`.

pub mod apt;
pub mod chart;
pub mod file;
pub mod git;
pub mod image;
pub mod pypi;
mod tables;
pub mod yum;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::Path;

use futures_util::StreamExt;
use futures_util::future::{BoxFuture, LocalBoxFuture};

use crate::digest::Digest;
use crate::lock::Reason;
use crate::lock::diff::{self, Change, Pin};
use crate::media::place::Tally;
use crate::media::signing::Signer;
use crate::media::tree::{KEYS, Tree};
use crate::oci::pin::LockedImage;
use crate::oci::pull::Images;
use crate::printer::Printer;
use crate::source::{Downloader, Fetched};

tables::kinds! {
    "file" files: file::Files,
    "image" images: image::Images,
    "apt" apts: apt::Apt,
    "yum" yums: yum::Yum,
    "git" gits: git::Git,
    "chart" charts: chart::Charts,
    "pypi" pypis: pypi::Pypi,
}

/// Where a kind's entries and pins are in the manifest and the lock: written by `kinds!`.
pub trait Field: Kind {
    fn entries(manifest: &Manifest) -> &[Self::Entry];
    fn pins(lock: &Lockfile) -> &[Self::Pin];
    fn pins_mut(lock: &mut Lockfile) -> &mut Vec<Self::Pin>;
}

/// One kind of artifact, as every stage sees it.
pub trait Kind: 'static {
    /// The manifest and lock table (`[[file]]`) and the word in messages.
    const NAME: &'static str;
    /// Top-level folders of the media tree holding this kind's artifacts as plain files:
    /// served by `airgap serve` and nginx, pruned by materialize.
    const ROOTS: &'static [&'static str];
    /// Entries resolve together (one dependency closure over all of them): when any changes
    /// or leaves, all are resolved again.
    const TOGETHER: bool = false;
    /// The manifest table as written, with spans.
    type Raw: serde::de::DeserializeOwned;
    /// The manifest entry, validated.
    type Entry: Clone + std::fmt::Debug + serde::Serialize + Send + Sync + 'static;
    /// The lock entry.
    type Pin: Pin
        + Clone
        + std::fmt::Debug
        + PartialEq
        + Eq
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static;

    /// Validates one table entry (reporting every problem to `loader`) into entries.
    fn load(
        loader: &mut crate::manifest::loader::Loader,
        context: &crate::manifest::loader::Context,
        raw: toml::Spanned<Self::Raw>,
    ) -> Vec<Self::Entry>;
    /// The key an entry shares with its pin ([`Pin::key`]).
    fn key(entry: &Self::Entry) -> String;
    /// The name `--update` selects an entry by.
    fn update_name(entry: &Self::Entry) -> String {
        Self::key(entry)
    }
    /// The first manifest field whose value no longer matches the pin, if any.
    fn changed(entry: &Self::Entry, pin: &Self::Pin) -> Option<&'static str>;
    /// Whether this kind plans the pin itself; pins another entry brought (a chart's images
    /// and dependencies) are kept or re-derived with their owner.
    fn is_own(_pin: &Self::Pin) -> bool {
        true
    }
    /// `3 files`, for summaries.
    fn count(lock: &Lockfile) -> String;
    /// Puts what a pin holds into its canonical order (an apt closure's packages).
    fn sort_within(_pin: &mut Self::Pin) {}

    /// Resolves entries into pins, added to `into` (a kind may add pins of the kinds it
    /// derives, as a chart adds the images it declares). Failures are returned, one message
    /// each.
    fn resolve<'a>(
        context: &'a Resolver<'a>,
        entries: Vec<(Self::Entry, Reason)>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>>;
    /// What kept pins bring along from the old lock (a chart's dependencies and images).
    fn keep_derived(_old: &Lockfile, _kept: &[Self::Pin], _into: &mut Lockfile) {}

    /// Images this kind puts into the media's OCI layout.
    fn layout_images(_lock: &Lockfile) -> Vec<LockedImage> {
        Vec::new()
    }
    /// The verified files this kind pins, at their media paths: what materialize places and
    /// what `verify` checks `SHA256SUMS` against. Layout blobs are the layout's.
    fn pinned_paths(lock: &Lockfile) -> Vec<(String, Digest)>;
    /// This kind's pins as SBOM components: each with its digest, purl and source.
    fn components(lock: &Lockfile) -> Vec<crate::sbom::Component>;
    /// Fetches and places this kind's pinned files on the media.
    fn place<'a>(context: &'a Placer<'a>, lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed>;
    /// Writes the metadata made from what was placed (indexes, signed releases, repositories).
    fn write_metadata(
        _context: &Placer<'_>,
        _lock: &Lockfile,
        _signer: &Signer,
    ) -> anyhow::Result<BTreeMap<String, Digest>> {
        Ok(BTreeMap::new())
    }
    /// Removes what the lock no longer pins below [`Kind::ROOTS`]; returns what went.
    fn prune(
        tree: &Tree,
        _lock: &Lockfile,
        keep: &std::collections::BTreeSet<String>,
    ) -> anyhow::Result<Vec<String>> {
        let mut removed = Vec::new();
        for root in Self::ROOTS {
            removed.extend(tree.prune(root, keep)?);
        }
        Ok(removed)
    }
    /// Client configuration this kind renders for the nodes reaching the media at `url`
    /// (path below the tree, text): pip's `pip.conf` for Python packages.
    fn client_files(_lock: &Lockfile, _url: &str) -> Vec<(String, String)> {
        Vec::new()
    }
    /// A commented example for `airgap init`: the file's name (`10-<name>.toml`) and text.
    const EXAMPLE: (&'static str, &'static str);
}

/// What resolution shares: the transfers and the manifests being locked.
pub struct Resolver<'a> {
    pub downloader: &'a Downloader,
    pub images: &'a Images<'a>,
    pub manifest: &'a Manifest,
    pub printer: &'a Printer,
    pub jobs: usize,
}

impl Resolver<'_> {
    /// Resolves entries one by one, `jobs` at a time, into `pins`; returns the failures, each
    /// led by the manifest entry's place (`manifests/images.toml:3`).
    pub async fn each<Entry, Pin, Error, Future>(
        &self,
        kind: &str,
        entries: Vec<(Entry, Reason)>,
        name: impl Fn(&Entry) -> String,
        origin: impl Fn(&Entry) -> &crate::manifest::Origin,
        resolve: impl Fn(Entry) -> Future,
        pins: &mut Vec<Pin>,
    ) -> Vec<String>
    where
        Future: std::future::Future<Output = Result<Pin, Error>>,
        Error: std::fmt::Display + crate::hint::Hint,
    {
        let results: Vec<(String, Result<Pin, Error>)> = futures_util::stream::iter(entries)
            .map(|(entry, reason)| {
                self.printer
                    .detail(format!("resolving {kind} {} ({reason})", name(&entry)));
                let place = origin(&entry).to_string();
                let resolved = resolve(entry);
                async move { (place, resolved.await) }
            })
            .buffer_unordered(self.jobs)
            .collect()
            .await;
        let mut failures = Vec::new();
        for (place, result) in results {
            match result {
                Ok(pin) => pins.push(pin),
                Err(error) => failures.push(format!("{place}: {}", crate::hint::explain(&error))),
            }
        }
        failures
    }
}

impl Resolver<'_> {
    /// Resolves the entries of a kind whose entries resolve together ([`Kind::TOGETHER`]) in
    /// one call, into `pins`; returns the failure, if any.
    pub async fn together<Entry, Pin, Error, Future>(
        &self,
        entries: Vec<(Entry, Reason)>,
        resolve: impl FnOnce(Vec<Entry>) -> Future,
        pins: &mut Vec<Pin>,
    ) -> Vec<String>
    where
        Future: std::future::Future<Output = Result<Vec<Pin>, Error>>,
        Error: std::fmt::Display + crate::hint::Hint,
    {
        let entries = entries.into_iter().map(|(entry, _)| entry).collect();
        match resolve(entries).await {
            Ok(resolved) => {
                pins.extend(resolved);
                Vec::new()
            }
            Err(error) => vec![crate::hint::explain(&error)],
        }
    }
}

/// What placing shares: the tree, the transfers, the tally, the workspace.
pub struct Placer<'a> {
    pub tree: &'a Tree,
    pub downloader: &'a Downloader,
    pub images: &'a Images<'a>,
    pub tally: &'a Tally,
    pub jobs: usize,
    pub workspace: &'a Path,
    pub printer: &'a Printer,
}

/// What a placement step did: the media files it vouches for, and what failed.
#[derive(Default)]
pub struct Placed {
    pub entries: BTreeMap<String, Digest>,
    pub failures: Vec<String>,
}

impl Placer<'_> {
    /// Places every item (a pin, or a pin and its repository) at its media path, `jobs` at
    /// a time; `fetch` brings an item's bytes into the store when the tree lacks them.
    pub async fn place_all<Item, Fetch, Future, Error>(
        &self,
        items: Vec<Item>,
        target: impl Fn(Item) -> (String, Digest),
        fetch: Fetch,
    ) -> Placed
    where
        Item: Copy,
        Fetch: Fn(Item) -> Future,
        Future: std::future::Future<Output = Result<Fetched, Error>>,
        Error: std::fmt::Display + crate::hint::Hint,
    {
        let mut placed = Placed::default();
        let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(items.iter().copied())
            .map(|item| {
                let (relative, digest) = target(item);
                let fetch = &fetch;
                crate::media::place::place(
                    self.tree,
                    &self.downloader.store,
                    self.printer,
                    self.tally,
                    relative,
                    digest,
                    move || fetch(item),
                )
            })
            .buffer_unordered(self.jobs)
            .collect()
            .await;
        placed.failures.extend(
            results
                .into_iter()
                .filter_map(Result::err)
                .map(|error| format!("{error:#}")),
        );
        for item in items {
            let (relative, digest) = target(item);
            placed.entries.insert(relative, digest);
        }
        placed
    }
}

/// A kind seen without its types: what the stages iterate over.
pub trait AnyKind: Sync {
    fn name(&self) -> &'static str;
    fn roots(&self) -> &'static [&'static str];
    fn example(&self) -> (&'static str, &'static str);
    /// The names `--update` accepts.
    fn update_names(&self, manifest: &Manifest) -> Vec<String>;
    /// Which pins of `old` still match the manifests, and what must be resolved.
    fn plan(
        &self,
        manifest: &Manifest,
        old: Option<&Lockfile>,
        update: Option<&[String]>,
    ) -> Box<dyn AnyPlan>;
    fn diff(&self, old: &Lockfile, new: &Lockfile) -> Vec<Change>;
    fn count(&self, lock: &Lockfile) -> String;
    /// Whether the lock pins anything of this kind.
    fn has_pins(&self, lock: &Lockfile) -> bool;
    fn layout_images(&self, lock: &Lockfile) -> Vec<LockedImage>;
    fn pinned_paths(&self, lock: &Lockfile) -> Vec<(String, Digest)>;
    fn components(&self, lock: &Lockfile) -> Vec<crate::sbom::Component>;
    fn place<'a>(&self, context: &'a Placer<'a>, lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed>;
    fn write_metadata(
        &self,
        context: &Placer<'_>,
        lock: &Lockfile,
        signer: &Signer,
    ) -> anyhow::Result<BTreeMap<String, Digest>>;
    fn prune(
        &self,
        tree: &Tree,
        lock: &Lockfile,
        keep: &std::collections::BTreeSet<String>,
    ) -> anyhow::Result<Vec<String>>;
    fn client_files(&self, lock: &Lockfile, url: &str) -> Vec<(String, String)>;
    /// Sorts the kind's pins (by key) into the lock's canonical order.
    fn sort(&self, lock: &mut Lockfile);
    /// Sorts the kind's pins and drops repeated keys.
    fn normalize(&self, lock: &mut Lockfile);
    /// Moves the kind's pins from `part` into `into`.
    fn absorb(&self, into: &mut Lockfile, part: &mut Lockfile);
}

/// One kind's plan, seen without its types.
pub trait AnyPlan: Send {
    /// One line per entry to resolve: `file kubeadm (amd64): its `url` changed`.
    fn pending(&self) -> Vec<String>;
    /// One line per pin whose entry left the manifests.
    fn dropped(&self) -> Vec<String>;
    /// Whether anything must be resolved.
    fn has_work(&self) -> bool;
    /// The keys of the entries that will be resolved.
    fn resolving(&self) -> Vec<String>;
    /// Kept pins (and what they bring from `old`) and resolved ones, into `into`.
    /// `context` is needed only when [`AnyPlan::has_work`].
    fn run<'a>(
        self: Box<Self>,
        context: Option<&'a Resolver<'a>>,
        old: Option<&'a Lockfile>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>>;
}

struct Registered<K>(PhantomData<fn() -> K>);

struct Planned<K: Kind> {
    /// Pins kept as they are (none when a together-kind resolves again).
    keep: Vec<K::Pin>,
    /// Entries named by the plan: new, changed, or named by `--update`.
    asked: Vec<(K::Entry, Reason)>,
    /// What is resolved: `asked`, or every entry of a together-kind with a change.
    resolve: Vec<(K::Entry, Reason)>,
    removed: Vec<K::Pin>,
}

impl<K: Field> AnyPlan for Planned<K> {
    fn pending(&self) -> Vec<String> {
        self.asked
            .iter()
            .map(|(entry, reason)| format!("{} {}: {reason}", K::NAME, K::key(entry)))
            .collect()
    }

    fn dropped(&self) -> Vec<String> {
        self.removed
            .iter()
            .map(|pin| format!("{} {}: no longer in the manifests", K::NAME, pin.key()))
            .collect()
    }

    fn has_work(&self) -> bool {
        !self.resolve.is_empty()
    }

    fn resolving(&self) -> Vec<String> {
        self.resolve
            .iter()
            .map(|(entry, _)| K::key(entry))
            .collect()
    }

    fn run<'a>(
        self: Box<Self>,
        context: Option<&'a Resolver<'a>>,
        old: Option<&'a Lockfile>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let Planned { keep, resolve, .. } = *self;
            if let Some(old) = old {
                K::keep_derived(old, &keep, into);
            }
            K::pins_mut(into).extend(keep);
            let entries = resolve;
            match context {
                Some(context) if !entries.is_empty() => K::resolve(context, entries, into).await,
                _ => Vec::new(),
            }
        })
    }
}

impl<K: Field> AnyKind for Registered<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn roots(&self) -> &'static [&'static str] {
        K::ROOTS
    }

    fn example(&self) -> (&'static str, &'static str) {
        K::EXAMPLE
    }

    fn update_names(&self, manifest: &Manifest) -> Vec<String> {
        K::entries(manifest).iter().map(K::update_name).collect()
    }

    fn plan(
        &self,
        manifest: &Manifest,
        old: Option<&Lockfile>,
        update: Option<&[String]>,
    ) -> Box<dyn AnyPlan> {
        let own: Vec<K::Pin> = old
            .map(|lock| {
                K::pins(lock)
                    .iter()
                    .filter(|pin| K::is_own(pin))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let plan = crate::lock::plan_kind(
            K::entries(manifest),
            &own,
            K::key,
            |pin: &K::Pin| pin.key(),
            |entry| {
                update.is_some_and(|names| {
                    names.is_empty() || names.iter().any(|name| *name == K::update_name(entry))
                })
            },
            K::changed,
        );
        // A kind resolved together (one closure) resolves all its entries again when any
        // changed or left, and keeps none of its pins.
        let together = K::TOGETHER && (!plan.resolve.is_empty() || !plan.removed.is_empty());
        let (keep, resolve) = if together {
            let all = K::entries(manifest)
                .iter()
                .map(|entry| {
                    let reason = plan
                        .resolve
                        .iter()
                        .find(|(asked, _)| K::key(asked) == K::key(entry))
                        .map_or(Reason::Together, |(_, reason)| reason.clone());
                    (entry.clone(), reason)
                })
                .collect();
            (Vec::new(), all)
        } else {
            (plan.keep, plan.resolve.clone())
        };
        Box::new(Planned::<K> {
            keep,
            asked: plan.resolve,
            resolve,
            removed: plan.removed,
        })
    }

    fn diff(&self, old: &Lockfile, new: &Lockfile) -> Vec<Change> {
        diff::compare(K::pins(old), K::pins(new))
    }

    fn count(&self, lock: &Lockfile) -> String {
        K::count(lock)
    }

    fn layout_images(&self, lock: &Lockfile) -> Vec<LockedImage> {
        K::layout_images(lock)
    }

    fn pinned_paths(&self, lock: &Lockfile) -> Vec<(String, Digest)> {
        K::pinned_paths(lock)
    }

    fn components(&self, lock: &Lockfile) -> Vec<crate::sbom::Component> {
        K::components(lock)
    }

    fn place<'a>(&self, context: &'a Placer<'a>, lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed> {
        K::place(context, lock)
    }

    fn write_metadata(
        &self,
        context: &Placer<'_>,
        lock: &Lockfile,
        signer: &Signer,
    ) -> anyhow::Result<BTreeMap<String, Digest>> {
        K::write_metadata(context, lock, signer)
    }

    fn prune(
        &self,
        tree: &Tree,
        lock: &Lockfile,
        keep: &std::collections::BTreeSet<String>,
    ) -> anyhow::Result<Vec<String>> {
        K::prune(tree, lock, keep)
    }

    fn client_files(&self, lock: &Lockfile, url: &str) -> Vec<(String, String)> {
        K::client_files(lock, url)
    }

    fn has_pins(&self, lock: &Lockfile) -> bool {
        !K::pins(lock).is_empty()
    }

    fn sort(&self, lock: &mut Lockfile) {
        let pins = K::pins_mut(lock);
        pins.sort_by_cached_key(|pin| pin.key());
        for pin in pins.iter_mut() {
            K::sort_within(pin);
        }
    }

    fn normalize(&self, lock: &mut Lockfile) {
        self.sort(lock);
        K::pins_mut(lock).dedup_by_key(|pin| pin.key());
    }

    fn absorb(&self, into: &mut Lockfile, part: &mut Lockfile) {
        K::pins_mut(into).append(K::pins_mut(part));
    }
}

/// The top-level folders served as plain files (by `airgap serve` and the rendered nginx):
/// every kind's, plus the public keys and the rendered configuration.
pub fn served_roots() -> Vec<&'static str> {
    let mut roots: Vec<&'static str> = ALL.iter().flat_map(|kind| kind.roots()).copied().collect();
    roots.extend([KEYS, crate::media::tree::CONFIG]);
    roots
}

/// Every image the media's OCI layout holds: images, and OCI charts.
pub fn layout_images(lock: &Lockfile) -> Vec<LockedImage> {
    ALL.iter()
        .flat_map(|kind| kind.layout_images(lock))
        .collect()
}

/// Every change between two locks, kind by kind.
pub fn diff(old: &Lockfile, new: &Lockfile) -> Vec<Change> {
    ALL.iter().flat_map(|kind| kind.diff(old, new)).collect()
}

/// `3 files, 2 images, ...`: each kind the lock pins anything of (`nothing` when empty).
pub fn summary(lock: &Lockfile) -> String {
    let counts: Vec<String> = ALL
        .iter()
        .filter(|kind| kind.has_pins(lock))
        .map(|kind| kind.count(lock))
        .collect();
    if counts.is_empty() {
        "nothing".to_string()
    } else {
        counts.join(", ")
    }
}

/// The media files every kind pins, at their paths.
pub fn pinned_paths(lock: &Lockfile) -> Vec<(String, Digest)> {
    ALL.iter()
        .flat_map(|kind| kind.pinned_paths(lock))
        .collect()
}

/// The SBOM of `lock` (CycloneDX 1.6 JSON): every kind's components, in the lock's order.
pub fn sbom(lock: &Lockfile) -> String {
    let components: Vec<crate::sbom::Component> =
        ALL.iter().flat_map(|kind| kind.components(lock)).collect();
    crate::sbom::document(&Digest::of_bytes(lock.render().as_bytes()), &components)
}

/// [`sbom`] streamed into `writer`, for the lock whose text has digest `lock_digest`.
pub fn write_sbom(
    writer: &mut dyn std::io::Write,
    lock: &Lockfile,
    lock_digest: &Digest,
) -> std::io::Result<()> {
    let components: Vec<crate::sbom::Component> =
        ALL.iter().flat_map(|kind| kind.components(lock)).collect();
    crate::sbom::write_document(writer, lock_digest, &components)
}

/// `n thing` or `n things`.
pub fn counted(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::kinds::apt::LockedApt;

    const MANIFEST: &str = r#"
[[apt]]
name = "a"
url = "http://archive.example/debian"
suite = "stable"
components = ["main"]
architectures = ["amd64"]
insecure = true
packages = ["one"]

[[apt]]
name = "b"
url = "http://archive.example/debian"
suite = "stable"
components = ["main"]
architectures = ["amd64"]
insecure = true
packages = ["two"]

[[git]]
name = "repo"
url = "repositories/repo"
ref = "main"
"#;

    fn manifest(text: &str) -> (tempfile::TempDir, Manifest) {
        let workspace = tempfile::tempdir().unwrap();
        std::fs::create_dir(workspace.path().join("manifests")).unwrap();
        std::fs::write(workspace.path().join("manifests/m.toml"), text).unwrap();
        let manifest = load(workspace.path()).unwrap();
        (workspace, manifest)
    }

    /// A lock that pins exactly what `manifest` asks.
    fn pinned(manifest: &Manifest) -> Lockfile {
        let mut lock = Lockfile::empty(manifest.inputs_digest);
        for apt in &manifest.apts {
            lock.apts.push(LockedApt {
                name: apt.name.clone(),
                url: apt.url.clone(),
                suite: apt.suite.clone(),
                components: apt.components.clone(),
                architectures: apt.architectures.clone(),
                keyring: None,
                insecure: true,
                packages: apt.packages.clone(),
                recommends: false,
                exclude: Vec::new(),
                release: Digest::of_bytes(b"Release"),
                release_date: "Sat, 01 Jan 2000 00:00:00 UTC".to_string(),
                debs: Vec::new(),
            });
        }
        for git in &manifest.gits {
            lock.gits.push(crate::kinds::git::LockedGit {
                name: git.name.clone(),
                url: git.url.clone(),
                reference: git.reference.clone(),
                kind: "branch".to_string(),
                full_ref: "refs/heads/main".to_string(),
                commit: "0".repeat(40),
            });
        }
        lock
    }

    fn plans(
        manifest: &Manifest,
        old: &Lockfile,
        update: Option<&[String]>,
    ) -> Vec<Box<dyn AnyPlan>> {
        ALL.iter()
            .map(|kind| kind.plan(manifest, Some(old), update))
            .collect()
    }

    #[test]
    fn a_settled_lock_has_nothing_to_do() {
        let (_workspace, manifest) = manifest(MANIFEST);
        let old = pinned(&manifest);
        for plan in plans(&manifest, &old, None) {
            assert!(!plan.has_work() && plan.pending().is_empty() && plan.dropped().is_empty());
        }
    }

    #[test]
    fn one_changed_apt_entry_resolves_every_apt_entry_again() {
        let (_workspace, old_manifest) = manifest(MANIFEST);
        let old = pinned(&old_manifest);
        let (_workspace, manifest) =
            manifest(&MANIFEST.replace("[\"two\"]", "[\"two\", \"three\"]"));
        let plans = plans(&manifest, &old, None);
        let apt = &plans[ALL.iter().position(|kind| kind.name() == "apt").unwrap()];
        assert_eq!(
            apt.pending(),
            ["apt b: its `packages` changed in the manifest"]
        );
        assert_eq!(apt.resolving(), ["a", "b"], "apt entries resolve together");
        let git = &plans[ALL.iter().position(|kind| kind.name() == "git").unwrap()];
        assert!(!git.has_work(), "other kinds keep their pins");
    }

    #[test]
    fn update_by_name_and_removed_entries() {
        let (_workspace, full) = manifest(MANIFEST);
        let old = pinned(&full);
        let names = ["repo".to_string()];
        let plans_update = plans(&full, &old, Some(&names));
        let git = &plans_update[ALL.iter().position(|kind| kind.name() == "git").unwrap()];
        assert_eq!(git.pending(), ["git repo: --update asked for it"]);
        let (_workspace, fewer) = manifest(&MANIFEST[..MANIFEST.find("[[git]]").unwrap()]);
        let plans_fewer = plans(&fewer, &old, None);
        let git = &plans_fewer[ALL.iter().position(|kind| kind.name() == "git").unwrap()];
        assert_eq!(git.dropped(), ["git repo: no longer in the manifests"]);
    }

    #[test]
    fn every_kind_is_named_by_its_table() {
        assert_eq!(ALL.len(), TABLES.len());
        for (kind, table) in ALL.iter().zip(TABLES) {
            assert_eq!(kind.name(), *table);
        }
    }
}
