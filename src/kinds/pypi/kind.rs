//! The pypi kind in the list: `[[pypi]]` sets resolved into pinned closures, a static index per
//! set under `pypi/<name>/` on the media, and `config/pip/pip.conf` pointing pip at it.

use std::collections::BTreeMap;

use futures_util::future::{BoxFuture, LocalBoxFuture};
use toml::Spanned;

use super::{LockedDist, LockedPypi, PypiArtifact, ROOT, RawPypi, file_path, index_files, resolve};
use crate::digest::Digest;
use crate::kinds::{Kind, Lockfile, Placed, Placer, Resolver, counted};
use crate::lock::Reason;
use crate::lock::diff::Pin;
use crate::manifest::loader::{Context, Loader};
use crate::media::signing::Signer;

/// `[[pypi]]`.
pub struct Pypi;

impl Kind for Pypi {
    const NAME: &'static str = "pypi";
    const ROOTS: &'static [&'static str] = &[ROOT];
    const EXAMPLE: (&'static str, &'static str) = ("pypi", include_str!("example.toml"));
    type Raw = RawPypi;
    type Entry = PypiArtifact;
    type Pin = LockedPypi;

    fn load(loader: &mut Loader, context: &Context, raw: Spanned<RawPypi>) -> Vec<PypiArtifact> {
        super::entry::load(loader, context, raw)
    }
    fn key(entry: &PypiArtifact) -> String {
        entry.name.clone()
    }
    fn changed(artifact: &PypiArtifact, pinned: &LockedPypi) -> Option<&'static str> {
        [
            ("index", artifact.index != pinned.index),
            ("requirements", artifact.requirements != pinned.requirements),
            ("python", artifact.python != pinned.python),
            ("platforms", artifact.platforms != pinned.platforms),
            ("sdist", artifact.sdist != pinned.sdist),
        ]
        .into_iter()
        .find(|(_, changed)| *changed)
        .map(|(field, _)| field)
    }
    fn count(lock: &Lockfile) -> String {
        let packages = lock
            .pypis
            .iter()
            .map(|set| set.packages.len())
            .sum::<usize>();
        counted(packages, "Python package", "Python packages")
    }
    fn sort_within(pin: &mut LockedPypi) {
        pin.packages
            .sort_by(|left, right| left.name.cmp(&right.name));
    }

    fn resolve<'a>(
        context: &'a Resolver<'a>,
        entries: Vec<(PypiArtifact, Reason)>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(context.each(
            "pypi",
            entries,
            |artifact| artifact.name.clone(),
            |artifact| &artifact.origin,
            move |artifact| async move { resolve(context.downloader, &artifact).await },
            &mut into.pypis,
        ))
    }

    fn pinned_paths(lock: &Lockfile) -> Vec<(String, Digest)> {
        dists(lock).into_iter().map(target).collect()
    }

    fn components(lock: &Lockfile) -> Vec<crate::sbom::Component> {
        dists(lock)
            .into_iter()
            .map(|(set, dist)| crate::sbom::Component {
                kind: "library",
                airgap_kind: "pypi",
                name: dist.name.clone(),
                version: Some(dist.version.clone()),
                purl: crate::sbom::purl(
                    "pypi",
                    None,
                    &dist.name,
                    Some(&dist.version),
                    &[("file_name", &dist.filename)],
                ),
                sha256: Some(dist.sha256),
                source: Some(dist.url.clone()),
                media_path: Some(file_path(set, dist)),
                ..Default::default()
            })
            .collect()
    }

    fn place<'a>(context: &'a Placer<'a>, lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed> {
        Box::pin(
            context.place_all(dists(lock), target, move |(set, dist)| async move {
                context
                    .downloader
                    .fetch(
                        &format!("pypi {}", set.name),
                        &dist.filename,
                        &dist.url,
                        Some(dist.sha256),
                        crate::limits::pinned(dist.size),
                    )
                    .await
            }),
        )
    }

    /// Each set's static index and locked requirements, made from the lock.
    fn write_metadata(
        context: &Placer<'_>,
        lock: &Lockfile,
        _signer: &Signer,
    ) -> anyhow::Result<BTreeMap<String, Digest>> {
        let mut entries = BTreeMap::new();
        for set in &lock.pypis {
            for (relative, text) in index_files(set) {
                context.tree.write_if_changed(&relative, text.as_bytes())?;
                entries.insert(relative, Digest::of_bytes(text.as_bytes()));
            }
        }
        Ok(entries)
    }

    /// pip's configuration: the first set as the index, the others beside it.
    fn client_files(lock: &Lockfile, url: &str) -> Vec<(String, String)> {
        let Some((first, others)) = lock.pypis.split_first() else {
            return Vec::new();
        };
        let mut text = format!(
            "# pip at the enclave's Python packages (airgap media at {url}).\n# Install as /etc/pip.conf, or pass PIP_CONFIG_FILE; then:\n#   pip install --require-hashes -r {url}/{ROOT}/{}/requirements.lock.txt\n[global]\nindex-url = {url}/{ROOT}/{}/simple/\n",
            first.name, first.name
        );
        if !others.is_empty() {
            let extra: Vec<String> = others
                .iter()
                .map(|set| format!("{url}/{ROOT}/{}/simple/", set.name))
                .collect();
            text.push_str(&format!("extra-index-url = {}\n", extra.join("\n    ")));
        }
        // The host as pip compares it (an IPv6 address keeps its brackets).
        if let Ok(parsed) = url::Url::parse(url)
            && parsed.scheme() == "http"
            && let Some(host) = parsed.host_str()
        {
            text.push_str(&format!(
                "# Plain HTTP: pip wants the host named as trusted (the files are still checked by hash).\ntrusted-host = {host}\n"
            ));
        }
        vec![(format!("{}/pip/pip.conf", crate::media::tree::CONFIG), text)]
    }
}

/// Every file of every set, with its set.
fn dists(lock: &Lockfile) -> Vec<(&LockedPypi, &LockedDist)> {
    lock.pypis
        .iter()
        .flat_map(|set| set.packages.iter().map(move |dist| (set, dist)))
        .collect()
}

/// Where a file lies on the media, and its digest.
fn target((set, dist): (&LockedPypi, &LockedDist)) -> (String, Digest) {
    (file_path(set, dist), dist.sha256)
}

impl Pin for LockedPypi {
    const KIND: &'static str = "pypi";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        let packages: Vec<String> = self
            .packages
            .iter()
            .map(|dist| format!("{}=={}", dist.name, dist.version))
            .collect();
        vec![
            ("index", self.index.clone()),
            ("python", self.python.clone()),
            ("platforms", self.platforms.join(", ")),
            ("packages", packages.join(", ")),
        ]
    }
    fn summary(&self) -> String {
        format!(
            "{} for Python {} ({} packages)",
            self.index,
            self.python,
            self.packages.len()
        )
    }
}
