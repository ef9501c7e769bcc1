//! Signature policies at lock time and on the media. `lock` runs [`enforce`] after every kind
//! resolved: each image and file a `[[policy]]` covers must carry a signature the policy
//! accepts, found through the registry (cosign's `sha256-<hex>.sig` tags, the referrers API
//! and tag schema) or the file's `signature_url`; the evidence goes into the pin, and the
//! signature manifest joins the image's referrers so it travels on the media. [`check_media`]
//! checks the same evidence again offline (`airgap verify --policies`).
//!
//! The checks themselves are `policy::check`'s; this module finds and fetches the bytes.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use futures_util::StreamExt;

use crate::digest::Digest;
use crate::kinds::Lockfile;
use crate::kinds::file::LockedFile;
use crate::oci::manifest::{self, Descriptor};
use crate::oci::pin::{LockedImage, LockedReferrer};
use crate::oci::pull::Images;
use crate::policy::check::{self, Format, Trusted};
use crate::policy::{self, Evidence, LockedPolicy, Trust};
use crate::source::Downloader;

/// Why the policies refused the lock.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "{count} {} not satisfy {} signature polic{}; airgap.lock was not changed:\n\n{details}",
        if *count == 1 { "pin does" } else { "pins do" },
        if *count == 1 { "its" } else { "their" },
        if *count == 1 { "y" } else { "ies" }
    )]
    Refused { count: usize, details: String },
    #[error("{0}")]
    Material(String),
    #[error("signatures must be checked, and --offline forbids the network:\n{missing}")]
    Offline { missing: String },
}

impl crate::hint::Hint for PolicyError {
    fn hint(&self) -> Option<String> {
        match self {
            PolicyError::Refused { .. } => Some(
                "do not pin what the policy refuses: check that the tag was not moved, that the signer is the one the policy names, and that the signature was pushed with the image".to_string(),
            ),
            PolicyError::Material(_) => Some(
                "the policy's `key`, `trusted_root` or `keyring` must be the file you trust, in the workspace".to_string(),
            ),
            PolicyError::Offline { .. } => Some(
                "run `airgap lock` on a connected machine and bring the lock along".to_string(),
            ),
        }
    }
}

/// Reads every policy's trust material below `base` (the workspace, or the media with
/// [`LockedPolicy::media_path`]), checked against the lock's digest.
fn load_all(
    policies: &[LockedPolicy],
    path_of: impl Fn(&LockedPolicy) -> std::path::PathBuf,
) -> Result<BTreeMap<String, Trusted>, PolicyError> {
    let mut loaded = BTreeMap::new();
    for policy in policies {
        let path = path_of(policy);
        let bytes =
            crate::limits::read_bounded(&path, crate::limits::TRUST_MATERIAL).map_err(|error| {
                PolicyError::Material(format!(
                    "policy `{}`: cannot read {}: {error}",
                    policy.name,
                    path.display()
                ))
            })?;
        let trusted = Trusted::load(policy, &bytes).map_err(|message| {
            PolicyError::Material(format!("policy `{}`: {message}", policy.name))
        })?;
        loaded.insert(policy.name.clone(), trusted);
    }
    Ok(loaded)
}

/// What must be checked at lock time: pins without evidence for their policy.
fn pending(lock: &mut Lockfile) -> (Vec<usize>, Vec<usize>, Vec<String>) {
    let mut failures = Vec::new();
    let mut images = Vec::new();
    for (index, image) in lock.images.iter_mut().enumerate() {
        match policy::for_image(&lock.policies, &image.reference) {
            None => image.signature = None,
            Some(covering) => {
                if !image
                    .signature
                    .as_ref()
                    .is_some_and(|evidence| evidence.satisfies(covering))
                {
                    images.push(index);
                }
            }
        }
    }
    let mut files = Vec::new();
    for (index, file) in lock.files.iter_mut().enumerate() {
        match policy::for_file(&lock.policies, &file.url) {
            None => {
                file.signature = None;
                if let Some(signature_url) = &file.signature_url {
                    failures.push(format!(
                        "file {}: `signature_url` {signature_url} is set, but no policy covers {}\n  hint: add the URL to a policy's `files` (e.g. files = [\"{}*\"]) so the signature is checked",
                        file.key(),
                        file.url,
                        file.url.rsplit_once('/').map_or(file.url.as_str(), |(base, _)| base).to_string() + "/"
                    ));
                }
            }
            Some(covering) => {
                if file.signature_url.is_none() {
                    failures.push(format!(
                        "file {}: policy `{}` covers {}, but the entry has no `signature_url`\n  hint: add `signature_url` (and `certificate_url` for keyless signatures) next to `url`",
                        file.key(),
                        covering.name,
                        file.url
                    ));
                } else if !file
                    .signature
                    .as_ref()
                    .is_some_and(|evidence| evidence.satisfies(covering))
                {
                    files.push(index);
                }
            }
        }
    }
    (images, files, failures)
}

/// Checks every pin a policy covers, finding and verifying signatures for those without
/// evidence; records the evidence in `lock`. Fails, naming each pin, its policy and what was
/// found, when any pin lacks an acceptable signature.
pub fn enforce(
    settings: &crate::settings::Settings,
    manifest: &crate::kinds::Manifest,
    lock: &mut Lockfile,
    offline: bool,
    shared: Option<&Downloader>,
) -> Result<()> {
    lock.policies = manifest.policies.iter().map(LockedPolicy::new).collect();
    let (images, files, mut failures) = pending(lock);
    if images.is_empty() && files.is_empty() && failures.is_empty() {
        return Ok(());
    }
    if !failures.is_empty() {
        return Err(PolicyError::Refused {
            count: failures.len(),
            details: failures.join("\n\n"),
        }
        .into());
    }
    if offline {
        let missing: Vec<String> = images
            .iter()
            .map(|&index| format!("  image {}", lock.images[index].reference))
            .chain(
                files
                    .iter()
                    .map(|&index| format!("  file {}", lock.files[index].key())),
            )
            .collect();
        return Err(PolicyError::Offline {
            missing: missing.join("\n"),
        }
        .into());
    }
    let workspace = settings.workspace.clone();
    let trusted = load_all(&lock.policies, |policy| {
        workspace.join(policy.material.as_str())
    })?;
    let owned;
    let downloader = match shared {
        Some(downloader) => downloader,
        None => {
            owned = crate::ops::downloader(settings)?;
            &owned
        }
    };
    let registry = crate::ops::registry(settings, downloader.client.clone());
    let client = Images {
        registry: &registry,
        downloader,
    };
    let runtime = crate::ops::runtime()?;
    let policies = lock.policies.clone();
    let mut checked = 0;
    // Each pin's signatures are found and checked independently, `jobs` at a time.
    let jobs = settings.jobs;
    let (image_results, file_results) = runtime.block_on(async {
        let lock = &*lock;
        let images_checked: Vec<_> = futures_util::stream::iter(images.iter().copied())
            .map(|index| {
                let image = &lock.images[index];
                let covering = policy::for_image(&policies, &image.reference).expect("pending");
                let client = &client;
                let trusted = &trusted[&covering.name];
                async move {
                    (
                        index,
                        image_signature(client, trusted, covering, image).await,
                    )
                }
            })
            .buffer_unordered(jobs)
            .collect()
            .await;
        let files_checked: Vec<_> = futures_util::stream::iter(files.iter().copied())
            .map(|index| {
                let file = &lock.files[index];
                let covering = policy::for_file(&policies, &file.url).expect("pending");
                let trusted = &trusted[&covering.name];
                async move {
                    (
                        index,
                        file_signature(downloader, trusted, covering, file).await,
                    )
                }
            })
            .buffer_unordered(jobs)
            .collect()
            .await;
        (images_checked, files_checked)
    });
    for (index, result) in image_results {
        let image = &mut lock.images[index];
        match result {
            Ok((evidence, referrer)) => {
                if !image
                    .referrer_manifests
                    .iter()
                    .any(|known| known.digest == referrer.digest)
                {
                    image.referrer_manifests.push(referrer);
                    image.referrer_manifests.sort_by(|left, right| {
                        (left.subject, &left.tag, left.digest).cmp(&(
                            right.subject,
                            &right.tag,
                            right.digest,
                        ))
                    });
                }
                image.signature = Some(evidence);
                checked += 1;
            }
            Err(message) => failures.push(message),
        }
    }
    for (index, result) in file_results {
        match result {
            Ok(evidence) => {
                lock.files[index].signature = Some(evidence);
                checked += 1;
            }
            Err(message) => failures.push(message),
        }
    }
    if !failures.is_empty() {
        failures.sort();
        return Err(PolicyError::Refused {
            count: failures.len(),
            details: failures.join("\n\n"),
        }
        .into());
    }
    settings.printer.status(
        "Verified",
        format!(
            "{checked} signature{} against {} polic{}",
            if checked == 1 { "" } else { "s" },
            policies.len(),
            if policies.len() == 1 { "y" } else { "ies" }
        ),
    );
    Ok(())
}

/// The layers of a signature manifest a policy can check.
fn signature_layers(parsed: &manifest::Parsed) -> Vec<(Descriptor, Format)> {
    parsed
        .blobs
        .iter()
        .filter_map(|layer| {
            Format::of_layer(
                &layer.media_type,
                parsed.artifact_type.as_deref(),
                &layer.annotations,
            )
            .filter(|_| layer.media_type != "application/vnd.oci.empty.v1+json")
            .map(|format| (layer.clone(), format))
        })
        .collect()
}

/// Finds a signature of `image` that `covering` accepts; returns the evidence and the
/// signature's referrer entry, or a message naming the image, the policy and what was found.
async fn image_signature(
    client: &Images<'_>,
    trusted: &Trusted,
    covering: &LockedPolicy,
    image: &LockedImage,
) -> Result<(Evidence, LockedReferrer), String> {
    let refused = |found: Vec<String>| {
        let found = if found.is_empty() {
            "  found: no signature (no `sha256-<hex>.sig` tag, no referrer)".to_string()
        } else {
            found
                .iter()
                .map(|line| format!("  found: {line}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "image {} ({}): policy `{}` requires a signature by {}\n{found}",
            image.reference,
            image.digest,
            covering.name,
            covering.signer()
        )
    };
    let referrers = client
        .referrers_of(image)
        .await
        .map_err(|error| refused(vec![format!("the signatures cannot be listed: {error}")]))?;
    let mut found = Vec::new();
    for referrer in referrers
        .into_iter()
        .take(crate::limits::SIGNATURE_CANDIDATES)
    {
        let name = referrer
            .tag
            .clone()
            .unwrap_or_else(|| format!("referrer {}", referrer.digest));
        let path = client.downloader.store.blob_path(&referrer.digest);
        let Ok(bytes) = crate::limits::read_bounded(&path, crate::limits::SIGNATURE_OBJECT) else {
            found.push(format!("{name}: its manifest cannot be read"));
            continue;
        };
        let Ok(parsed) = manifest::parse(&bytes, Some(&referrer.media_type)) else {
            found.push(format!("{name}: not a manifest"));
            continue;
        };
        if parsed.is_index() {
            // The referrers tag schema's index: its entries are candidates of their own.
            continue;
        }
        let layers = signature_layers(&parsed);
        if layers.is_empty() {
            found.push(format!(
                "{name}: {} (not a signature)",
                parsed
                    .artifact_type
                    .clone()
                    .unwrap_or_else(|| parsed.media_type.clone())
            ));
            continue;
        }
        for (layer, format) in layers {
            if layer.size > crate::limits::SIGNATURE_OBJECT {
                found.push(format!(
                    "{name}: a {}-byte layer, too large for a signature",
                    layer.size
                ));
                continue;
            }
            let outcome = match client.fetch_blob(image, &layer).await {
                Err(error) => Err(format!("cannot be fetched: {error}")),
                Ok(fetched) => {
                    match std::fs::read(client.downloader.store.blob_path(&fetched.digest)) {
                        Err(error) => Err(format!("cannot be read: {error}")),
                        Ok(bytes) => {
                            check::layer(trusted, format, &layer.annotations, &bytes, &image.digest)
                        }
                    }
                }
            };
            match outcome {
                Ok(signer) => {
                    return Ok((
                        Evidence {
                            policy: covering.name.clone(),
                            material: covering.sha256,
                            signature: referrer.digest,
                            certificate: None,
                            format: format.name().to_string(),
                            signer,
                        },
                        referrer,
                    ));
                }
                Err(message) => found.push(format!("{name} ({}): {message}", format.name())),
            }
        }
    }
    Err(refused(found))
}

/// Fetches a file's signature (and certificate) and checks it over the file's bytes.
async fn file_signature(
    downloader: &Downloader,
    trusted: &Trusted,
    covering: &LockedPolicy,
    file: &LockedFile,
) -> Result<Evidence, String> {
    let label = format!("file {}", file.key());
    let refused = |message: String| {
        format!(
            "{label}: policy `{}` requires a signature by {}\n  found: {message}",
            covering.name,
            covering.signer()
        )
    };
    let small = |url: String, what: &'static str| {
        let label = format!("{label} {what}");
        async move {
            downloader
                .fetch(
                    &label,
                    &file.name,
                    &url,
                    None,
                    crate::limits::SIGNATURE_OBJECT,
                )
                .await
                .map_err(|error| format!("the {what} {url} cannot be fetched: {error}"))
        }
    };
    let signature_url = file.signature_url.clone().unwrap_or_default();
    let signature = small(signature_url.clone(), "signature")
        .await
        .map_err(refused)?;
    let certificate = match &file.certificate_url {
        Some(url) => Some(small(url.clone(), "certificate").await.map_err(refused)?),
        None => None,
    };
    crate::kinds::file::fetch(downloader, file)
        .await
        .map_err(|error| refused(format!("the file itself cannot be fetched: {error}")))?;
    let read = |digest: &Digest| {
        crate::limits::read_bounded(
            &downloader.store.blob_path(digest),
            crate::limits::SIGNATURE_OBJECT,
        )
        .map_err(|error| refused(format!("cannot read a fetched signature: {error}")))
    };
    let signature_bytes = read(&signature.digest)?;
    let certificate_bytes = certificate
        .as_ref()
        .map(|fetched| read(&fetched.digest))
        .transpose()?;
    let blob = downloader.store.blob_path(&file.digest);
    let (format, outcome) = check_file(
        trusted,
        covering,
        &blob,
        &signature_bytes,
        certificate_bytes.as_deref(),
    );
    let signer = outcome.map_err(|message| refused(format!("{signature_url}: {message}")))?;
    Ok(Evidence {
        policy: covering.name.clone(),
        material: covering.sha256,
        signature: signature.digest,
        certificate: certificate.map(|fetched| fetched.digest),
        format: format.to_string(),
        signer,
    })
}

/// One file's signature checked by its policy's kind of trust.
fn check_file(
    trusted: &Trusted,
    covering: &LockedPolicy,
    path: &Path,
    signature: &[u8],
    certificate: Option<&[u8]>,
) -> (&'static str, Result<String, String>) {
    match covering.trust {
        Trust::Keyring => ("openpgp", check::openpgp(trusted, path, signature)),
        Trust::Key | Trust::Keyless => ("blob", check::blob(trusted, path, signature, certificate)),
    }
}

/// `airgap verify --policies`: every pin a policy of the media's lock covers carries evidence,
/// and that evidence verifies again, offline, against the trust material on the media.
/// Returns one line per problem, and how many signatures were checked.
pub fn check_media(tree: &Path, lock: &Lockfile) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let trusted = match load_all(&lock.policies, |policy| tree.join(policy.media_path())) {
        Ok(trusted) => trusted,
        Err(error) => return (vec![format!("policy      {error}")], 0),
    };
    let mut checked = 0;
    let layout = |digest: &Digest| tree.join(crate::oci::layout::blob_path(digest));
    for image in &lock.images {
        let Some(covering) = policy::for_image(&lock.policies, &image.reference) else {
            continue;
        };
        let Some(evidence) = image
            .signature
            .as_ref()
            .filter(|evidence| evidence.satisfies(covering))
        else {
            problems.push(format!(
                "unsigned    image {}: policy `{}` covers it, but the lock records no signature",
                image.reference, covering.name
            ));
            continue;
        };
        let outcome = (|| -> Result<String, String> {
            let bytes = crate::limits::read_bounded(
                &layout(&evidence.signature),
                crate::limits::SIGNATURE_OBJECT,
            )
            .map_err(|error| {
                format!(
                    "its signature manifest {} cannot be read: {error}",
                    evidence.signature
                )
            })?;
            if Digest::of_bytes(&bytes) != evidence.signature {
                return Err(format!(
                    "its signature manifest {} is damaged",
                    evidence.signature
                ));
            }
            let parsed = manifest::parse(&bytes, None)
                .map_err(|detail| format!("its signature manifest {detail}"))?;
            let mut last = "the signature manifest holds no signature".to_string();
            for (layer, format) in signature_layers(&parsed) {
                let blob = crate::limits::read_bounded(
                    &layout(&layer.digest),
                    crate::limits::SIGNATURE_OBJECT,
                )
                .map_err(|error| {
                    format!(
                        "the signature layer {} cannot be read: {error}",
                        layer.digest
                    )
                })?;
                if Digest::of_bytes(&blob) != layer.digest {
                    return Err(format!("the signature layer {} is damaged", layer.digest));
                }
                match check::layer(
                    &trusted[&covering.name],
                    format,
                    &layer.annotations,
                    &blob,
                    &image.digest,
                ) {
                    Ok(signer) => return Ok(signer),
                    Err(message) => last = message,
                }
            }
            Err(last)
        })();
        match outcome {
            Ok(_) => checked += 1,
            Err(message) => problems.push(format!(
                "bad         image {}: policy `{}`: {message}",
                image.reference, covering.name
            )),
        }
    }
    for file in &lock.files {
        let Some(covering) = policy::for_file(&lock.policies, &file.url) else {
            continue;
        };
        let Some(evidence) = file
            .signature
            .as_ref()
            .filter(|evidence| evidence.satisfies(covering))
        else {
            problems.push(format!(
                "unsigned    file {}: policy `{}` covers it, but the lock records no signature",
                file.key(),
                covering.name
            ));
            continue;
        };
        let root = crate::kinds::file::ROOT;
        let read = |relative: String, digest: Digest| -> Result<Vec<u8>, String> {
            let bytes = crate::limits::read_bounded(
                &tree.join(root).join(&relative),
                crate::limits::SIGNATURE_OBJECT,
            )
            .map_err(|error| format!("{root}/{relative} cannot be read: {error}"))?;
            if Digest::of_bytes(&bytes) != digest {
                return Err(format!("{root}/{relative} does not match the lock"));
            }
            Ok(bytes)
        };
        let outcome = (|| -> Result<String, String> {
            let signature = read(file.signature_path(), evidence.signature)?;
            let certificate = match evidence.certificate {
                Some(digest) => Some(read(file.certificate_path(), digest)?),
                None => None,
            };
            let path = tree.join(root).join(file.path.as_str());
            check_file(
                &trusted[&covering.name],
                covering,
                &path,
                &signature,
                certificate.as_deref(),
            )
            .1
        })();
        match outcome {
            Ok(_) => checked += 1,
            Err(message) => problems.push(format!(
                "bad         file {}: policy `{}`: {message}",
                file.key(),
                covering.name
            )),
        }
    }
    (problems, checked)
}
