//! Materializing a media tree: lock if needed, one placement step per kind (fetch into the
//! cache, verify, place), the shared OCI layout, each kind's metadata, the rendered
//! configuration, a prune of what the lock no longer pins, then the lock copy, the public key,
//! `SHA256SUMS` and its signature.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use futures_util::StreamExt;
use indicatif::HumanBytes;

use crate::cli::MaterializeArgs;
use crate::digest::Digest;
use crate::kinds::{self, Placed, Placer};
use crate::media::delta;
use crate::media::place::Tally;
use crate::media::signing::Signer;
use crate::media::tree::Tree;
use crate::oci::layout as oci_layout;
use crate::oci::manifest::Descriptor;
use crate::oci::pin::LockedImage;
use crate::oci::pull::{ImageError, Images, StoredManifest};
use crate::ops;
use crate::settings::Settings;
use crate::store::Fetched;

/// `materialize --to DIR`: lock if needed, then every kind places its pins and writes its
/// metadata, the OCI layout takes every kind's images, the configuration is rendered, what
/// the lock no longer pins is pruned, and the tree is signed.
pub fn run(settings: &Settings, args: &MaterializeArgs) -> Result<()> {
    let started = Instant::now();
    let manifest = kinds::load(&settings.workspace)?;
    let downloader = ops::downloader(settings)?;
    let lock = ops::lock::ensure(settings, &manifest, &args.mode, None, Some(&downloader))?;
    let signer = signer(settings, args)?;
    if let Some(old) = &args.since
        && old.canonicalize().ok().is_some_and(|old| {
            args.to
                .canonicalize()
                .is_ok_and(|to| old == to || old.starts_with(&to))
        })
    {
        // The delta would remove from the tree the very files it compares against.
        return Err(crate::hint::Hinted::new(
            format!(
                "--since {} is the tree --to writes; a delta goes to a directory of its own",
                old.display()
            ),
            "write the delta elsewhere (e.g. --to /media/usb/delta-2026-12) and keep the full tree as the base",
        )
        .into());
    }
    let tree = Tree::open(&args.to)?;
    // A tree written as a delta before is made whole again by this run, or a new delta.
    tree.remove(crate::media::delta::MARKER)?;
    let registry = crate::ops::registry(settings, downloader.client.clone());
    let images = Images {
        registry: &registry,
        downloader: &downloader,
    };
    let tally = Tally {
        progress: Some(
            settings
                .printer
                .total_bar(kinds::pinned_paths(&lock).len() as u64),
        ),
        ..Tally::default()
    };
    let context = Placer {
        tree: &tree,
        downloader: &downloader,
        images: &images,
        tally: &tally,
        jobs: settings.jobs,
        workspace: &settings.workspace,
        printer: &settings.printer,
    };
    let layout_images = kinds::layout_images(&lock);
    let runtime = ops::runtime()?;
    let placed: Vec<Placed> = runtime.block_on(async {
        let mut steps: Vec<futures_util::future::LocalBoxFuture<'_, Placed>> = kinds::ALL
            .iter()
            .map(|kind| kind.place(&context, &lock))
            .collect();
        steps.push(Box::pin(place_layout(&context, &layout_images)));
        futures_util::future::join_all(steps).await
    });
    if let Some(bar) = &tally.progress {
        bar.finish_and_clear();
    }
    let mut entries: BTreeMap<String, Digest> = BTreeMap::new();
    let mut failures = Vec::new();
    for step in placed {
        entries.extend(step.entries);
        failures.extend(step.failures);
    }
    if !failures.is_empty() {
        return Err(anyhow!(
            "{} artifacts could not be materialized; nothing wrong was written, and a rerun resumes:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        ));
    }

    if !layout_images.is_empty() {
        for (relative, bytes) in [
            (
                format!("{}/oci-layout", oci_layout::ROOT),
                oci_layout::LAYOUT_FILE.to_string(),
            ),
            (
                format!("{}/index.json", oci_layout::ROOT),
                oci_layout::index_json(&layout_entries(&layout_images)),
            ),
        ] {
            tree.write_if_changed(&relative, bytes.as_bytes())?;
            entries.insert(relative, Digest::of_bytes(bytes.as_bytes()));
        }
    }
    for kind in kinds::ALL {
        entries.extend(kind.write_metadata(&context, &lock, &signer)?);
    }
    let inputs = render_inputs(settings, &manifest)?;
    let templates = crate::render::Templates::new(args.templates.as_deref())?;
    entries.extend(ops::render::write_rendered(
        settings, &tree, &lock, &inputs, &signer, &templates,
    )?);
    // The lock's text, rendered once: the media's copy, the SBOM's and the README's digest.
    let lock_text = lock.render();
    let lock_digest = Digest::of_bytes(lock_text.as_bytes());
    // One bill of materials for everything the lock pins, streamed to the media.
    let sbom = tree.write_streamed(crate::sbom::PATH, |writer| {
        kinds::write_sbom(writer, &lock, &lock_digest)
    })?;
    entries.insert(crate::sbom::PATH.to_string(), sbom);
    // The media carries the tool that verifies and serves it, and says how in README.txt.
    let binary = carry_binary(&tree, &context.downloader.store)?;
    entries.insert(binary.0.clone(), binary.1);
    let readme = media_readme(&lock, &lock_text, &binary.0);
    tree.write_if_changed(MEDIA_README, readme.as_bytes())?;
    entries.insert(
        MEDIA_README.to_string(),
        Digest::of_bytes(readme.as_bytes()),
    );
    // The policies' trust material, so `verify --policies` checks the signatures offline.
    for policy in &lock.policies {
        let source = settings.workspace.join(policy.material.as_str());
        let bytes = crate::limits::read_bounded(&source, crate::limits::TRUST_MATERIAL)
            .with_context(|| {
                format!("policy `{}`: cannot read {}", policy.name, source.display())
            })?;
        if Digest::of_bytes(&bytes) != policy.sha256 {
            return Err(anyhow!(
                "policy `{}`: {} changed since the lock was made (the lock pins {})\nhint: run `airgap lock` to check the signatures against it",
                policy.name,
                policy.material,
                policy.sha256
            ));
        }
        let relative = policy.media_path();
        tree.write_if_changed(&relative, &bytes)?;
        entries.insert(relative, policy.sha256);
    }
    let keep: BTreeSet<String> = entries.keys().cloned().collect();
    let mut removed = tree.prune(oci_layout::ROOT, &keep)?;
    removed.extend(tree.prune(crate::policy::ROOT, &keep)?);
    removed.extend(tree.prune(BINARIES, &keep)?);
    for kind in kinds::ALL {
        removed.extend(kind.prune(&tree, &lock, &keep)?);
    }
    for root in crate::render::ROOTS {
        removed.extend(tree.prune(root, &keep)?);
    }
    let mut keep_keys = keep.clone();
    keep_keys.insert(crate::media::tree::PUBLIC_KEY.to_string());
    removed.extend(tree.prune(crate::media::tree::KEYS, &keep_keys)?);
    for path in &removed {
        settings
            .printer
            .detail(format!("removed {path} (no longer in the lock)"));
    }
    let delta = match &args.since {
        Some(old) => {
            let base = runtime.block_on(delta_base(&context, old))?;
            let pinned: BTreeSet<String> = kinds::pinned_paths(&lock)
                .into_iter()
                .map(|(path, _)| path)
                .collect();
            let omitted = delta::omitted(&entries, &base, |path| {
                pinned.contains(path)
                    || path.starts_with(&format!("{BINARIES}/"))
                    || path.starts_with(&format!("{}/blobs/", oci_layout::ROOT))
                    || path.starts_with(&format!("{}/", crate::kinds::git::ROOT))
            });
            let marker = delta::Marker {
                base: base.lock,
                omitted: omitted.len(),
            }
            .render();
            tree.write_if_changed(delta::MARKER, marker.as_bytes())?;
            entries.insert(
                delta::MARKER.to_string(),
                Digest::of_bytes(marker.as_bytes()),
            );
            Some((base, omitted))
        }
        None => None,
    };
    let strangers = tree.finish(&lock_text, entries, &signer)?;
    if let Some(old) = &args.since {
        let old_lock = if old.is_dir() {
            old.join(crate::media::tree::LOCK)
        } else {
            old.clone()
        };
        if let Some(old_lock) = crate::kinds::Lockfile::read(&old_lock)? {
            let summary = crate::lock::diff::summarize(&kinds::diff(&old_lock, &lock));
            settings.printer.status("Changed", summary.describe());
        }
    }
    if let Some((base, omitted)) = &delta {
        let mut left_out = 0u64;
        for path in omitted {
            left_out += tree.remove(path)?;
        }
        let (files, carried) = tree.usage();
        settings.printer.status(
            "Delta",
            format!(
                "against the base with lock {}: carries {} ({} files), leaves out {} in {} files the base has",
                base.lock,
                HumanBytes(carried),
                files,
                HumanBytes(left_out),
                omitted.len()
            ),
        );
    }
    for path in strangers {
        settings.printer.warn(format!(
            "{path} in {} was not written by airgap and is not in SHA256SUMS; `airgap verify` will report it",
            args.to.display()
        ));
    }
    settings.printer.status(
        "Materialized",
        format!(
            "{} into {} in {:.1}s: {} written, {} already present, {} removed, {} downloaded",
            kinds::summary(&lock),
            args.to.display(),
            started.elapsed().as_secs_f64(),
            tally.written.load(Ordering::Relaxed),
            tally.present.load(Ordering::Relaxed),
            removed.len(),
            HumanBytes(tally.downloaded_bytes.load(Ordering::Relaxed)),
        ),
    );
    let shown = args.to.display().to_string();
    let shown = if shown.contains(char::is_whitespace) {
        format!("'{shown}'")
    } else {
        shown
    };
    settings.printer.next(&[
        format!(
            "airgap verify {shown} --key {shown}/{}   (inside the enclave: the key you pinned, not the media's copy)",
            crate::media::tree::PUBLIC_KEY
        ),
        format!("airgap serve {shown} --listen [::]:8080"),
    ]);
    Ok(())
}

/// Where the media carries its own `airgap`.
const BINARIES: &str = "bin";
/// The media's own short guide.
const MEDIA_README: &str = "README.txt";

/// Kubernetes' name for this machine's architecture (`amd64`, `arm64`, ...).
fn kubernetes_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Copies the running executable to `bin/airgap-<os>-<arch>` through the store (hashed as it
/// streams, never held): the enclave can verify and serve from the media alone. The digest of
/// an executable already copied is remembered in the cache by its path, size, inode and
/// modification time, and a tree file hard-linked to the store's blob is not hashed again, so
/// a rerun costs nothing.
fn carry_binary(tree: &Tree, store: &crate::store::Store) -> Result<(String, Digest)> {
    let executable =
        std::env::current_exe().context("cannot find the running airgap executable")?;
    let metadata = std::fs::metadata(&executable)
        .with_context(|| format!("cannot read {}", executable.display()))?;
    let identity = file_identity(&metadata);
    let memo = store
        .root()
        .join("executables")
        .join(Digest::of_bytes(format!("{}\n{identity}", executable.display()).as_bytes()).hex());
    let remembered = std::fs::read_to_string(&memo)
        .ok()
        .and_then(|text| Digest::parse(text.trim()).ok())
        .filter(|digest| store.size_of(digest) == Some(metadata.len()));
    let digest = match remembered {
        Some(digest) => digest,
        None => {
            let file = std::fs::File::open(&executable)
                .with_context(|| format!("cannot read {}", executable.display()))?;
            let (digest, _) = store
                .insert_reader(std::io::BufReader::new(file), None)
                .with_context(|| format!("cannot copy {} into the cache", executable.display()))?
                .map_err(|actual| anyhow!("internal error: the executable hashed to {actual}"))?;
            if let Some(parent) = memo.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = crate::store::atomic_write(&memo, digest.to_string().as_bytes());
            digest
        }
    };
    let relative = format!(
        "{BINARIES}/airgap-{}-{}",
        std::env::consts::OS,
        kubernetes_arch()
    );
    let placed = tree.root().join(&relative);
    let linked = match (
        std::fs::symlink_metadata(&placed),
        std::fs::metadata(store.blob_path(&digest)),
    ) {
        (Ok(placed), Ok(blob)) => placed.is_file() && same_inode(&placed, &blob),
        _ => false,
    };
    if !linked && !tree.has(&relative, &digest) {
        tree.place(store, &relative, &digest, true)?;
    }
    // Executable where the file system keeps modes (not on FAT media: run it from a copy).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            tree.root().join(&relative),
            std::fs::Permissions::from_mode(0o755),
        );
    }
    Ok((relative, digest))
}

/// Size, inode and modification time: what tells a file changed without reading it.
fn file_identity(metadata: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", metadata.dev(), metadata.ino())
    };
    #[cfg(not(unix))]
    let inode = String::new();
    format!("{} {inode} {:?}", metadata.len(), metadata.modified().ok())
}

/// Whether two files are one (hard links of the same inode).
fn same_inode(left: &std::fs::Metadata, right: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        left.dev() == right.dev() && left.ino() == right.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (left, right);
        false
    }
}

/// `README.txt` of the media: what it is, which lock, how to check it with this tool or with
/// stock tools, and how to serve it.
fn media_readme(lock: &kinds::Lockfile, lock_text: &str, binary: &str) -> String {
    let lock_digest = Digest::of_bytes(lock_text.as_bytes());
    format!(
        "airgap media
============

This tree holds everything one airgap.lock pins, checked byte by byte when it was written:
{summary}.
lock: airgap.lock ({lock_digest})
sbom: sbom/airgap.cdx.json (CycloneDX 1.6)

Every file is listed with its SHA-256 in SHA256SUMS, and SHA256SUMS is signed (OpenPGP) in
SHA256SUMS.asc by the key whose public half is keys/airgap.asc. Check the signature with the
copy of that key you were given out of band, never only with the one on this media.

Verify (offline) with the airgap this media carries ({binary}):

    {binary} verify . --key /path/to/trusted-key.asc

or with stock tools:

    gpg --import /path/to/trusted-key.asc
    gpg --verify SHA256SUMS.asc SHA256SUMS
    sha256sum --check --strict SHA256SUMS

Serve it to the enclave (files, apt and yum repositories, a read-only OCI registry, Helm,
git); config/ and kubespray/ hold the client configuration that points nodes at it:

    {binary} serve . --listen [::]:8080

If the media's file system keeps no file modes, copy the binary off it and `chmod +x` it first.
",
        summary = kinds::summary(lock),
    )
}

/// What `--since OLD` names: a media tree (its SHA256SUMS), or a lockfile, whose files are
/// the paths its pins place and the blobs of its images' manifests (from the cache, or
/// fetched by their pinned digests).
async fn delta_base(context: &Placer<'_>, old: &std::path::Path) -> Result<delta::Base> {
    if old.is_dir() {
        return Ok(delta::base_of_tree(old)?);
    }
    let text = std::fs::read(old).with_context(|| format!("cannot read {}", old.display()))?;
    let lock = crate::kinds::Lockfile::read(old)?
        .ok_or_else(|| anyhow!("{} does not exist", old.display()))?;
    let mut files: BTreeMap<String, Digest> = kinds::pinned_paths(&lock).into_iter().collect();
    for image in kinds::layout_images(&lock) {
        for document in context.images.manifests_of(&image).await? {
            files.insert(oci_layout::blob_path(&document.digest), document.digest);
            for blob in document.parsed.blobs {
                files.insert(oci_layout::blob_path(&blob.digest), blob.digest);
            }
        }
    }
    Ok(delta::Base {
        lock: Digest::of_bytes(&text),
        files,
    })
}

/// The signing key: `--signing-key`, or the user's own, made on first use.
fn signer(settings: &Settings, args: &MaterializeArgs) -> Result<Signer> {
    let default_key = args.signing_key.is_none();
    let key_path = args
        .signing_key
        .clone()
        .unwrap_or_else(Signer::default_path);
    let (signer, created) = Signer::load_or_create(&key_path, default_key)?;
    if created {
        settings.printer.status(
            "Created",
            format!(
                "signing key {} at {}",
                signer.fingerprint(),
                key_path.display()
            ),
        );
        settings.printer.warn(
            "give the enclave keys/airgap.asc from this media by a separate, trusted path; `airgap verify --key` checks against it",
        );
    }
    Ok(signer)
}

/// The OCI layout's manifests and blobs for every kind's images: every manifest document
/// first (small), then the unique blobs they name, each fetched and stored once.
async fn place_layout(context: &Placer<'_>, images: &[LockedImage]) -> Placed {
    let mut placed = Placed::default();
    let documents: Vec<(&LockedImage, Result<Vec<StoredManifest>, ImageError>)> =
        futures_util::stream::iter(images.iter())
            .map(|pin| async move { (pin, context.images.manifests_of(pin).await) })
            .buffer_unordered(context.jobs)
            .collect()
            .await;
    let mut blobs: BTreeMap<Digest, (&LockedImage, Descriptor)> = BTreeMap::new();
    let mut manifest_digests = Vec::new();
    for (pin, result) in documents {
        match result {
            Ok(stored) => {
                for document in stored {
                    manifest_digests.push(document.digest);
                    for blob in document.parsed.blobs {
                        blobs.entry(blob.digest).or_insert((pin, blob));
                    }
                }
            }
            Err(error) => placed.failures.push(error.to_string()),
        }
    }
    manifest_digests.sort();
    manifest_digests.dedup();
    if let Some(bar) = &context.tally.progress {
        bar.inc_length(blobs.len() as u64);
    }
    // Manifests are in the store already: `manifests_of` read and verified them.
    let store = &context.downloader.store;
    let documents = context
        .place_all(
            manifest_digests.iter().collect(),
            |digest: &Digest| (oci_layout::blob_path(digest), *digest),
            |digest: &Digest| async move {
                Ok::<_, ImageError>(Fetched {
                    digest: *digest,
                    size: store.size_of(digest).unwrap_or(0),
                    fresh: true,
                })
            },
        )
        .await;
    let layers = context
        .place_all(
            blobs.values().collect(),
            |(_, descriptor): &(&LockedImage, Descriptor)| {
                (oci_layout::blob_path(&descriptor.digest), descriptor.digest)
            },
            |(pin, descriptor): &(&LockedImage, Descriptor)| {
                context.images.fetch_blob(pin, descriptor)
            },
        )
        .await;
    for step in [documents, layers] {
        placed.entries.extend(step.entries);
        placed.failures.extend(step.failures);
    }
    placed
}

/// The render inputs of a materialize: `[enclave]` (URL, CA), `[kubespray]` hosts, `[dns]`.
fn render_inputs(
    settings: &Settings,
    manifest: &crate::kinds::Manifest,
) -> Result<crate::render::Inputs> {
    let ca = match &manifest.enclave.ca {
        Some(path) => {
            let path = settings.workspace.join(path);
            Some(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read the enclave CA {}", path.display()))?,
            )
        }
        None => None,
    };
    Ok(crate::render::Inputs {
        url: manifest
            .enclave
            .url
            .clone()
            .unwrap_or_else(|| crate::render::DEFAULT_URL.to_string()),
        kubespray: crate::render::Kubespray {
            host: manifest.kubespray_hosts.clone(),
        },
        dns: crate::render::Dns {
            forward: manifest.dns_forwards.clone(),
        },
        registry: None,
        replicas: manifest.enclave.replicas.clone(),
        runtimes: Vec::new(),
        client: crate::render::Client::default(),
        ca,
    })
}

/// The `index.json` entries of the lock's images and their tagged referrers.
fn layout_entries(images: &[LockedImage]) -> Vec<oci_layout::Entry> {
    let mut entries = Vec::new();
    for image in images {
        entries.push(oci_layout::Entry {
            name: Some(oci_layout::layout_name(&image.reference)),
            digest: image.digest,
            media_type: image.media_type.clone(),
            size: image.size,
        });
        for referrer in &image.referrer_manifests {
            entries.push(oci_layout::Entry {
                name: referrer
                    .tag
                    .as_ref()
                    .map(|tag| oci_layout::referrer_name(&image.reference, tag)),
                digest: referrer.digest,
                media_type: referrer.media_type.clone(),
                size: referrer.size,
            });
        }
    }
    entries
}
