//! The apt kind in the list: `[[apt]]` entries resolved together into one closure, a signed
//! repository per entry under `apt/<name>/` on the media.

use std::collections::BTreeMap;

use futures_util::future::{BoxFuture, LocalBoxFuture};

use super::repository::{self, deb_path};
use super::{AptArtifact, LockedApt, LockedDeb, RawApt};
use super::{fetch_deb, resolve};
use crate::digest::Digest;
use toml::Spanned;

use crate::kinds::{Kind, Lockfile, Placed, Placer, Resolver, counted};
use crate::lock::Reason;
use crate::lock::diff::Pin;
use crate::manifest::loader::{Context, Loader};
use crate::media::signing::Signer;

/// `[[apt]]`.
pub struct Apt;

impl Kind for Apt {
    const NAME: &'static str = "apt";
    const ROOTS: &'static [&'static str] = &[super::ROOT];
    /// A package of one archive may depend on another's: one closure over all entries.
    const TOGETHER: bool = true;
    const EXAMPLE: (&'static str, &'static str) = ("apt", include_str!("example.toml"));
    type Raw = RawApt;
    type Entry = AptArtifact;
    type Pin = LockedApt;

    fn load(loader: &mut Loader, context: &Context, raw: Spanned<RawApt>) -> Vec<AptArtifact> {
        super::entry::load(loader, context, raw)
    }
    fn key(entry: &AptArtifact) -> String {
        entry.name.clone()
    }
    fn changed(artifact: &AptArtifact, pinned: &LockedApt) -> Option<&'static str> {
        let fields: [(&'static str, bool); 9] = [
            ("url", artifact.url != pinned.url),
            ("suite", artifact.suite != pinned.suite),
            ("components", artifact.components != pinned.components),
            (
                "architectures",
                artifact.architectures != pinned.architectures,
            ),
            ("keyring", artifact.keyring != pinned.keyring),
            ("insecure", artifact.insecure != pinned.insecure),
            ("packages", artifact.packages != pinned.packages),
            ("recommends", artifact.recommends != pinned.recommends),
            ("exclude", artifact.exclude != pinned.exclude),
        ];
        fields
            .into_iter()
            .find(|(_, changed)| *changed)
            .map(|(field, _)| field)
    }
    fn count(lock: &Lockfile) -> String {
        let packages = lock.apts.iter().map(|apt| apt.debs.len()).sum::<usize>();
        counted(packages, "apt package", "apt packages")
    }

    fn resolve<'a>(
        context: &'a Resolver<'a>,
        entries: Vec<(AptArtifact, Reason)>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(context.together(
            entries,
            move |artifacts| async move { resolve(context.downloader, &artifacts).await },
            &mut into.apts,
        ))
    }

    fn pinned_paths(lock: &Lockfile) -> Vec<(String, Digest)> {
        debs(lock).into_iter().map(target).collect()
    }

    fn components(lock: &Lockfile) -> Vec<crate::sbom::Component> {
        let mut components = Vec::new();
        for apt in &lock.apts {
            let distribution = if apt.url.contains("ubuntu") {
                "ubuntu"
            } else {
                "debian"
            };
            for deb in &apt.debs {
                components.push(crate::sbom::Component {
                    kind: "library",
                    airgap_kind: "apt",
                    name: deb.name.clone(),
                    version: Some(deb.version.clone()),
                    purl: crate::sbom::purl(
                        "deb",
                        Some(distribution),
                        &deb.name,
                        Some(&deb.version),
                        &[("arch", &deb.architecture)],
                    ),
                    sha256: Some(deb.digest),
                    source: Some(crate::source::download::join_url(
                        &format!("{}/", apt.url),
                        &deb.filename,
                    )),
                    media_path: Some(deb_path(apt, &deb.filename)),
                    ..Default::default()
                });
            }
        }
        components
    }

    fn place<'a>(context: &'a Placer<'a>, lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed> {
        Box::pin(context.place_all(debs(lock), target, move |(apt, deb)| {
            fetch_deb(context.downloader, apt, deb)
        }))
    }

    /// The indexes and the signed Release, made from the placed `.deb` files.
    fn write_metadata(
        context: &Placer<'_>,
        lock: &Lockfile,
        signer: &Signer,
    ) -> anyhow::Result<BTreeMap<String, Digest>> {
        let mut entries = BTreeMap::new();
        for apt in &lock.apts {
            entries.extend(repository::write(context.tree, apt, signer)?);
        }
        Ok(entries)
    }
}

/// Every package of every archive, with its archive.
fn debs(lock: &Lockfile) -> Vec<(&LockedApt, &LockedDeb)> {
    lock.apts
        .iter()
        .flat_map(|apt| apt.debs.iter().map(move |deb| (apt, deb)))
        .collect()
}

/// Where a package lies on the media, and its digest.
fn target((apt, deb): (&LockedApt, &LockedDeb)) -> (String, Digest) {
    (deb_path(apt, &deb.filename), deb.digest)
}

impl Pin for LockedApt {
    const KIND: &'static str = "apt";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        let debs: Vec<String> = self
            .debs
            .iter()
            .map(|deb| format!("{}={} ({})", deb.name, deb.version, deb.architecture))
            .collect();
        vec![
            ("url", self.url.clone()),
            ("suite", self.suite.clone()),
            ("release", self.release.to_string()),
            ("packages", debs.join(", ")),
        ]
    }
    fn summary(&self) -> String {
        format!("{} {} ({} packages)", self.url, self.suite, self.debs.len())
    }
}
