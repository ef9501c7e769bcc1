//! `[[apt]]`: an archive's signed `Release` verified, its `Packages` indexes checked against it,
//! the closure of the requested packages resolved over every `[[apt]]` entry together, and the
//! `.deb` files fetched by their pinned digests.

pub mod deb;
pub mod entry;
pub mod index;
mod kind;
pub mod pin;
pub mod release;
pub mod repository;
pub mod resolve;

pub use entry::{AptArtifact, RawApt};
pub use kind::Apt;

/// The folder of the media tree that holds the apt repositories.
pub const ROOT: &str = "apt";
pub use pin::{LockedApt, LockedDeb};

use std::collections::{BTreeMap, BTreeSet};

use crate::digest::Digest;
use crate::relative_path::RelativePath;
use crate::source::download::{Downloader, FetchError, Fetched};
use index::Package;

/// Why an archive could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    #[error("apt {entry}: the keyring {path} {message}")]
    Keyring {
        entry: String,
        path: String,
        message: String,
    },
    #[error("apt {entry}: {url} {message}")]
    Release {
        entry: String,
        url: String,
        message: String,
        hint: String,
    },
    #[error("apt {entry}: the index {path} {message}")]
    Index {
        entry: String,
        path: String,
        message: String,
    },
    #[error("apt {entry}: cannot resolve the packages: {message}\n  needed by: {chain}")]
    Unsatisfiable {
        entry: String,
        message: String,
        chain: String,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// A verified archive and its packages.
struct Archive {
    release_digest: Digest,
    release_date: String,
}

/// Resolves every `[[apt]]` entry together (a package of one may depend on another's).
pub async fn resolve(
    downloader: &Downloader,
    artifacts: &[AptArtifact],
) -> Result<Vec<LockedApt>, AptError> {
    let mut packages: Vec<Package> = Vec::new();
    let mut archives = Vec::new();
    for (source, artifact) in artifacts.iter().enumerate() {
        archives.push(load(downloader, artifact, source, &mut packages).await?);
    }
    let packages = std::sync::Arc::new(packages);
    let mut chosen: BTreeSet<usize> = BTreeSet::new();
    let architectures: BTreeSet<&String> = artifacts
        .iter()
        .flat_map(|artifact| &artifact.architectures)
        .collect();
    for architecture in architectures {
        let mut universe = resolve::Universe::new(&packages, architecture);
        for artifact in artifacts
            .iter()
            .filter(|artifact| artifact.architectures.contains(architecture))
        {
            let exclude: BTreeSet<String> = artifact.exclude.iter().cloned().collect();
            let closure = resolve::closure(
                &mut universe,
                &artifact.packages,
                &exclude,
                artifact.recommends,
            )
            .map_err(|error| AptError::Unsatisfiable {
                entry: artifact.name.clone(),
                message: error.message,
                chain: error.chain.join(" <- "),
            })?;
            chosen.extend(closure);
        }
    }
    let mut per_source: BTreeMap<usize, BTreeSet<LockedDeb>> = BTreeMap::new();
    for index in chosen {
        let package = &packages[index];
        per_source
            .entry(package.source)
            .or_default()
            .insert(LockedDeb {
                name: package.name.clone(),
                version: package.version_text.clone(),
                architecture: package.architecture.clone(),
                component: package.component.clone(),
                // `dpkg-scanpackages .` and `apt-ftparchive packages .` write `./pool/x.deb`;
                // apt reads it as `pool/x.deb`, and so does the lock.
                filename: RelativePath::new(package.filename.trim_start_matches("./")).map_err(|error| {
                    AptError::Index {
                        entry: artifacts[package.source].name.clone(),
                        path: package.component.clone(),
                        message: format!(
                            "names the pool file of {} {} as `{}`: {error}; the archive tries to place a file outside the repository",
                            package.name,
                            package.version_text,
                            package.filename.escape_debug()
                        ),
                    }
                })?,
                digest: package.sha256,
                size: package.size,
            });
    }
    Ok(artifacts
        .iter()
        .zip(archives)
        .enumerate()
        .map(|(source, (artifact, archive))| LockedApt {
            name: artifact.name.clone(),
            url: artifact.url.clone(),
            suite: artifact.suite.clone(),
            components: artifact.components.clone(),
            architectures: artifact.architectures.clone(),
            keyring: artifact.keyring.clone(),
            insecure: artifact.insecure,
            packages: artifact.packages.clone(),
            recommends: artifact.recommends,
            exclude: artifact.exclude.clone(),
            release: archive.release_digest,
            release_date: archive.release_date,
            debs: per_source
                .remove(&source)
                .unwrap_or_default()
                .into_iter()
                .collect(),
        })
        .collect())
}

/// Fetches and verifies an archive's Release and indexes, appending its packages.
async fn load(
    downloader: &Downloader,
    artifact: &AptArtifact,
    source: usize,
    packages: &mut Vec<Package>,
) -> Result<Archive, AptError> {
    let entry = &artifact.name;
    let label = format!("apt {entry}");
    let keys = match &artifact.keyring {
        Some(keyring) if !artifact.insecure => Some(
            crate::keyring::load(&downloader.workspace, keyring).map_err(|message| {
                AptError::Keyring {
                    entry: entry.clone(),
                    path: keyring.clone(),
                    message: message.to_string(),
                }
            })?,
        ),
        _ => None,
    };
    let dists = artifact.release_directory();
    let release_error = |url: &str, message: String, hint: &str| AptError::Release {
        entry: entry.clone(),
        url: url.to_string(),
        message,
        hint: hint.to_string(),
    };
    let signature_hint = "the Release is not signed by the keyring's keys: check `keyring` (wrong key?) or whether something between you and the archive changed it";
    let inrelease_url = format!("{dists}/InRelease");
    let (release_text, release_digest) = match downloader
        .fetch(&label, entry, &inrelease_url, None, crate::limits::RELEASE)
        .await
    {
        Ok(fetched) => {
            let text = read_text(downloader, &fetched).map_err(|message| {
                release_error(
                    &inrelease_url,
                    message,
                    "the archive sent something that is not a Release",
                )
            })?;
            let signed = match &keys {
                Some(keys) => crate::keyring::verify_inrelease(&text, keys).map_err(|message| {
                    release_error(&inrelease_url, message.to_string(), signature_hint)
                })?,
                None => crate::keyring::unverified_inrelease(&text).map_err(|message| {
                    release_error(
                        &inrelease_url,
                        message.to_string(),
                        "check the archive URL and suite",
                    )
                })?,
            };
            (signed, fetched.digest)
        }
        Err(FetchError::Status { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => {
            let release_url = format!("{dists}/Release");
            let fetched = downloader
                .fetch(&label, entry, &release_url, None, crate::limits::RELEASE)
                .await?;
            let text = read_text(downloader, &fetched).map_err(|message| {
                release_error(&release_url, message, "check the archive URL and suite")
            })?;
            if let Some(keys) = &keys {
                let signature_url = format!("{dists}/Release.gpg");
                let signature = downloader
                    .fetch(
                        &label,
                        entry,
                        &signature_url,
                        None,
                        crate::limits::SIGNATURE,
                    )
                    .await?;
                let signature = std::fs::read(downloader.store.blob_path(&signature.digest))
                    .map_err(|error| {
                        release_error(&signature_url, format!("cannot be read: {error}"), "retry")
                    })?;
                crate::keyring::verify_detached(text.as_bytes(), &signature, keys).map_err(
                    |error| {
                        release_error(&signature_url, error.of_file("Release.gpg"), signature_hint)
                    },
                )?;
            }
            (text, fetched.digest)
        }
        Err(error) => return Err(error.into()),
    };
    let parsed = release::parse(&release_text).map_err(|message| {
        release_error(
            &inrelease_url,
            message.to_string(),
            "the archive's Release is malformed",
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    release::check_valid_until(&parsed, now).map_err(|message| {
        release_error(
            &dists,
            format!("Release {message}"),
            "the mirror is stale or something replays an old Release; use a current mirror",
        )
    })?;

    // A flat repository has one index at its root, for every architecture; a suite has one
    // per component and architecture (plus `binary-all` where the Release lists it).
    let mut wanted: Vec<(String, String)> = Vec::new();
    if artifact.is_flat() {
        wanted.push((entry::FLAT_COMPONENT.to_string(), "Packages".to_string()));
    }
    for component in &artifact.components {
        let mut index_architectures: Vec<&str> =
            artifact.architectures.iter().map(String::as_str).collect();
        if !parsed.all_in_arch_indexes
            && parsed
                .sha256
                .keys()
                .any(|path| path.starts_with(&format!("{component}/binary-all/Packages")))
        {
            index_architectures.push("all");
        }
        for architecture in index_architectures {
            wanted.push((
                component.clone(),
                format!("{component}/binary-{architecture}/Packages"),
            ));
        }
    }
    for (component, base) in wanted {
        let (url, path, fetched) =
            fetch_index(downloader, artifact, &dists, &parsed, &base).await?;
        let blob = downloader.store.blob_path(&fetched.digest);
        let component_owned = component.clone();
        let parsed_packages = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&blob).map_err(|error| error.to_string())?;
            let mut found = Vec::new();
            index::parse_packages(
                index::decompressed(&path, file),
                source,
                &component_owned,
                &mut found,
            )
            .map_err(|error| error.to_string())?;
            Ok::<_, String>(found)
        })
        .await
        .map_err(|error| error.to_string())
        .and_then(|result| result)
        .map_err(|message| AptError::Index {
            entry: entry.clone(),
            path: url.clone(),
            message,
        })?;
        packages.extend(parsed_packages);
    }
    Ok(Archive {
        release_digest,
        release_date: parsed.date,
    })
}

/// Fetches the index `base` (`main/binary-amd64/Packages`) as apt does: each compressed form
/// the Release lists (xz, gz, then plain), each first by hash when the archive says
/// `Acquire-By-Hash`, then by name; a mirror that lacks one (404, 403, 410) is asked for the
/// next. Returns the URL that answered, the index's path (its compression) and the blob.
async fn fetch_index(
    downloader: &Downloader,
    artifact: &AptArtifact,
    dists: &str,
    release: &release::Release,
    base: &str,
) -> Result<(String, String, Fetched), AptError> {
    let entry = &artifact.name;
    let label = format!("apt {entry}");
    let mut tried = Vec::new();
    let mut listed = false;
    for extension in [".xz", ".gz", ""] {
        let path = format!("{base}{extension}");
        let Some((digest, size)) = release.sha256.get(&path).copied() else {
            continue;
        };
        listed = true;
        let mut urls = Vec::new();
        if release.acquire_by_hash {
            let directory = path.rsplit_once('/').map_or("", |(directory, _)| directory);
            let slash = if directory.is_empty() { "" } else { "/" };
            urls.push(format!(
                "{dists}/{directory}{slash}by-hash/SHA256/{}",
                digest.hex()
            ));
        }
        urls.push(format!("{dists}/{path}"));
        for url in urls {
            match downloader
                .fetch(
                    &label,
                    entry,
                    &url,
                    Some(digest),
                    crate::limits::pinned(size),
                )
                .await
            {
                Ok(fetched) => return Ok((url, path, fetched)),
                Err(FetchError::Status { status, .. })
                    if matches!(status.as_u16(), 403 | 404 | 410) =>
                {
                    downloader
                        .printer
                        .detail(format!("{label}: {url} answered {status}; trying the next"));
                    tried.push(format!("{url} ({})", status.as_u16()));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
    Err(AptError::Index {
        entry: entry.clone(),
        path: format!("{dists}/{base}"),
        message: if listed {
            format!(
                "could not be fetched in any form the Release lists; tried: {}",
                tried.join(", ")
            )
        } else {
            "is not listed in the Release".to_string()
        },
    })
}

fn read_text(downloader: &Downloader, fetched: &Fetched) -> Result<String, String> {
    if fetched.size > 64 << 20 {
        return Err(format!(
            "is {} bytes, too large for a Release",
            fetched.size
        ));
    }
    std::fs::read_to_string(downloader.store.blob_path(&fetched.digest))
        .map_err(|error| format!("cannot be read as text: {error}"))
}

/// Fetches one pinned `.deb` into the store, verified.
pub async fn fetch_deb(
    downloader: &Downloader,
    apt: &LockedApt,
    deb: &LockedDeb,
) -> Result<Fetched, FetchError> {
    let label = format!(
        "apt {} {}_{}_{}",
        apt.name, deb.name, deb.version, deb.architecture
    );
    let url = crate::source::download::join_url(&format!("{}/", apt.url), &deb.filename);
    downloader
        .fetch(
            &label,
            &apt.name,
            &url,
            Some(deb.digest),
            crate::limits::pinned(deb.size),
        )
        .await
}

impl crate::hint::Hint for AptError {
    fn hint(&self) -> Option<String> {
        match self {
            AptError::Fetch(inner) => crate::hint::Hint::hint(inner),
            AptError::Keyring { .. } => Some("give the archive's keyring (binary .gpg or armored .asc), e.g. from the debian-archive-keyring package".to_string()),
            AptError::Release { hint, .. } => Some(hint.to_string()),
            AptError::Unsatisfiable { .. } => Some("add the repository or component that has it, or list it in `exclude` if the nodes already have it".to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
