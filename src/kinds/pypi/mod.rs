//! `[[pypi]]`: Python packages for the enclave's admin host (Kubespray needs Ansible and its
//! requirements). A set is resolved as pip would install it on the target: for its Python
//! version and platforms, markers evaluated for that host, extras and `Requires-Python`
//! honoured, the newest version every requirement allows, the most specific compatible wheel
//! of it. Metadata comes from the index's `.metadata` files (PEP 658) where it offers them,
//! from the wheel otherwise. Every file is pinned by the sha256 the index gives, and checked
//! against it whenever its bytes are fetched.
//!
//! On the media, `pypi/<set>/files/` holds the files, `pypi/<set>/simple/` a static PEP 503
//! index of them (with `#sha256=` fragments), and `pypi/<set>/requirements.lock.txt` the closure
//! with `--hash` lines, so `pip install --require-hashes -r` works inside the enclave.

pub mod entry;
pub mod index;
mod kind;
pub mod metadata;
pub mod pin;
pub mod tags;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

pub use entry::{PypiArtifact, RawPypi};
pub use kind::Pypi;
pub use pin::{LockedDist, LockedPypi};

use crate::digest::Digest;
use crate::source::Downloader;
use index::IndexFile;
use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Requirement};

/// Where the sets go on the media.
pub const ROOT: &str = "pypi";
/// Resolution rounds before giving up (each settles more of the closure; a closure that keeps
/// changing is a conflict).
const ROUNDS: usize = 100;
/// The most projects one set may hold.
const PROJECTS: usize = 2_000;

/// Why a set could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum PypiError {
    #[error("pypi {set}: {project}: {message}")]
    Index {
        set: String,
        project: String,
        message: String,
    },
    /// No file of a project fits the target: what was wanted, by whom, and what was seen.
    #[error("pypi {set}: {message}")]
    NoFile { set: String, message: String },
    #[error("pypi {set}: {file}: {message}")]
    File {
        set: String,
        file: String,
        message: String,
    },
    #[error(transparent)]
    Fetch(#[from] crate::source::FetchError),
    #[error("pypi {set}: the requirements do not settle: {message}")]
    Conflict { set: String, message: String },
}

impl crate::hint::Hint for PypiError {
    fn hint(&self) -> Option<String> {
        match self {
            PypiError::NoFile { .. } => Some(
                "add the platform the project publishes wheels for to `platforms`, pin a version that has one, or allow source distributions with `sdist = true`"
                    .to_string(),
            ),
            PypiError::File { .. } => Some(
                "the index and its files disagree; check the index (or a proxy in front of it) before trusting any of its files"
                    .to_string(),
            ),
            PypiError::Conflict { .. } => Some(
                "pin the projects named above to versions that agree (`name==x.y`)".to_string(),
            ),
            PypiError::Index { .. } => Some(
                "check the project name and that the index is a PEP 503 simple index (its URL ends in /simple)"
                    .to_string(),
            ),
            PypiError::Fetch(error) => crate::hint::Hint::hint(error),
        }
    }
}

/// The host the set is for.
pub struct Target {
    pub python: (u32, u32, u32),
    pub platforms: Vec<String>,
    pub tags: Vec<String>,
    pub environment: MarkerEnvironment,
    pub sdist: bool,
}

impl Target {
    pub fn new(python: &str, platforms: &[String], sdist: bool) -> Option<Target> {
        let (major, minor, patch) = entry::parse_python(python)?;
        let machine = platforms
            .first()
            .and_then(|platform| tags::machine(platform))
            .unwrap_or_else(|| "x86_64".to_string());
        let version = format!("{major}.{minor}");
        let full = format!("{major}.{minor}.{patch}");
        let environment = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name: "posix",
            platform_machine: &machine,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: "Linux",
            platform_version: "",
            python_full_version: &full,
            python_version: &version,
            sys_platform: "linux",
        })
        .ok()?;
        Some(Target {
            python: (major, minor, patch),
            tags: tags::supported((major, minor), platforms),
            platforms: tags::expand(platforms),
            environment,
            sdist,
        })
    }

    fn python_version(&self) -> Version {
        Version::new([
            u64::from(self.python.0),
            u64::from(self.python.1),
            u64::from(self.python.2),
        ])
    }

    /// Whether a `Requires-Python` allows the target.
    fn allows(&self, requires_python: Option<&str>) -> bool {
        match requires_python {
            None => true,
            Some(text) => VersionSpecifiers::from_str(text)
                .map(|specifiers| specifiers.contains(&self.python_version()))
                // An unparseable one is ignored, as pip does.
                .unwrap_or(true),
        }
    }

    /// The rank of a file (lower is preferred), when the target can install it.
    fn rank(&self, filename: &str) -> Option<usize> {
        match tags::Filename::parse(filename)? {
            tags::Filename::Wheel { tags, .. } => tags
                .iter()
                .filter_map(|tag| self.tags.iter().position(|known| known == tag))
                .min(),
            tags::Filename::Sdist { .. } => self.sdist.then_some(usize::MAX),
        }
    }
}

/// What resolution reads from the index, fetched once per project and version.
struct Source<'a> {
    downloader: &'a Downloader,
    set: &'a str,
    index: &'a str,
    pages: BTreeMap<String, Vec<IndexFile>>,
    metadata: BTreeMap<(String, String), metadata::CoreMetadata>,
}

impl Source<'_> {
    async fn page(&mut self, project: &str) -> Result<&Vec<IndexFile>, PypiError> {
        if !self.pages.contains_key(project) {
            let url = index::project_url(self.index, project);
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(
                reqwest::header::ACCEPT,
                reqwest::header::HeaderValue::from_static(index::ACCEPT),
            );
            let fetched = self
                .downloader
                .fetch_with(
                    &format!("pypi {}", self.set),
                    project,
                    &url,
                    None,
                    index::PAGE_LIMIT,
                    &headers,
                )
                .await
                .map_err(|error| match error {
                    crate::source::FetchError::Status { status, .. }
                        if status == reqwest::StatusCode::NOT_FOUND =>
                    {
                        PypiError::Index {
                            set: self.set.to_string(),
                            project: project.to_string(),
                            message: format!("{url} answered 404: the index has no such project"),
                        }
                    }
                    other => PypiError::Fetch(other),
                })?;
            let path = self.downloader.store.blob_path(&fetched.digest);
            let body = crate::limits::read_bounded(&path, index::PAGE_LIMIT)
                .map_err(|error| self.index_error(project, error.to_string()))?;
            let text = String::from_utf8_lossy(&body);
            let files = index::parse(&url, &text)
                .map_err(|message| self.index_error(project, format!("{url}: {message}")))?;
            self.pages.insert(project.to_string(), files);
        }
        Ok(&self.pages[project])
    }

    fn index_error(&self, project: &str, message: String) -> PypiError {
        PypiError::Index {
            set: self.set.to_string(),
            project: project.to_string(),
            message,
        }
    }

    /// The core metadata of a file: the index's `.metadata` (checked against its hash) when
    /// it serves one, the wheel's own otherwise (checked against the file's hash).
    async fn metadata(
        &mut self,
        project: &str,
        version: &str,
        file: &IndexFile,
    ) -> Result<metadata::CoreMetadata, PypiError> {
        let key = (project.to_string(), version.to_string());
        if let Some(known) = self.metadata.get(&key) {
            return Ok(known.clone());
        }
        let artifact = format!("pypi {}", self.set);
        let parsed = match &file.metadata {
            Some(hash) => {
                let expected = match hash {
                    Some(hex) => Some(digest_of(hex).ok_or_else(|| {
                        self.file_error(file, "the index gives a malformed sha256 for its metadata")
                    })?),
                    None => None,
                };
                let url = format!("{}.metadata", file.url);
                let fetched = self
                    .downloader
                    .fetch(
                        &artifact,
                        &format!("{}.metadata", file.filename),
                        &url,
                        expected,
                        metadata::LIMIT,
                    )
                    .await?;
                let path = self.downloader.store.blob_path(&fetched.digest);
                let bytes = crate::limits::read_bounded(&path, metadata::LIMIT)
                    .map_err(|error| self.file_error(file, &error.to_string()))?;
                metadata::parse(&String::from_utf8_lossy(&bytes))
            }
            None => {
                let fetched = self.fetch_file(file).await?;
                let path = self.downloader.store.blob_path(&fetched.digest);
                match tags::Filename::parse(&file.filename) {
                    Some(tags::Filename::Wheel { .. }) => metadata::from_wheel(&path)
                        .map_err(|error| self.file_error(file, &error.to_string()))?,
                    _ => {
                        sdist_metadata(&path).map_err(|message| self.file_error(file, &message))?
                    }
                }
            }
        };
        if index::normalize(&parsed.name) != project {
            return Err(self.file_error(
                file,
                &format!(
                    "its metadata names the project `{}`",
                    parsed.name.escape_debug()
                ),
            ));
        }
        self.metadata.insert(key, parsed.clone());
        Ok(parsed)
    }

    /// Fetches a file into the store, checked against the index's sha256.
    async fn fetch_file(&self, file: &IndexFile) -> Result<crate::source::Fetched, PypiError> {
        let expected = self.file_sha256(file)?;
        let limit = file
            .size
            .map(crate::limits::pinned)
            .unwrap_or(crate::limits::UNPINNED_FILE);
        match self
            .downloader
            .fetch(
                &format!("pypi {}", self.set),
                &file.filename,
                &file.url,
                Some(expected),
                limit,
            )
            .await
        {
            Err(crate::source::FetchError::DigestMismatch(mismatch)) => Err(self.file_error(
                file,
                &format!(
                    "its bytes do not match the sha256 the index gives ({}); {mismatch}",
                    expected
                ),
            )),
            other => Ok(other?),
        }
    }

    fn file_sha256(&self, file: &IndexFile) -> Result<Digest, PypiError> {
        file.sha256.as_deref().and_then(digest_of).ok_or_else(|| {
            self.file_error(
                file,
                "the index gives no sha256 for it, and airgap pins files by the index's hash",
            )
        })
    }

    fn file_error(&self, file: &IndexFile, message: &str) -> PypiError {
        PypiError::File {
            set: self.set.to_string(),
            file: file.filename.clone(),
            message: message.to_string(),
        }
    }
}

fn digest_of(hex: &str) -> Option<Digest> {
    format!("sha256:{}", hex.to_ascii_lowercase()).parse().ok()
}

/// PKG-INFO of a source distribution, when it declares its dependencies (metadata 2.2 or
/// later, `Requires-Dist` not dynamic).
fn sdist_metadata(path: &std::path::Path) -> Result<metadata::CoreMetadata, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|error| error.to_string())?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().map_err(|error| error.to_string())? {
        let mut entry = entry.map_err(|error| error.to_string())?;
        let path = entry
            .path()
            .map_err(|error| error.to_string())?
            .to_string_lossy()
            .into_owned();
        if path.matches('/').count() == 1 && path.ends_with("/PKG-INFO") {
            let mut text = String::new();
            (&mut entry)
                .take(metadata::LIMIT)
                .read_to_string(&mut text)
                .map_err(|error| error.to_string())?;
            let version = text
                .lines()
                .find_map(|line| line.strip_prefix("Metadata-Version:"))
                .map(|value| value.trim().to_string())
                .unwrap_or_default();
            let dynamic = text.lines().any(|line| {
                line.strip_prefix("Dynamic:")
                    .is_some_and(|value| value.trim().eq_ignore_ascii_case("requires-dist"))
            });
            let modern =
                Version::from_str(&version).is_ok_and(|version| version >= Version::new([2, 2]));
            if !modern || dynamic {
                return Err("a source distribution whose PKG-INFO does not declare its dependencies (metadata 2.2, Requires-Dist not dynamic); only a build would tell them, and airgap builds nothing".to_string());
            }
            return Ok(metadata::parse(&text));
        }
    }
    Err("a source distribution without PKG-INFO".to_string())
}

/// What one project must satisfy: each requirement on it and who asked.
#[derive(Default, Clone)]
struct Wanted {
    requirements: Vec<(Requirement, String)>,
    extras: BTreeSet<ExtraName>,
}

impl Wanted {
    fn allows(&self, version: &Version) -> bool {
        self.requirements
            .iter()
            .all(|(requirement, _)| match &requirement.version_or_url {
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) => {
                    specifiers.contains(version)
                }
                _ => true,
            })
    }

    /// Pre-releases count only when a requirement names one (`>=2.0b1`).
    fn allows_prereleases(&self) -> bool {
        self.requirements
            .iter()
            .any(|(requirement, _)| match &requirement.version_or_url {
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) => specifiers
                    .iter()
                    .any(|specifier| specifier.any_prerelease()),
                _ => false,
            })
    }

    fn pinned_exactly(&self, version: &Version) -> bool {
        self.requirements
            .iter()
            .any(|(requirement, _)| match &requirement.version_or_url {
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) => {
                    specifiers.iter().any(|specifier| {
                        matches!(
                            specifier.operator(),
                            pep440_rs::Operator::Equal | pep440_rs::Operator::ExactEqual
                        ) && specifier.version() == version
                    })
                }
                _ => false,
            })
    }

    fn describe(&self) -> (String, String) {
        let specifiers: Vec<String> = self
            .requirements
            .iter()
            .filter_map(|(requirement, _)| match &requirement.version_or_url {
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers))
                    if !specifiers.is_empty() =>
                {
                    Some(specifiers.to_string())
                }
                _ => None,
            })
            .collect();
        let by: BTreeSet<&str> = self
            .requirements
            .iter()
            .map(|(_, by)| by.as_str())
            .collect();
        (
            if specifiers.is_empty() {
                "(any version)".to_string()
            } else {
                specifiers.join(", ")
            },
            by.into_iter().collect::<Vec<_>>().join(", "),
        )
    }
}

/// A project's chosen version and file.
#[derive(Clone)]
struct Choice {
    version: Version,
    file: IndexFile,
    metadata: metadata::CoreMetadata,
}

/// Resolves a set into its pin.
pub async fn resolve(
    downloader: &Downloader,
    artifact: &PypiArtifact,
) -> Result<LockedPypi, PypiError> {
    let target =
        Target::new(&artifact.python, &artifact.platforms, artifact.sdist).ok_or_else(|| {
            PypiError::Conflict {
                set: artifact.name.clone(),
                message: format!("`{}` is not a Python version", artifact.python),
            }
        })?;
    let mut source = Source {
        downloader,
        set: &artifact.name,
        index: &artifact.index,
        pages: BTreeMap::new(),
        metadata: BTreeMap::new(),
    };
    let roots: Vec<Requirement> = artifact
        .requirements
        .iter()
        .filter_map(|text| entry::parse_requirement(text).ok())
        .collect();
    let mut chosen: BTreeMap<String, Choice> = BTreeMap::new();
    // The extras asked of each project so far (they reach it through requirements on it).
    let mut extras_of: BTreeMap<String, BTreeSet<ExtraName>> = BTreeMap::new();
    for round in 0.. {
        if round == ROUNDS {
            return Err(PypiError::Conflict {
                set: artifact.name.clone(),
                message: format!(
                    "after {ROUNDS} rounds the choice of {} still changes",
                    chosen.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        // What every requirement in force asks of each project: the roots', then those of
        // the versions chosen so far (with the extras asked of them).
        let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
        let mut add = |requirement: &Requirement, by: &str, extras: &[ExtraName]| {
            if requirement.evaluate_markers(&target.environment, extras) {
                let entry = wanted
                    .entry(index::normalize(requirement.name.as_ref()))
                    .or_default();
                entry
                    .requirements
                    .push((requirement.clone(), by.to_string()));
                entry.extras.extend(requirement.extras.iter().cloned());
            }
        };
        for requirement in &roots {
            add(requirement, "the set's requirements", &[]);
        }
        for (project, choice) in &chosen {
            // Only the extras the distribution declares count, as pip ignores the others.
            let provided: BTreeSet<String> = choice
                .metadata
                .provides_extra
                .iter()
                .map(|extra| index::normalize(extra))
                .collect();
            let extras: Vec<ExtraName> = extras_of
                .get(project)
                .into_iter()
                .flatten()
                .filter(|extra| provided.contains(&index::normalize(extra.as_ref())))
                .cloned()
                .collect();
            let by = format!("{project} {}", choice.version);
            for text in &choice.metadata.requires_dist {
                let Ok(requirement) = entry::parse_requirement(text) else {
                    continue;
                };
                add(&requirement, &by, &extras);
            }
        }
        if wanted.len() > PROJECTS {
            return Err(PypiError::Conflict {
                set: artifact.name.clone(),
                message: format!("more than {PROJECTS} projects"),
            });
        }
        let mut changed = false;
        for (project, want) in &wanted {
            let known = extras_of.entry(project.clone()).or_default();
            for extra in &want.extras {
                changed |= known.insert(extra.clone());
            }
        }
        chosen.retain(|project, _| {
            let keep = wanted.contains_key(project);
            changed |= !keep;
            keep
        });
        for (project, want) in &wanted {
            if chosen
                .get(project)
                .is_some_and(|choice| want.allows(&choice.version))
            {
                continue;
            }
            let choice = choose(&mut source, &target, artifact, project, want).await?;
            chosen.insert(project.clone(), choice);
            changed = true;
        }
        if !changed {
            break;
        }
    }
    let mut packages = Vec::new();
    for (project, choice) in chosen {
        let sha256 = source.file_sha256(&choice.file)?;
        let size = match choice.file.size {
            Some(size) => size,
            None => size_of(&source, &choice.file).await?,
        };
        packages.push(LockedDist {
            name: project,
            version: choice.version.to_string(),
            filename: choice.file.filename.clone(),
            url: choice.file.url.clone(),
            sha256,
            size,
            requires_python: choice.file.requires_python.clone(),
        });
    }
    Ok(LockedPypi {
        name: artifact.name.clone(),
        index: artifact.index.clone(),
        python: artifact.python.clone(),
        platforms: artifact.platforms.clone(),
        sdist: artifact.sdist,
        requirements: artifact.requirements.clone(),
        packages,
    })
}

/// The size of a file the index gives none for: `Content-Length` of a `HEAD`, or, when the
/// server does not say, the file fetched (and checked).
async fn size_of(source: &Source<'_>, file: &IndexFile) -> Result<u64, PypiError> {
    let head = source
        .downloader
        .client
        .head(&file.url)
        .timeout(std::time::Duration::from_secs(60))
        .send()
        .await;
    if let Ok(response) = head
        && response.status().is_success()
        && let Some(length) = response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
    {
        return Ok(length);
    }
    Ok(source.fetch_file(file).await?.size)
}

/// The newest version of `project` that every requirement allows and that has a file the
/// target takes, with its best file and metadata.
async fn choose(
    source: &mut Source<'_>,
    target: &Target,
    artifact: &PypiArtifact,
    project: &str,
    want: &Wanted,
) -> Result<Choice, PypiError> {
    let files = source.page(project).await?.clone();
    let mut by_version: BTreeMap<Version, Vec<IndexFile>> = BTreeMap::new();
    for file in files {
        // The file name becomes a media path: only a plain name (no `/`, no `..`).
        if !crate::manifest::validate::is_name(&file.filename) {
            continue;
        }
        let version = match tags::Filename::parse(&file.filename) {
            Some(tags::Filename::Wheel {
                project: name,
                version,
                ..
            })
            | Some(tags::Filename::Sdist {
                project: name,
                version,
            }) => {
                if index::normalize(&name) != project {
                    continue;
                }
                version
            }
            None => continue,
        };
        if let Ok(version) = Version::from_str(&version) {
            by_version.entry(version).or_default().push(file);
        }
    }
    let prereleases = want.allows_prereleases();
    let mut newest_without_file: Option<(Version, Vec<String>)> = None;
    for (version, files) in by_version.iter().rev() {
        if !want.allows(version) || (version.any_prerelease() && !prereleases) {
            continue;
        }
        let usable: Vec<&IndexFile> = files
            .iter()
            .filter(|file| !file.yanked || want.pinned_exactly(version))
            .filter(|file| target.allows(file.requires_python.as_deref()))
            .collect();
        let best = usable
            .iter()
            .filter_map(|file| target.rank(&file.filename).map(|rank| (rank, *file)))
            .min_by_key(|(rank, file)| (*rank, file.filename.clone()));
        match best {
            Some((_, file)) => {
                let metadata = source.metadata(project, &version.to_string(), file).await?;
                if !target.allows(metadata.requires_python.as_deref()) {
                    continue;
                }
                return Ok(Choice {
                    version: version.clone(),
                    file: file.clone(),
                    metadata,
                });
            }
            None => {
                if newest_without_file.is_none() {
                    newest_without_file = Some((
                        version.clone(),
                        files.iter().map(|file| file.filename.clone()).collect(),
                    ));
                }
            }
        }
    }
    let (wanted, by) = want.describe();
    let seen = match newest_without_file {
        Some((version, names)) => format!(
            "the newest allowed, {version}, has only: {}; looked for wheels tagged {} (and {} more)",
            names.join(", "),
            target
                .tags
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            target.tags.len().saturating_sub(3)
        ),
        None => {
            "the index lists no version that the requirements and Requires-Python allow".to_string()
        }
    };
    Err(PypiError::NoFile {
        set: artifact.name.clone(),
        message: format!(
            "no file of {project} {wanted} fits Python {} on {} (needed by {by}); {seen}",
            artifact.python,
            artifact.platforms.join(", ")
        ),
    })
}

/// A set's media paths.
pub fn file_path(set: &LockedPypi, dist: &LockedDist) -> String {
    format!("{ROOT}/{}/files/{}", set.name, dist.filename)
}

/// The static index and the locked requirements of a set: (media path, text).
pub fn index_files(set: &LockedPypi) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut root = String::from(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Simple index</title></head><body>\n",
    );
    let projects: BTreeMap<&str, Vec<&LockedDist>> =
        set.packages.iter().fold(BTreeMap::new(), |mut map, dist| {
            map.entry(dist.name.as_str())
                .or_insert_with(Vec::new)
                .push(dist);
            map
        });
    for (project, dists) in &projects {
        root.push_str(&format!("<a href=\"{project}/\">{project}</a><br>\n"));
        let mut page = format!(
            "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Links for {project}</title></head><body>\n<h1>Links for {project}</h1>\n"
        );
        for dist in dists {
            let requires = dist
                .requires_python
                .as_deref()
                .map(|text| format!(" data-requires-python=\"{}\"", html_escape(text)))
                .unwrap_or_default();
            page.push_str(&format!(
                "<a href=\"../../files/{}#sha256={}\"{requires}>{}</a><br>\n",
                dist.filename,
                dist.sha256.hex(),
                dist.filename
            ));
        }
        page.push_str("</body></html>\n");
        files.push((
            format!("{ROOT}/{}/simple/{project}/index.html", set.name),
            page,
        ));
    }
    root.push_str("</body></html>\n");
    files.push((format!("{ROOT}/{}/simple/index.html", set.name), root));
    let mut lock = format!(
        "# The closure of the pypi set `{}` for Python {} on {}, as airgap.lock pins it.\n# pip install --require-hashes -r requirements.lock.txt (with config/pip/pip.conf)\n",
        set.name,
        set.python,
        set.platforms.join(", ")
    );
    for dist in &set.packages {
        lock.push_str(&format!(
            "{}=={} \\\n    --hash=sha256:{}\n",
            dist.name,
            dist.version,
            dist.sha256.hex()
        ));
    }
    files.push((format!("{ROOT}/{}/requirements.lock.txt", set.name), lock));
    files
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
