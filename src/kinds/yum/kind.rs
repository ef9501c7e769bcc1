//! The yum kind in the list: `[[yum]]` entries resolved together into one closure, a signed
//! repository per entry under `yum/<name>/` on the media.

use std::collections::BTreeMap;

use anyhow::Context;
use futures_util::future::{BoxFuture, LocalBoxFuture};

use super::repository::{self, rpm_path};
use super::{LockedRpm, LockedYum, RawYum, YumArtifact};
use super::{fetch_rpm, resolve};
use crate::digest::Digest;
use toml::Spanned;

use crate::kinds::{Kind, Lockfile, Placed, Placer, Resolver, counted};
use crate::lock::Reason;
use crate::lock::diff::Pin;
use crate::manifest::loader::{Context as TableContext, Loader};
use crate::media::signing::Signer;

/// `[[yum]]`.
pub struct Yum;

impl Kind for Yum {
    const NAME: &'static str = "yum";
    const ROOTS: &'static [&'static str] = &[super::ROOT];
    /// A package of one repository may need another's: one closure over all entries.
    const TOGETHER: bool = true;
    const EXAMPLE: (&'static str, &'static str) = ("yum", include_str!("example.toml"));
    type Raw = RawYum;
    type Entry = YumArtifact;
    type Pin = LockedYum;

    fn load(loader: &mut Loader, context: &TableContext, raw: Spanned<RawYum>) -> Vec<YumArtifact> {
        super::entry::load(loader, context, raw)
    }
    fn key(entry: &YumArtifact) -> String {
        entry.name.clone()
    }
    fn changed(artifact: &YumArtifact, pinned: &LockedYum) -> Option<&'static str> {
        let fields: [(&'static str, bool); 9] = [
            ("url", artifact.url != pinned.url),
            ("arch", artifact.arch != pinned.arch),
            ("gpgkey", artifact.gpgkey != pinned.gpgkey),
            ("insecure", artifact.insecure != pinned.insecure),
            ("packages", artifact.packages != pinned.packages),
            ("exclude", artifact.exclude != pinned.exclude),
            ("weak_deps", artifact.weak_deps != pinned.weak_deps),
            ("gpgcheck", artifact.gpgcheck != pinned.gpgcheck),
            ("modules", artifact.modules != pinned.modules),
        ];
        fields
            .into_iter()
            .find(|(_, changed)| *changed)
            .map(|(field, _)| field)
    }
    fn count(lock: &Lockfile) -> String {
        let packages = lock.yums.iter().map(|yum| yum.rpms.len()).sum::<usize>();
        counted(packages, "yum package", "yum packages")
    }

    fn resolve<'a>(
        context: &'a Resolver<'a>,
        entries: Vec<(YumArtifact, Reason)>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(context.together(
            entries,
            move |artifacts| async move { resolve(context.downloader, &artifacts).await },
            &mut into.yums,
        ))
    }

    fn pinned_paths(lock: &Lockfile) -> Vec<(String, Digest)> {
        rpms(lock).into_iter().map(target).collect()
    }

    fn components(lock: &Lockfile) -> Vec<crate::sbom::Component> {
        let mut components = Vec::new();
        for yum in &lock.yums {
            let vendor = [
                "rocky",
                "almalinux",
                "fedora",
                "centos",
                "redhat",
                "amazon",
                "oracle",
            ]
            .into_iter()
            .find(|vendor| yum.url.to_ascii_lowercase().contains(vendor))
            .unwrap_or("rpm");
            for rpm in &yum.rpms {
                let version = format!("{}-{}", rpm.version, rpm.release);
                let epoch = rpm.epoch.to_string();
                let mut qualifiers = vec![("arch", rpm.arch.as_str())];
                if rpm.epoch != 0 {
                    qualifiers.push(("epoch", epoch.as_str()));
                }
                components.push(crate::sbom::Component {
                    kind: "library",
                    airgap_kind: "yum",
                    name: rpm.name.clone(),
                    purl: crate::sbom::purl(
                        "rpm",
                        Some(vendor),
                        &rpm.name,
                        Some(&version),
                        &qualifiers,
                    ),
                    version: Some(version),
                    sha256: Some(rpm.digest),
                    source: Some(crate::source::download::join_url(&yum.url, &rpm.location)),
                    media_path: Some(rpm_path(yum, &rpm.location)),
                    ..Default::default()
                });
            }
        }
        components
    }

    fn place<'a>(context: &'a Placer<'a>, lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed> {
        Box::pin(context.place_all(rpms(lock), target, move |(yum, rpm)| {
            fetch_rpm(context.downloader, yum, rpm)
        }))
    }

    /// repodata from the placed packages' headers, signed; the upstream key beside it.
    fn write_metadata(
        context: &Placer<'_>,
        lock: &Lockfile,
        signer: &Signer,
    ) -> anyhow::Result<BTreeMap<String, Digest>> {
        let mut entries = BTreeMap::new();
        for yum in &lock.yums {
            if let Some(gpgkey) = yum.gpgkey.as_ref().filter(|_| yum.gpgcheck) {
                let keys = crate::keyring::load(context.workspace, gpgkey)
                    .with_context(|| format!("yum {}: cannot read the key {gpgkey}", yum.name))?;
                for rpm in &yum.rpms {
                    let relative = rpm_path(yum, &rpm.location);
                    let path = context.tree.root().join(&relative);
                    if let Err(message) = repository::check_signature(&path, &keys) {
                        // A package nodes would refuse does not stay on the media.
                        let _ = std::fs::remove_file(&path);
                        anyhow::bail!(crate::hint::Hinted::new(
                            format!(
                                "yum {}: {}-{}-{}.{} ({relative}) {message}",
                                yum.name, rpm.name, rpm.version, rpm.release, rpm.arch
                            ),
                            format!(
                                "nodes with gpgcheck=1 would refuse it: check `gpgkey` ({gpgkey}) or the repository; if its packages are really unsigned, say `gpgcheck = false`"
                            ),
                        ));
                    }
                }
            }
            entries.extend(repository::write(context.tree, yum, signer)?);
            if let Some(gpgkey) = &yum.gpgkey {
                let path = context.workspace.join(gpgkey);
                let key = std::fs::read(&path)
                    .with_context(|| format!("cannot read the yum key {}", path.display()))?;
                let relative = repository::upstream_key_path(yum);
                context.tree.write_if_changed(&relative, &key)?;
                entries.insert(relative, Digest::of_bytes(&key));
            }
        }
        Ok(entries)
    }
}

/// Every package of every repository, with its repository.
fn rpms(lock: &Lockfile) -> Vec<(&LockedYum, &LockedRpm)> {
    lock.yums
        .iter()
        .flat_map(|yum| yum.rpms.iter().map(move |rpm| (yum, rpm)))
        .collect()
}

/// Where a package lies on the media, and its digest.
fn target((yum, rpm): (&LockedYum, &LockedRpm)) -> (String, Digest) {
    (rpm_path(yum, &rpm.location), rpm.digest)
}

impl Pin for LockedYum {
    const KIND: &'static str = "yum";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        let rpms: Vec<String> = self
            .rpms
            .iter()
            .map(|rpm| {
                format!(
                    "{}-{}:{}-{}.{}",
                    rpm.name, rpm.epoch, rpm.version, rpm.release, rpm.arch
                )
            })
            .collect();
        vec![
            ("url", self.url.clone()),
            ("arch", self.arch.clone()),
            ("repomd", self.repomd.to_string()),
            ("packages", rpms.join(", ")),
        ]
    }
    fn summary(&self) -> String {
        format!("{} ({} packages)", self.url, self.rpms.len())
    }
}
