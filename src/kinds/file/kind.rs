//! The file kind in the list: `[[file]]` entries, `files/<path>` on the media.

use futures_util::future::{BoxFuture, LocalBoxFuture};

use super::{FileArtifact, LockedFile, RawFile};
use super::{fetch, resolve};
use crate::digest::Digest;
use toml::Spanned;

use crate::kinds::{Kind, Lockfile, Placed, Placer, Resolver, counted};
use crate::lock::Reason;
use crate::lock::diff::Pin;
use crate::manifest::loader::{Context, Loader};
use indicatif::HumanBytes;

/// `[[file]]`.
pub struct Files;

/// The folder of the media tree that holds the files.
pub const ROOT: &str = "files";

impl Kind for Files {
    const NAME: &'static str = "file";
    const ROOTS: &'static [&'static str] = &[ROOT];
    const EXAMPLE: (&'static str, &'static str) = ("files", include_str!("example.toml"));
    type Raw = RawFile;
    type Entry = FileArtifact;
    type Pin = LockedFile;

    fn load(loader: &mut Loader, context: &Context, raw: Spanned<RawFile>) -> Vec<FileArtifact> {
        super::entry::load(loader, context, raw)
    }
    fn key(entry: &FileArtifact) -> String {
        entry.key.to_string()
    }
    fn update_name(entry: &FileArtifact) -> String {
        entry.key.name.clone()
    }
    fn changed(artifact: &FileArtifact, pinned: &LockedFile) -> Option<&'static str> {
        if artifact.url != pinned.url {
            return Some("url");
        }
        if artifact.path != pinned.path {
            return Some("path");
        }
        if artifact.checksum_url != pinned.checksum_url {
            return Some("checksum_url");
        }
        if artifact.signature_url != pinned.signature_url {
            return Some("signature_url");
        }
        if artifact.certificate_url != pinned.certificate_url {
            return Some("certificate_url");
        }
        if artifact
            .sha256
            .is_some_and(|sha256| sha256 != pinned.digest)
        {
            return Some("sha256");
        }
        if artifact.pin_source() != pinned.pinned_by {
            return Some("sha256");
        }
        None
    }
    fn count(lock: &Lockfile) -> String {
        counted(lock.files.len(), "file", "files")
    }

    fn resolve<'a>(
        context: &'a Resolver<'a>,
        entries: Vec<(FileArtifact, Reason)>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(context.each(
            Self::NAME,
            entries,
            |artifact| artifact.key.to_string(),
            |artifact| &artifact.origin,
            move |artifact| async move { resolve(context.downloader, &artifact).await },
            &mut into.files,
        ))
    }

    fn pinned_paths(lock: &Lockfile) -> Vec<(String, Digest)> {
        lock.files
            .iter()
            .flat_map(|file| {
                std::iter::once(target(file)).chain(
                    file.signature_files()
                        .into_iter()
                        .map(|(path, _, digest)| (format!("{ROOT}/{path}"), digest)),
                )
            })
            .collect()
    }

    fn components(lock: &Lockfile) -> Vec<crate::sbom::Component> {
        lock.files
            .iter()
            .map(|file| {
                let name = match &file.arch {
                    Some(arch) => format!("{}-{arch}", file.name),
                    None => file.name.clone(),
                };
                crate::sbom::Component {
                    kind: "file",
                    airgap_kind: "file",
                    purl: crate::sbom::purl(
                        "generic",
                        None,
                        &name,
                        None,
                        &[
                            ("download_url", &file.url),
                            ("checksum", &file.digest.to_string()),
                        ],
                    ),
                    name,
                    version: None,
                    sha256: Some(file.digest),
                    source: Some(file.url.clone()),
                    media_path: Some(target(file).0),
                    properties: file
                        .signature
                        .as_ref()
                        .map(crate::sbom::evidence_properties)
                        .unwrap_or_default(),
                    ..Default::default()
                }
            })
            .collect()
    }

    fn place<'a>(context: &'a Placer<'a>, lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed> {
        Box::pin(async move {
            let mut placed = context
                .place_all(lock.files.iter().collect(), target, move |file| {
                    fetch(context.downloader, file)
                })
                .await;
            // Signatures and certificates travel beside their files, checked again offline by
            // `verify --policies`.
            let signatures: Vec<(String, String, Digest, &LockedFile)> = lock
                .files
                .iter()
                .flat_map(|file| {
                    file.signature_files()
                        .into_iter()
                        .map(move |(path, url, digest)| (path, url, digest, file))
                })
                .collect();
            let beside = context
                .place_all(
                    signatures.iter().collect(),
                    |(path, _, digest, _)| (format!("{ROOT}/{path}"), *digest),
                    move |(path, url, digest, file)| async move {
                        context
                            .downloader
                            .fetch(
                                &format!("file {} {path}", file.key()),
                                &file.name,
                                url,
                                Some(*digest),
                                crate::limits::SIGNATURE_OBJECT,
                            )
                            .await
                    },
                )
                .await;
            placed.entries.extend(beside.entries);
            placed.failures.extend(beside.failures);
            placed
        })
    }
}

/// Where a file lies on the media, and its digest.
fn target(file: &LockedFile) -> (String, Digest) {
    (format!("{ROOT}/{}", file.path), file.digest)
}

impl Pin for LockedFile {
    const KIND: &'static str = "file";
    fn key(&self) -> String {
        LockedFile::key(self).to_string()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("url", self.url.clone()),
            ("path", self.path.to_string()),
            ("digest", self.digest.to_string()),
            ("size", self.size.to_string()),
            ("pinned_by", format!("{:?}", self.pinned_by)),
            (
                "checksum_url",
                self.checksum_url.clone().unwrap_or_default(),
            ),
        ]
    }
    fn summary(&self) -> String {
        format!("{}  {}  {}", self.digest, HumanBytes(self.size), self.url)
    }
}
