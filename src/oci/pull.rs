//! `[[image]]`: references resolved to manifest digests (the lock), and every manifest and
//! blob those digests pin fetched into the store (materialize). Images come from registries
//! or from OCI layouts in the workspace (`layout = "path"`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::oci::manifest::{self, Descriptor, Parsed, REF_NAME};
use crate::oci::pin::ImageArtifact;
use crate::oci::pin::{LockedImage, LockedManifest, LockedReferrer};
use crate::oci::reference::Reference;
use crate::oci::registry::{RawManifest, Registry, RegistryError};
use crate::source::download::{Downloader, FetchError, Fetched};

/// Why an image could not be resolved or fetched.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("image {reference}: {message}")]
    Image {
        reference: String,
        message: String,
        hint: String,
    },
}

fn image_error(reference: &str, message: impl Into<String>, hint: impl Into<String>) -> ImageError {
    ImageError::Image {
        reference: reference.to_string(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// Where an image's bytes come from.
enum Origin {
    Registry {
        reference: Reference,
        insecure: bool,
    },
    Layout {
        directory: PathBuf,
    },
}

/// Resolves and fetches images. Shared by all images of a run.
pub struct Images<'a> {
    pub registry: &'a Registry,
    pub downloader: &'a Downloader,
}

/// A manifest document in the store, parsed.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub size: u64,
    pub parsed: Parsed,
}

impl Images<'_> {
    fn origin(&self, reference: &Reference, layout: Option<&str>, insecure: bool) -> Origin {
        match layout {
            Some(layout) => Origin::Layout {
                directory: self.downloader.workspace.join(layout),
            },
            None => Origin::Registry {
                reference: reference.clone(),
                insecure,
            },
        }
    }

    /// Pins what the reference points at now.
    pub async fn resolve(&self, artifact: &ImageArtifact) -> Result<LockedImage, ImageError> {
        let reference = Reference::parse(&artifact.reference).map_err(|message| {
            image_error(
                &artifact.reference,
                message.to_string(),
                "fix the reference in the manifest",
            )
        })?;
        let origin = self.origin(&reference, artifact.layout.as_deref(), artifact.insecure);
        let top = match (&origin, &reference.digest) {
            (Origin::Layout { directory }, _) => {
                self.layout_entry(&artifact.reference, &reference, directory)?
            }
            (Origin::Registry { .. }, Some(digest)) => {
                let pinned = self
                    .manifest(&artifact.reference, &origin, &digest.to_string())
                    .await?;
                if let (
                    Some(tag),
                    Origin::Registry {
                        reference,
                        insecure,
                    },
                ) = (&reference.tag, &origin)
                {
                    match self.registry.manifest(reference, *insecure, tag).await {
                        Ok(current) if current.digest != *digest => self.downloader.printer.warn(format!(
                            "image {}: the tag `{tag}` now points at {}; keeping the pinned {digest}",
                            artifact.reference, current.digest
                        )),
                        _ => {}
                    }
                }
                pinned
            }
            (Origin::Registry { .. }, None) => {
                self.manifest(
                    &artifact.reference,
                    &origin,
                    &reference.manifest_reference(),
                )
                .await?
            }
        };
        let parsed =
            manifest::parse(&top.bytes, top.content_type.as_deref()).map_err(|detail| {
                image_error(
                    &artifact.reference,
                    format!("the manifest {detail}"),
                    "check the image in its registry",
                )
            })?;
        self.keep(&top)?;

        let mut manifests = Vec::new();
        if parsed.is_index() {
            let wanted = &artifact.platforms;
            let mut kept: Vec<&Descriptor> = parsed
                .children
                .iter()
                .filter(|child| {
                    child
                        .platform
                        .as_ref()
                        .is_some_and(|platform| platform.matches(wanted))
                })
                .collect();
            if kept.is_empty() {
                let available: Vec<String> = parsed
                    .children
                    .iter()
                    .filter_map(|child| child.platform.as_ref().map(manifest::Platform::name))
                    .collect();
                return Err(image_error(
                    &artifact.reference,
                    format!("has no manifest for {}", wanted.join(", ")),
                    format!(
                        "it has: {}; set `platforms` on the entry",
                        available.join(", ")
                    ),
                ));
            }
            // Attestations (buildx's `unknown/unknown` entries) of a kept manifest come along.
            let kept_digests: BTreeSet<String> =
                kept.iter().map(|child| child.digest.to_string()).collect();
            for child in &parsed.children {
                let attests = child
                    .annotations
                    .get("vnd.docker.reference.digest")
                    .is_some_and(|subject| kept_digests.contains(subject));
                if attests && !kept.contains(&child) {
                    kept.push(child);
                }
            }
            for child in kept {
                let fetched = self
                    .manifest(&artifact.reference, &origin, &child.digest.to_string())
                    .await?;
                self.keep(&fetched)?;
                if fetched.bytes.len() as u64 != child.size {
                    return Err(image_error(
                        &artifact.reference,
                        format!(
                            "the index says {} has {} bytes, but it has {}",
                            child.digest,
                            child.size,
                            fetched.bytes.len()
                        ),
                        "the index is inconsistent; do not trust this image",
                    ));
                }
                manifests.push(LockedManifest {
                    platform: child
                        .platform
                        .as_ref()
                        .map_or_else(|| "unknown/unknown".to_string(), manifest::Platform::name),
                    digest: child.digest,
                    media_type: child.media_type.clone(),
                    size: child.size,
                });
            }
            manifests.sort_by(|left, right| {
                (&left.platform, left.digest).cmp(&(&right.platform, right.digest))
            });
        }

        let mut referrer_manifests = Vec::new();
        if artifact.referrers {
            let mut subjects = vec![top.digest];
            subjects.extend(manifests.iter().map(|manifest| manifest.digest));
            referrer_manifests = self
                .referrers(&artifact.reference, &origin, &subjects)
                .await?;
        }
        Ok(LockedImage {
            reference: artifact.reference.clone(),
            layout: artifact.layout.clone(),
            insecure: artifact.insecure,
            platforms: artifact.platforms.clone(),
            referrers: artifact.referrers,
            digest: top.digest,
            media_type: parsed.media_type,
            size: top.bytes.len() as u64,
            manifests,
            referrer_manifests,
            chart: None,
            signature: None,
        })
    }

    /// Signatures, SBOMs and attestations of `subjects`: by the referrers API where the
    /// registry has it, and by the `sha256-<hex>[.sig|.att|.sbom]` tag schema.
    async fn referrers(
        &self,
        label: &str,
        origin: &Origin,
        subjects: &[Digest],
    ) -> Result<Vec<LockedReferrer>, ImageError> {
        let Origin::Registry {
            reference,
            insecure,
        } = origin
        else {
            return Ok(Vec::new());
        };
        let mut found: Vec<LockedReferrer> = Vec::new();
        let tags = self.registry.tags(reference, *insecure).await?;
        for subject in subjects {
            if let Some(bytes) = self
                .registry
                .referrers(reference, *insecure, subject)
                .await?
            {
                let listed = manifest::parse(&bytes, Some(manifest::OCI_INDEX))
                    .map(|parsed| parsed.children)
                    .unwrap_or_default();
                for descriptor in listed.into_iter().take(crate::limits::REFERRERS) {
                    let fetched = self
                        .manifest(label, origin, &descriptor.digest.to_string())
                        .await?;
                    self.keep(&fetched)?;
                    found.push(LockedReferrer {
                        subject: *subject,
                        tag: None,
                        digest: fetched.digest,
                        media_type: descriptor.media_type.clone(),
                        size: fetched.bytes.len() as u64,
                        artifact_type: descriptor.artifact_type.clone(),
                    });
                }
            }
            let prefix = format!("sha256-{}", subject.hex());
            for tag in tags.iter().filter(|tag| tag.starts_with(&prefix)) {
                let fetched = self.manifest(label, origin, tag).await?;
                self.keep(&fetched)?;
                let parsed = manifest::parse(&fetched.bytes, fetched.content_type.as_deref())
                    .map_err(|detail| {
                        image_error(
                            label,
                            format!("the referrer {tag} {detail}"),
                            "check the signature in the registry",
                        )
                    })?;
                // The referrers tag schema (`sha256-<hex>` naming an index of referrers, for
                // registries without the referrers API): its entries are referrers too.
                if *tag == prefix && parsed.is_index() {
                    for descriptor in parsed.children.iter().take(crate::limits::REFERRERS) {
                        let child = self
                            .manifest(label, origin, &descriptor.digest.to_string())
                            .await?;
                        self.keep(&child)?;
                        found.push(LockedReferrer {
                            subject: *subject,
                            tag: None,
                            digest: child.digest,
                            media_type: descriptor.media_type.clone(),
                            size: child.bytes.len() as u64,
                            artifact_type: descriptor.artifact_type.clone(),
                        });
                    }
                }
                found.push(LockedReferrer {
                    subject: *subject,
                    tag: Some(tag.clone()),
                    digest: fetched.digest,
                    media_type: parsed.media_type,
                    size: fetched.bytes.len() as u64,
                    artifact_type: parsed.artifact_type,
                });
            }
        }
        found.sort_by(|left, right| {
            (left.subject, &left.tag, left.digest).cmp(&(right.subject, &right.tag, right.digest))
        });
        found.dedup_by(|left, right| left.digest == right.digest && left.tag == right.tag);
        Ok(found)
    }

    /// Signatures, SBOMs and attestations of a pin's top manifest, found as `referrers = true`
    /// finds them (the referrers API, the referrers tag schema, cosign's tags); their
    /// manifests are kept in the store.
    pub async fn referrers_of(&self, pin: &LockedImage) -> Result<Vec<LockedReferrer>, ImageError> {
        let reference = Reference::parse(&pin.reference)
            .map_err(|message| image_error(&pin.reference, message.to_string(), "fix the lock"))?;
        let origin = self.origin(&reference, pin.layout.as_deref(), pin.insecure);
        self.referrers(&pin.reference, &origin, &[pin.digest]).await
    }

    /// A manifest by tag or digest from the image's origin.
    async fn manifest(
        &self,
        label: &str,
        origin: &Origin,
        wanted: &str,
    ) -> Result<RawManifest, ImageError> {
        match origin {
            Origin::Registry {
                reference,
                insecure,
            } => Ok(self.registry.manifest(reference, *insecure, wanted).await?),
            Origin::Layout { directory } => {
                let digest = Digest::parse(wanted).map_err(|_| {
                    image_error(
                        label,
                        format!("`{wanted}` is not a digest in the layout"),
                        "layouts are read by digest",
                    )
                })?;
                let path = directory.join("blobs/sha256").join(digest.hex());
                let bytes = std::fs::read(&path).map_err(|error| {
                    image_error(
                        label,
                        format!("cannot read {}: {error}", path.display()),
                        "check `layout`: it must be an OCI image layout directory",
                    )
                })?;
                let actual = Digest::of_bytes(&bytes);
                if actual != digest {
                    return Err(image_error(
                        label,
                        format!(
                            "{} has digest {actual}, not its name {digest}",
                            path.display()
                        ),
                        "the layout is damaged; rebuild it",
                    ));
                }
                Ok(RawManifest {
                    bytes,
                    digest,
                    content_type: None,
                })
            }
        }
    }

    /// The entry of a workspace OCI layout that `reference` names: by the full reference, by
    /// the tag, or the only entry.
    fn layout_entry(
        &self,
        label: &str,
        reference: &Reference,
        directory: &std::path::Path,
    ) -> Result<RawManifest, ImageError> {
        let index_path = directory.join("index.json");
        let text = std::fs::read(&index_path).map_err(|error| {
            image_error(
                label,
                format!("cannot read {}: {error}", index_path.display()),
                "`layout` must point at an OCI image layout (a directory with index.json)",
            )
        })?;
        let index = manifest::parse(&text, Some(manifest::OCI_INDEX)).map_err(|detail| {
            image_error(
                label,
                format!("{} {detail}", index_path.display()),
                "rebuild the layout",
            )
        })?;
        let full = reference.to_string();
        let tag = reference.tag.clone().unwrap_or_default();
        let named = |descriptor: &&Descriptor| {
            descriptor.annotations.get(REF_NAME).is_some_and(|name| {
                name == &full || name == &tag || name == &format!("{}:{tag}", reference.repository)
            })
        };
        let entry = match (index.children.iter().find(named), index.children.as_slice()) {
            (Some(entry), _) => entry,
            (None, [only]) => only,
            (None, _) => {
                let names: Vec<&String> = index
                    .children
                    .iter()
                    .filter_map(|entry| entry.annotations.get(REF_NAME))
                    .collect();
                return Err(image_error(
                    label,
                    format!(
                        "{} has no entry named `{tag}` or `{full}`",
                        index_path.display()
                    ),
                    format!("the layout names: {names:?}"),
                ));
            }
        };
        if let Some(digest) = &reference.digest
            && *digest != entry.digest
        {
            return Err(image_error(
                label,
                format!(
                    "the layout's entry is {}, not the pinned {digest}",
                    entry.digest
                ),
                "rebuild the layout, or update the digest in the reference",
            ));
        }
        let origin = Origin::Layout {
            directory: directory.to_path_buf(),
        };
        let digest = entry.digest.to_string();
        let media_type = entry.media_type.clone();
        let raw = futures_util::FutureExt::now_or_never(self.manifest(label, &origin, &digest))
            .unwrap_or_else(|| {
                Err(image_error(
                    label,
                    "internal error reading the layout",
                    "report this bug",
                ))
            })?;
        Ok(RawManifest {
            content_type: Some(media_type).filter(|value| !value.is_empty()),
            ..raw
        })
    }

    /// Puts manifest bytes into the store.
    fn keep(&self, raw: &RawManifest) -> Result<(), ImageError> {
        if self.downloader.store.size_of(&raw.digest).is_none() {
            self.downloader
                .store
                .insert_reader(raw.bytes.as_slice(), Some(&raw.digest))
                .map_err(|source| FetchError::Cache {
                    path: self.downloader.store.root().to_path_buf(),
                    cause: source,
                })?
                .map_err(|actual| {
                    image_error(
                        "(store)",
                        format!("manifest bytes hashed to {actual}"),
                        "report this bug",
                    )
                })?;
        }
        Ok(())
    }

    /// Every manifest document a pin names (the top one, kept platform manifests, referrers),
    /// from the store or fetched into it, parsed.
    pub async fn manifests_of(&self, pin: &LockedImage) -> Result<Vec<StoredManifest>, ImageError> {
        let reference = Reference::parse(&pin.reference)
            .map_err(|message| image_error(&pin.reference, message.to_string(), "fix the lock"))?;
        let origin = self.origin(&reference, pin.layout.as_deref(), pin.insecure);
        let mut wanted = vec![(pin.digest, pin.media_type.clone(), pin.size)];
        wanted.extend(
            pin.manifests
                .iter()
                .map(|manifest| (manifest.digest, manifest.media_type.clone(), manifest.size)),
        );
        wanted.extend(
            pin.referrer_manifests
                .iter()
                .map(|referrer| (referrer.digest, referrer.media_type.clone(), referrer.size)),
        );
        let mut documents = Vec::new();
        for (digest, media_type, size) in wanted {
            let blob = self.downloader.store.blob_path(&digest);
            let bytes = match std::fs::read(&blob) {
                Ok(bytes) if Digest::of_bytes(&bytes) == digest => bytes,
                _ => {
                    let raw = self
                        .manifest(&pin.reference, &origin, &digest.to_string())
                        .await?;
                    self.keep(&raw)?;
                    raw.bytes
                }
            };
            if bytes.len() as u64 != size {
                return Err(image_error(
                    &pin.reference,
                    format!(
                        "the lock says {digest} has {size} bytes, but it has {}",
                        bytes.len()
                    ),
                    "the lock is damaged; restore it or run `airgap lock --update`",
                ));
            }
            let parsed = manifest::parse(&bytes, Some(&media_type)).map_err(|detail| {
                image_error(
                    &pin.reference,
                    format!("the manifest {digest} {detail}"),
                    "check the image",
                )
            })?;
            documents.push(StoredManifest {
                digest,
                size,
                parsed,
            });
        }
        Ok(documents)
    }

    /// Fetches one blob of a pinned image into the store, verified.
    pub async fn fetch_blob(
        &self,
        pin: &LockedImage,
        descriptor: &Descriptor,
    ) -> Result<Fetched, ImageError> {
        let reference = Reference::parse(&pin.reference)
            .map_err(|message| image_error(&pin.reference, message.to_string(), "fix the lock"))?;
        let label = format!("image {} blob {}", pin.reference, descriptor.digest.short());
        let fetched = match self.origin(&reference, pin.layout.as_deref(), pin.insecure) {
            Origin::Layout { directory } => {
                let path = directory.join("blobs/sha256").join(descriptor.digest.hex());
                let url =
                    url::Url::from_file_path(std::path::absolute(&path).unwrap_or(path.clone()))
                        .map_err(|_| {
                            image_error(
                                &pin.reference,
                                format!("cannot address {}", path.display()),
                                "check `layout`",
                            )
                        })?;
                self.downloader
                    .fetch(
                        &label,
                        &pin.reference,
                        url.as_str(),
                        Some(descriptor.digest),
                        crate::limits::pinned(descriptor.size),
                    )
                    .await?
            }
            Origin::Registry {
                reference,
                insecure,
            } => {
                let url = self
                    .registry
                    .blob_url(&reference, insecure, &descriptor.digest)
                    .await?;
                let headers = self
                    .registry
                    .authorization(&reference, insecure, false)
                    .await?;
                match self
                    .downloader
                    .fetch_with(
                        &label,
                        &pin.reference,
                        &url,
                        Some(descriptor.digest),
                        crate::limits::pinned(descriptor.size),
                        &headers,
                    )
                    .await
                {
                    Err(FetchError::Status { status, .. })
                        if status == reqwest::StatusCode::UNAUTHORIZED =>
                    {
                        // Tokens expire (Docker Hub's after five minutes): get a new one once.
                        let headers = self
                            .registry
                            .authorization(&reference, insecure, true)
                            .await?;
                        self.downloader
                            .fetch_with(
                                &label,
                                &pin.reference,
                                &url,
                                Some(descriptor.digest),
                                crate::limits::pinned(descriptor.size),
                                &headers,
                            )
                            .await?
                    }
                    other => other?,
                }
            }
        };
        if fetched.size != descriptor.size {
            return Err(image_error(
                &pin.reference,
                format!(
                    "blob {} has {} bytes, but its manifest says {}",
                    descriptor.digest, fetched.size, descriptor.size
                ),
                "the manifest is inconsistent with its blobs; do not trust this image",
            ));
        }
        Ok(fetched)
    }
}

impl crate::hint::Hint for ImageError {
    fn hint(&self) -> Option<String> {
        match self {
            ImageError::Registry(inner) => crate::hint::Hint::hint(inner),
            ImageError::Fetch(inner) => crate::hint::Hint::hint(inner),
            ImageError::Image { hint, .. } => Some(hint.to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
