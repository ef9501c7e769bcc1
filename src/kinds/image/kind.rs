//! The image kind in the list: `[[image]]` entries, blobs in the media's OCI layout.

use futures_util::future::{BoxFuture, LocalBoxFuture};

use super::RawImage;
use crate::digest::Digest;
use crate::oci::pin::{ImageArtifact, LockedImage};
use toml::Spanned;

use crate::kinds::{Kind, Lockfile, Placed, Placer, Resolver, counted};
use crate::lock::Reason;
use crate::lock::diff::Pin;
use crate::manifest::loader::{Context, Loader};
use crate::oci::layout::blob_path;

/// `[[image]]`.
pub struct Images;

impl Kind for Images {
    const NAME: &'static str = "image";
    /// Images live in the OCI layout, which images and OCI charts share.
    const ROOTS: &'static [&'static str] = &[];
    const EXAMPLE: (&'static str, &'static str) = ("images", include_str!("example.toml"));
    type Raw = RawImage;
    type Entry = ImageArtifact;
    type Pin = LockedImage;

    fn load(loader: &mut Loader, context: &Context, raw: Spanned<RawImage>) -> Vec<ImageArtifact> {
        super::entry::load(loader, context, raw)
    }
    fn key(entry: &ImageArtifact) -> String {
        entry.reference.clone()
    }
    fn is_own(pin: &LockedImage) -> bool {
        // Images a chart declared are kept or re-derived with their chart.
        pin.chart.is_none()
    }
    fn changed(artifact: &ImageArtifact, pinned: &LockedImage) -> Option<&'static str> {
        if artifact.platforms != pinned.platforms {
            return Some("platforms");
        }
        if artifact.layout != pinned.layout {
            return Some("layout");
        }
        if artifact.referrers != pinned.referrers {
            return Some("referrers");
        }
        if artifact.insecure != pinned.insecure {
            return Some("insecure");
        }
        None
    }
    fn count(lock: &Lockfile) -> String {
        counted(lock.images.len(), "image", "images")
    }

    fn resolve<'a>(
        context: &'a Resolver<'a>,
        entries: Vec<(ImageArtifact, Reason)>,
        into: &'a mut Lockfile,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(context.each(
            Self::NAME,
            entries,
            |artifact| artifact.reference.clone(),
            |artifact| &artifact.origin,
            move |artifact| async move { context.images.resolve(&artifact).await },
            &mut into.images,
        ))
    }

    fn layout_images(lock: &Lockfile) -> Vec<LockedImage> {
        lock.images.clone()
    }

    fn pinned_paths(lock: &Lockfile) -> Vec<(String, Digest)> {
        lock.images
            .iter()
            .flat_map(LockedImage::manifest_digests)
            .map(|digest| (blob_path(&digest), digest))
            .collect()
    }

    /// The layout (manifests, blobs, `index.json`) is placed once for every kind's images.
    fn components(lock: &Lockfile) -> Vec<crate::sbom::Component> {
        lock.images
            .iter()
            .map(|image| {
                let reference = crate::oci::reference::Reference::parse(&image.reference).ok();
                let (repository_url, name, tag) = match &reference {
                    Some(reference) => (
                        format!("{}/{}", reference.registry, reference.repository),
                        reference
                            .repository
                            .rsplit('/')
                            .next()
                            .unwrap_or(&reference.repository)
                            .to_ascii_lowercase(),
                        reference.tag.clone().unwrap_or_default(),
                    ),
                    None => (
                        image.reference.clone(),
                        image.reference.clone(),
                        String::new(),
                    ),
                };
                crate::sbom::Component {
                    kind: "container",
                    airgap_kind: "image",
                    purl: crate::sbom::purl(
                        "oci",
                        None,
                        &name,
                        Some(&image.digest.to_string()),
                        &[("repository_url", &repository_url), ("tag", &tag)],
                    ),
                    name: image.reference.clone(),
                    version: Some(image.digest.to_string()),
                    sha256: Some(image.digest),
                    // Where it came from, as a URL (the registry's manifest endpoint), so the
                    // reference is an IRI as CycloneDX wants.
                    source: match (&reference, &image.layout) {
                        (Some(reference), None) => Some(format!(
                            "{}://{}/v2/{}/manifests/{}",
                            if image.insecure || reference.is_loopback() {
                                "http"
                            } else {
                                "https"
                            },
                            reference.registry,
                            reference.repository,
                            image.digest
                        )),
                        _ => None,
                    },
                    media_path: Some(blob_path(&image.digest)),
                    properties: image
                        .signature
                        .as_ref()
                        .map(crate::sbom::evidence_properties)
                        .unwrap_or_default(),
                    references: referrer_documents(image),
                }
            })
            .collect()
    }

    fn place<'a>(_context: &'a Placer<'a>, _lock: &'a Lockfile) -> LocalBoxFuture<'a, Placed> {
        Box::pin(async { Placed::default() })
    }
}

/// The documents that refer to an image and travel with it in the layout: signatures, and the
/// SBOMs and attestations its upstream attached, by their manifests' media paths.
fn referrer_documents(image: &LockedImage) -> Vec<crate::sbom::Reference> {
    image
        .referrer_manifests
        .iter()
        .filter(|referrer| {
            // The referrers tag schema's index only lists the others.
            !(referrer.tag.is_some() && referrer.media_type.contains("index"))
        })
        .map(|referrer| {
            let kind_text = referrer
                .artifact_type
                .clone()
                .or_else(|| referrer.tag.clone())
                .unwrap_or_default()
                .to_ascii_lowercase();
            let kind = if kind_text.contains("sbom")
                || kind_text.contains("spdx")
                || kind_text.contains("cyclonedx")
            {
                "bom"
            } else if kind_text.contains("in-toto")
                || kind_text.contains("attestation")
                || kind_text.ends_with(".att")
            {
                "attestation"
            } else if kind_text.contains("sigstore")
                || kind_text.contains("signature")
                || kind_text.ends_with(".sig")
            {
                "digital-signature"
            } else {
                "other"
            };
            crate::sbom::Reference {
                kind,
                url: blob_path(&referrer.digest),
                sha256: referrer.digest,
                comment: format!(
                    "{} of {}",
                    referrer
                        .artifact_type
                        .clone()
                        .or_else(|| referrer.tag.clone())
                        .unwrap_or_else(|| referrer.media_type.clone()),
                    referrer.subject
                ),
            }
        })
        .collect()
}

impl Pin for LockedImage {
    const KIND: &'static str = "image";
    fn key(&self) -> String {
        self.reference.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        let list = |items: Vec<String>| items.join(", ");
        vec![
            ("layout", self.layout.clone().unwrap_or_default()),
            ("insecure", self.insecure.to_string()),
            ("platforms", self.platforms.join(", ")),
            ("digest", self.digest.to_string()),
            ("media_type", self.media_type.clone()),
            (
                "manifests",
                list(
                    self.manifests
                        .iter()
                        .map(|manifest| format!("{} {}", manifest.platform, manifest.digest))
                        .collect(),
                ),
            ),
            ("chart", self.chart.clone().unwrap_or_default()),
            (
                "referrers",
                list(
                    self.referrer_manifests
                        .iter()
                        .map(|referrer| referrer.digest.to_string())
                        .collect(),
                ),
            ),
        ]
    }
    fn summary(&self) -> String {
        let platforms: Vec<&str> = self
            .manifests
            .iter()
            .map(|manifest| manifest.platform.as_str())
            .collect();
        if platforms.is_empty() {
            self.digest.to_string()
        } else {
            format!("{}  [{}]", self.digest, platforms.join(", "))
        }
    }
}
