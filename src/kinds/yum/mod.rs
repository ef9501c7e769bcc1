//! `[[yum]]`: a repository's `repomd.xml` (its `repomd.xml.asc` checked against `gpgkey`), the
//! primary metadata checked against repomd's checksum and parsed streaming, the closure of the
//! requested packages resolved as dnf would, and the `.rpm` files fetched by pinned digest.

pub mod entry;
mod kind;
pub mod metadata;
pub mod modules;
pub mod pin;
pub mod repository;
pub mod resolve;

pub use entry::{RawYum, YumArtifact};
pub use kind::Yum;

/// The folder of the media tree that holds the yum repositories.
pub const ROOT: &str = "yum";
pub use pin::{LockedRpm, LockedYum};

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;

use crate::digest::Digest;
use crate::source::download::{Downloader, FetchError, Fetched};
use metadata::RpmPackage;

/// Why a repository could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum YumError {
    #[error("yum {entry}: the key {path} {message}")]
    Key {
        entry: String,
        path: String,
        message: String,
    },
    #[error("yum {entry}: {url} {message}")]
    Metadata {
        entry: String,
        url: String,
        message: String,
        hint: String,
    },
    #[error("yum {entry}: {message}")]
    Module { entry: String, message: String },
    #[error("yum {entry}: cannot resolve the packages: {message}\n  needed by: {chain}")]
    Unsatisfiable {
        entry: String,
        message: String,
        chain: String,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

struct Repository {
    repomd: Digest,
    modular: bool,
    modules: Option<modules::Modules>,
    /// filelists.xml, fetched only when a file requirement needs it.
    filelists: Option<metadata::RepomdEntry>,
}

/// Resolves every `[[yum]]` entry; entries of one architecture resolve together.
pub async fn resolve(
    downloader: &Downloader,
    artifacts: &[YumArtifact],
) -> Result<Vec<LockedYum>, YumError> {
    let mut packages: Vec<RpmPackage> = Vec::new();
    let mut sources: Vec<usize> = Vec::new();
    let mut repositories = Vec::new();
    for (source, artifact) in artifacts.iter().enumerate() {
        let before = packages.len();
        repositories.push(load(downloader, artifact, &mut packages).await?);
        sources.resize(sources.len() + packages.len() - before, source);
    }
    // Module streams apply across repositories, as in dnf: every entry's `modules` enabled,
    // default streams for the rest.
    let mut all_modules = modules::Modules::default();
    for repository in &repositories {
        if let Some(found) = &repository.modules {
            all_modules.extend(found.clone());
        }
    }
    let enabled: Vec<String> = artifacts
        .iter()
        .flat_map(|artifact| artifact.modules.iter().cloned())
        .collect();
    let hidden = all_modules
        .hidden(&packages, &enabled)
        .map_err(|message| YumError::Module {
            entry: artifacts
                .iter()
                .find(|artifact| !artifact.modules.is_empty())
                .unwrap_or(&artifacts[0])
                .name
                .clone(),
            message,
        })?;
    // Resolution runs once; when a closure fails and some required path is one primary does
    // not list, those paths are looked up in filelists (as dnf reads them) and it runs again.
    let chosen = match closures(&packages, artifacts, &hidden) {
        Ok(chosen) => chosen,
        Err(failure) if !failure.1.is_empty() => {
            let wanted = failure.1;
            add_files(
                downloader,
                artifacts,
                &repositories,
                &sources,
                &mut packages,
                &wanted,
            )
            .await?;
            closures(&packages, artifacts, &hidden).map_err(|failure| failure.0)?
        }
        Err(failure) => return Err(failure.0),
    };
    let mut per_source: BTreeMap<usize, BTreeSet<LockedRpm>> = BTreeMap::new();
    for (artifact, closure) in artifacts.iter().zip(chosen) {
        for index in closure {
            let package = &packages[index];
            let Some(digest) = package.sha256 else {
                return Err(YumError::Metadata {
                    entry: artifact.name.clone(),
                    url: artifact.url.clone(),
                    message: format!("lists {} without a sha256 checksum", package.nevra()),
                    hint: "only sha256 package checksums are trusted; regenerate the repository with createrepo_c".to_string(),
                });
            };
            per_source
                .entry(sources[index])
                .or_default()
                .insert(LockedRpm {
                    name: package.name.clone(),
                    epoch: package.epoch,
                    version: package.version.clone(),
                    release: package.release.clone(),
                    arch: package.arch.clone(),
                    location: crate::relative_path::RelativePath::new(&package.location).map_err(
                        |error| YumError::Metadata {
                            entry: artifact.name.clone(),
                            url: artifact.url.clone(),
                            message: format!(
                                "locates {} at `{}`: {error}",
                                package.nevra(),
                                package.location.escape_debug()
                            ),
                            hint:
                                "the repository tries to place a file outside itself; do not use it"
                                    .to_string(),
                        },
                    )?,
                    digest,
                    size: package.size,
                });
        }
    }
    Ok(artifacts
        .iter()
        .zip(repositories)
        .enumerate()
        .map(|(source, (artifact, repository))| LockedYum {
            name: artifact.name.clone(),
            url: artifact.url.clone(),
            arch: artifact.arch.clone(),
            gpgkey: artifact.gpgkey.clone(),
            insecure: artifact.insecure,
            packages: artifact.packages.clone(),
            exclude: artifact.exclude.clone(),
            weak_deps: artifact.weak_deps,
            gpgcheck: artifact.gpgcheck,
            modules: artifact.modules.clone(),
            repomd: repository.repomd,
            modular: repository.modular,
            rpms: per_source
                .remove(&source)
                .unwrap_or_default()
                .into_iter()
                .collect(),
        })
        .collect())
}

async fn load(
    downloader: &Downloader,
    artifact: &YumArtifact,
    packages: &mut Vec<RpmPackage>,
) -> Result<Repository, YumError> {
    let entry = &artifact.name;
    let label = format!("yum {entry}");
    let keys = match &artifact.gpgkey {
        Some(gpgkey) => Some(crate::keyring::load(&downloader.workspace, gpgkey).map_err(
            |message| YumError::Key {
                entry: entry.clone(),
                path: gpgkey.clone(),
                message: message.to_string(),
            },
        )?),
        None => None,
    };
    let metadata_error = |url: &str, message: String, hint: &str| YumError::Metadata {
        entry: entry.clone(),
        url: url.to_string(),
        message,
        hint: hint.to_string(),
    };
    let repomd_url = format!("{}repodata/repomd.xml", artifact.url);
    let repomd = downloader
        .fetch(&label, entry, &repomd_url, None, crate::limits::REPOMD)
        .await?;
    let repomd_bytes =
        std::fs::read(downloader.store.blob_path(&repomd.digest)).map_err(|error| {
            metadata_error(&repomd_url, format!("cannot be read: {error}"), "retry")
        })?;
    let signature_url = format!("{repomd_url}.asc");
    match downloader
        .fetch(
            &label,
            entry,
            &signature_url,
            None,
            crate::limits::SIGNATURE,
        )
        .await
    {
        Ok(signature) => {
            let signature =
                std::fs::read(downloader.store.blob_path(&signature.digest)).map_err(|error| {
                    metadata_error(&signature_url, format!("cannot be read: {error}"), "retry")
                })?;
            match &keys {
                Some(keys) => crate::keyring::verify_detached(&repomd_bytes, &signature, keys).map_err(|error| {
                    metadata_error(
                        &signature_url,
                        error.of_file("repomd.xml.asc"),
                        "the metadata is not signed by `gpgkey`: check the key, or whether something changed the repository",
                    )
                })?,
                None if !artifact.insecure => {
                    return Err(metadata_error(
                        &signature_url,
                        "exists, so the repository is signed, but the entry has no `gpgkey` to check it".to_string(),
                        "set `gpgkey` to the repository's key; only if you cannot, say `insecure = true`",
                    ));
                }
                None => {}
            }
        }
        Err(FetchError::Status { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => {
            if !artifact.insecure {
                downloader.printer.warn(format!(
                    "yum {entry}: {repomd_url} is not signed (no repomd.xml.asc); its content is trusted as first seen and pinned by digest in the lock"
                ));
            }
        }
        Err(error) => return Err(error.into()),
    }
    let text = String::from_utf8_lossy(&repomd_bytes);
    let entries = metadata::parse_repomd(&text).map_err(|message| {
        metadata_error(
            &repomd_url,
            message.to_string(),
            "the repository metadata is malformed",
        )
    })?;
    let modular = entries.contains_key("modules");
    let modules = match entries.get("modules") {
        Some(data) => Some(
            repodata(
                downloader,
                artifact,
                data,
                "the module metadata",
                |reader| {
                    use std::io::Read;
                    let mut text = String::new();
                    reader
                        .take(modules::LIMIT + 1)
                        .read_to_string(&mut text)
                        .map_err(|error| error.to_string())?;
                    if text.len() as u64 > modules::LIMIT {
                        return Err(format!(
                            "is larger than {} bytes decompressed",
                            modules::LIMIT
                        ));
                    }
                    modules::Modules::parse(&text)
                },
            )
            .await?,
        ),
        None => None,
    };
    let parsed = repodata(
        downloader,
        artifact,
        &entries["primary"],
        "the primary metadata",
        |reader| {
            let mut found = Vec::new();
            metadata::parse_primary(reader, |package| found.push(package))
                .map_err(|error| error.to_string())?;
            Ok(found)
        },
    )
    .await?;
    packages.extend(parsed);
    Ok(Repository {
        repomd: repomd.digest,
        modular,
        modules,
        filelists: entries.get("filelists").cloned(),
    })
}

/// A failed resolution: the error, and the required paths no package of its universe lists.
type Failed = (YumError, std::collections::HashSet<String>);

/// Every entry's closure, in the entries' order; entries of one architecture share its
/// universe. On failure: the error, and the required paths no package of that universe lists.
fn closures(
    packages: &[RpmPackage],
    artifacts: &[YumArtifact],
    hidden: &std::collections::HashSet<usize>,
) -> Result<Vec<BTreeSet<usize>>, Box<Failed>> {
    let mut universes: BTreeMap<&str, resolve::Universe> = BTreeMap::new();
    let mut chosen = Vec::new();
    for artifact in artifacts {
        let universe = universes
            .entry(artifact.arch.as_str())
            .or_insert_with(|| resolve::Universe::new(packages, &artifact.arch, hidden));
        let exclude: BTreeSet<String> = artifact.exclude.iter().cloned().collect();
        match resolve::closure(universe, &artifact.packages, &exclude, artifact.weak_deps) {
            Ok(closure) => chosen.push(closure),
            Err(error) => {
                return Err(Box::new((
                    YumError::Unsatisfiable {
                        entry: artifact.name.clone(),
                        message: error.message,
                        chain: error.chain.join(" <- "),
                    },
                    universe.unresolved_files().into_iter().collect(),
                )));
            }
        }
    }
    Ok(chosen)
}

/// Reads each repository's filelists.xml for the `wanted` paths and adds each to the
/// packages that have it.
async fn add_files(
    downloader: &Downloader,
    artifacts: &[YumArtifact],
    repositories: &[Repository],
    sources: &[usize],
    packages: &mut [RpmPackage],
    wanted: &std::collections::HashSet<String>,
) -> Result<(), YumError> {
    for (source, (artifact, repository)) in artifacts.iter().zip(repositories).enumerate() {
        let Some(filelists) = &repository.filelists else {
            continue;
        };
        let wanted = wanted.clone();
        let found = repodata(
            downloader,
            artifact,
            filelists,
            "the file list metadata",
            move |reader| {
                let mut found: Vec<(String, String)> = Vec::new();
                metadata::parse_filelists(reader, &wanted, |id, path| {
                    found.push((id.to_string(), path))
                })
                .map_err(|error| error.to_string())?;
                Ok(found)
            },
        )
        .await?;
        let mut by_id: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (id, path) in found {
            by_id.entry(id).or_default().push(path);
        }
        for (index, package) in packages.iter_mut().enumerate() {
            if sources[index] != source {
                continue;
            }
            if let Some(paths) = package.sha256.and_then(|digest| by_id.get(&digest.hex())) {
                for path in paths {
                    if !package.files.contains(path) {
                        package.files.push(path.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Fetches the repodata file `data` names (checked against repomd's sha256, bounded by its
/// size) and parses it off the async workers with `parse`, decompressed. Errors name the URL
/// and `what` it is.
async fn repodata<T: Send + 'static>(
    downloader: &Downloader,
    artifact: &YumArtifact,
    data: &metadata::RepomdEntry,
    what: &str,
    parse: impl FnOnce(Box<dyn std::io::BufRead>) -> Result<T, String> + Send + 'static,
) -> Result<T, YumError> {
    let entry = &artifact.name;
    let url = format!("{}{}", artifact.url, data.location);
    let failed = |message: String, hint: String| YumError::Metadata {
        entry: entry.clone(),
        url: url.clone(),
        message,
        hint,
    };
    let Some(checksum) = data.checksum else {
        return Err(failed(
            format!(
                "has a {} checksum in repomd.xml; only sha256 is trusted",
                data.other_checksum.as_deref().unwrap_or("missing")
            ),
            "regenerate the repository with createrepo_c (sha256 is its default)".to_string(),
        ));
    };
    let fetched = downloader
        .fetch(
            &format!("yum {entry}"),
            entry,
            &url,
            Some(checksum),
            data.size
                .map_or(crate::limits::METADATA, crate::limits::pinned),
        )
        .await?;
    let blob = downloader.store.blob_path(&fetched.digest);
    let location = data.location.clone();
    tokio::task::spawn_blocking(move || parse(decompressed(&blob, &location)?))
        .await
        .map_err(|error| error.to_string())
        .and_then(|result| result)
        .map_err(|message| failed(message, format!("{what} is malformed")))
}

/// A repodata file of the store, decompressed as its name says (gz, xz, zst, bz2 or plain).
fn decompressed(
    blob: &std::path::Path,
    location: &str,
) -> Result<Box<dyn std::io::BufRead>, String> {
    let file = std::fs::File::open(blob).map_err(|error| error.to_string())?;
    let reader = BufReader::with_capacity(1 << 20, file);
    Ok(if location.ends_with(".gz") {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if location.ends_with(".xz") {
        Box::new(BufReader::new(lzma_rust2::XzReader::new(reader, true)))
    } else if location.ends_with(".zst") {
        Box::new(BufReader::new(
            ruzstd::decoding::StreamingDecoder::new(reader).map_err(|error| error.to_string())?,
        ))
    } else if location.ends_with(".bz2") {
        Box::new(BufReader::new(bzip2::bufread::MultiBzDecoder::new(reader)))
    } else {
        Box::new(reader)
    })
}

/// Fetches one pinned `.rpm` into the store, verified.
pub async fn fetch_rpm(
    downloader: &Downloader,
    yum: &LockedYum,
    rpm: &LockedRpm,
) -> Result<Fetched, FetchError> {
    let label = format!(
        "yum {} {}-{}-{}.{}",
        yum.name, rpm.name, rpm.version, rpm.release, rpm.arch
    );
    let url = crate::source::download::join_url(&yum.url, &rpm.location);
    downloader
        .fetch(
            &label,
            &yum.name,
            &url,
            Some(rpm.digest),
            crate::limits::pinned(rpm.size),
        )
        .await
}

impl crate::hint::Hint for YumError {
    fn hint(&self) -> Option<String> {
        match self {
            YumError::Fetch(inner) => crate::hint::Hint::hint(inner),
            YumError::Key { .. } => Some("give the repository's armored key (e.g. RPM-GPG-KEY-Rocky-9)".to_string()),
            YumError::Metadata { hint, .. } => Some(hint.to_string()),
            YumError::Module { .. } => Some("list module streams as `modules = [\"name:stream\"]`; without one, a module's default stream applies, as in dnf".to_string()),
            YumError::Unsatisfiable { .. } => Some("add the repository that has it, or list it in `exclude` if the nodes already have it".to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
