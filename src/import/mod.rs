//! `airgap import kubespray`: the download list of a Kubespray release, derived from
//! Kubespray's own data (`roles/kubespray_defaults`: the `downloads:` table, the URL and image
//! variables, the checksums) evaluated as Ansible would for a configuration, and written as
//! manifest entries.
//!
//! Depends on `reference` (image names); `commands::import` calls it. Reads a Kubespray work
//! tree, or a bare repository (the media's `git/kubespray.git`) through the `git` program.

pub mod ansible;
pub mod downloads;
pub mod packages;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use minijinja::value::{Value, ValueKind};

use ansible::{EvalError, Vars, truthy};

const DEFAULTS: &str = "roles/kubespray_defaults/defaults";
const VARS: &str = "roles/kubespray_defaults/vars";

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub source: PathBuf,
    /// The revision of a bare repository (default HEAD).
    pub revision: Option<String>,
    pub kube_version: Option<String>,
    /// Kubespray's `image_arch` names: amd64, arm64, ...
    pub arches: Vec<String>,
    /// `--set KEY=VALUE`, values read as YAML scalars.
    pub sets: Vec<(String, String)>,
    /// An inventory directory whose group_vars override the defaults.
    pub inventory: Option<PathBuf>,
    /// Every download Kubespray knows, not only the enabled ones.
    pub all: bool,
    /// The nodes' operating system (`debian-12`, `rocky-9`): its OS packages become an
    /// `[[apt]]` or `[[yum]]` entry.
    pub os: Option<String>,
    /// The admin host's Python (`3.11`): the checkout's `requirements.txt` becomes a
    /// `[[pypi]]` entry.
    pub python: Option<String>,
}

/// Why the import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {message}")]
    Source { path: String, message: String },
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("{0}")]
    Eval(#[from] EvalError),
    #[error("{0}")]
    Invalid(String),
}

/// A Kubespray file download, per architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    pub key: String,
    /// The URL variable as Kubespray's `downloads:` names it.
    pub variable: String,
    /// (arch, url, sha256 or empty)
    pub per_arch: Vec<(String, String, String)>,
}

/// A container image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedImage {
    pub key: String,
    pub reference: String,
}

/// The result of an import.
#[derive(Debug, Default)]
pub struct Imported {
    pub kube_version: String,
    pub arches: Vec<String>,
    pub revision: Option<String>,
    pub files: Vec<ImportedFile>,
    pub images: Vec<ImportedImage>,
    /// The OS packages Kubespray installs on `--os`'s nodes.
    pub os_packages: Option<(packages::System, Vec<String>)>,
    /// `--python`: the Python version and the requirement lines of `requirements.txt`.
    pub python: Option<(String, Vec<String>)>,
}

/// Where Kubespray's data is read from.
enum Tree {
    Work(PathBuf),
    Bare {
        git_dir: PathBuf,
        revision: String,
    },
    /// The Kubespray release this binary carries ([`EMBEDDED`]).
    Embedded,
}

/// Kubespray v2.31.0's defaults (`data/kubespray-v2.31.0`, unchanged), carried in the binary
/// so that `render` knows Kubespray's downloads without a checkout.
const EMBEDDED: [(&str, &str); 6] = [
    (
        "roles/kubespray_defaults/defaults/main/download.yml",
        include_str!(
            "../../data/kubespray-v2.31.0/roles_kubespray_defaults_defaults_main_download.yml"
        ),
    ),
    (
        "roles/kubespray_defaults/defaults/main/main.yml",
        include_str!(
            "../../data/kubespray-v2.31.0/roles_kubespray_defaults_defaults_main_main.yml"
        ),
    ),
    (
        "roles/kubespray_defaults/vars/main/checksums.yml",
        include_str!(
            "../../data/kubespray-v2.31.0/roles_kubespray_defaults_vars_main_checksums.yml"
        ),
    ),
    (
        "roles/kubespray_defaults/vars/main/main.yml",
        include_str!("../../data/kubespray-v2.31.0/roles_kubespray_defaults_vars_main_main.yml"),
    ),
    (
        "roles/system_packages/vars/main.yml",
        include_str!("../../data/kubespray-v2.31.0/roles_system_packages_vars_main.yml"),
    ),
    (
        "roles/system_packages/defaults/main.yml",
        include_str!("../../data/kubespray-v2.31.0/roles_system_packages_defaults_main.yml"),
    ),
];

impl Tree {
    fn open(options: &Options) -> Result<Tree, ImportError> {
        let source = &options.source;
        if source.join(DEFAULTS).is_dir() {
            return Ok(Tree::Work(source.clone()));
        }
        if source.join("HEAD").is_file() && source.join("objects").is_dir() {
            return Ok(Tree::Bare {
                git_dir: source.clone(),
                revision: options
                    .revision
                    .clone()
                    .unwrap_or_else(|| "HEAD".to_string()),
            });
        }
        Err(ImportError::Source {
            path: source.display().to_string(),
            message: format!("has no {DEFAULTS}"),
        })
    }

    /// The `.yml` files below `directory`, sorted, as (path, text).
    fn files(&self, directory: &str) -> Result<Vec<(String, String)>, ImportError> {
        let mut files = Vec::new();
        match self {
            Tree::Embedded => {
                for (path, text) in EMBEDDED {
                    if path.starts_with(&format!("{directory}/")) {
                        files.push((format!("(built in) {path}"), text.to_string()));
                    }
                }
            }
            Tree::Work(root) => {
                for entry in walkdir::WalkDir::new(root.join(directory))
                    .sort_by_file_name()
                    .into_iter()
                    .flatten()
                {
                    let path = entry.path();
                    if entry.file_type().is_file()
                        && path
                            .extension()
                            .is_some_and(|extension| extension == "yml" || extension == "yaml")
                    {
                        let text =
                            std::fs::read_to_string(path).map_err(|error| ImportError::Source {
                                path: path.display().to_string(),
                                message: error.to_string(),
                            })?;
                        files.push((path.display().to_string(), text));
                    }
                }
            }
            Tree::Bare { git_dir, revision } => {
                let listed = git(
                    git_dir,
                    &["ls-tree", "-r", "--name-only", revision, "--", directory],
                )?;
                let mut names: Vec<&str> = listed
                    .lines()
                    .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
                    .collect();
                names.sort();
                for name in names {
                    let text = git(git_dir, &["show", &format!("{revision}:{name}")])?;
                    files.push((format!("{}:{name}", git_dir.display()), text));
                }
            }
        }
        Ok(files)
    }

    /// A file at the top of the checkout (`requirements.txt`).
    fn top_file(&self, name: &str) -> Result<String, ImportError> {
        match self {
            Tree::Embedded => Err(ImportError::Invalid(format!(
                "the built-in Kubespray data has no {name}; give a Kubespray checkout"
            ))),
            Tree::Work(root) => {
                let path = root.join(name);
                crate::limits::read_bounded(&path, 1 << 20)
                    .map_err(|error| error.to_string())
                    .and_then(|bytes| {
                        String::from_utf8(bytes).map_err(|_| "is not UTF-8".to_string())
                    })
                    .map_err(|message| ImportError::Source {
                        path: path.display().to_string(),
                        message,
                    })
            }
            Tree::Bare { git_dir, revision } => {
                git(git_dir, &["show", &format!("{revision}:{name}")])
            }
        }
    }

    fn revision(&self) -> Option<String> {
        match self {
            Tree::Embedded => None,
            Tree::Work(root) => git(&root.join(".git"), &["rev-parse", "HEAD"])
                .ok()
                .map(|text| text.trim().to_string()),
            Tree::Bare { git_dir, revision } => git(git_dir, &["rev-parse", revision])
                .ok()
                .map(|text| text.trim().to_string()),
        }
    }
}

fn git(git_dir: &Path, args: &[&str]) -> Result<String, ImportError> {
    crate::git_process::run(Some(git_dir), None, args, crate::limits::Pace::DEFAULT).map_err(
        |error| ImportError::Source {
            path: git_dir.display().to_string(),
            message: error.to_string(),
        },
    )
}

type Layer = HashMap<String, yaml_serde::Value>;

fn parse_layer(files: &[(String, String)]) -> Result<Layer, ImportError> {
    let mut layer = Layer::new();
    for (file, text) in files {
        let parsed: Option<Layer> =
            yaml_serde::from_str(text).map_err(|error| ImportError::Yaml {
                file: file.clone(),
                message: error.to_string(),
            })?;
        layer.extend(parsed.unwrap_or_default());
    }
    Ok(layer)
}

/// Ansible's `ansible_architecture` fact for an `image_arch`.
fn machine(arch: &str) -> &str {
    match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "arm" => "armv7l",
        other => other,
    }
}

/// Evaluates Kubespray's downloads for the options.
pub fn import(options: &Options) -> Result<Imported, ImportError> {
    import_tree(&Tree::open(options)?, options)
}

fn import_tree(tree: &Tree, options: &Options) -> Result<Imported, ImportError> {
    let defaults = parse_layer(&tree.files(DEFAULTS)?)?;
    let role_vars = parse_layer(&tree.files(VARS)?)?;
    let mut inventory = Layer::new();
    if let Some(directory) = &options.inventory {
        for group in ["all", "k8s_cluster"] {
            let mut files = Vec::new();
            for candidate in [
                directory.join("group_vars").join(format!("{group}.yml")),
                directory.join("group_vars").join(format!("{group}.yaml")),
            ] {
                if candidate.is_file() {
                    files.push((
                        candidate.display().to_string(),
                        std::fs::read_to_string(&candidate).unwrap_or_default(),
                    ));
                }
            }
            files.extend(Tree::Work(directory.clone()).files(&format!("group_vars/{group}"))?);
            inventory.extend(parse_layer(&files)?);
        }
    }
    let mut extra = Layer::new();
    for (key, value) in &options.sets {
        let parsed: yaml_serde::Value =
            yaml_serde::from_str(value).unwrap_or(yaml_serde::Value::String(value.clone()));
        extra.insert(key.clone(), parsed);
    }
    if let Some(version) = &options.kube_version {
        extra.insert(
            "kube_version".to_string(),
            yaml_serde::Value::String(version.trim_start_matches('v').to_string()),
        );
    }
    let downloads = defaults
        .get("downloads")
        .and_then(yaml_serde::Value::as_mapping)
        .cloned()
        .ok_or_else(|| ImportError::Source {
            path: options.source.display().to_string(),
            message: format!("{DEFAULTS} defines no `downloads:` table"),
        })?;
    let arches = if options.arches.is_empty() {
        vec!["amd64".to_string()]
    } else {
        options.arches.clone()
    };

    let mut imported = Imported {
        arches: arches.clone(),
        revision: tree.revision(),
        ..Imported::default()
    };
    let mut files: BTreeMap<String, ImportedFile> = BTreeMap::new();
    let mut images: Vec<ImportedImage> = Vec::new();
    for arch in &arches {
        let mut facts = Layer::new();
        for (name, value) in [
            ("ansible_architecture", machine(arch)),
            ("ansible_system", "Linux"),
            ("ansible_os_family", "Debian"),
            ("ansible_distribution", "Debian"),
            ("inventory_hostname", "node1"),
        ] {
            facts.insert(
                name.to_string(),
                yaml_serde::Value::String(value.to_string()),
            );
        }
        let vars = Vars::new(vec![
            facts,
            defaults.clone(),
            inventory.clone(),
            role_vars.clone(),
            extra.clone(),
        ]);
        let image_arch = vars.get("image_arch")?.to_string();
        if &image_arch != arch {
            return Err(ImportError::Invalid(format!(
                "--arch {arch}: Kubespray computes image_arch {image_arch} for it; use Kubespray's names (amd64, arm64, ppc64le, s390x)"
            )));
        }
        imported.kube_version = vars.get("kube_version")?.to_string();
        for (key, entry) in &downloads {
            let Some(key) = key.as_str() else { continue };
            let Some(entry) = entry.as_mapping() else {
                continue;
            };
            let field = |name: &str| entry.get(name).cloned();
            let evaluate = |name: &str| -> Result<Option<Value>, ImportError> {
                match field(name) {
                    None => Ok(None),
                    Some(raw) => Ok(Some(
                        vars.evaluate(&format!("downloads.{key}.{name}"), &raw)?,
                    )),
                }
            };
            let enabled = options.all || evaluate("enabled")?.is_some_and(|value| truthy(&value));
            if !enabled {
                continue;
            }
            let is_file = evaluate("file")?.is_some_and(|value| truthy(&value));
            let is_container = evaluate("container")?.is_some_and(|value| truthy(&value));
            if (is_file || options.all) && field("url").is_some() {
                let url = text(evaluate("url")?);
                let checksum = text(evaluate("checksum")?);
                if url.is_empty() {
                    return Err(ImportError::Invalid(format!(
                        "downloads.{key}.url evaluates to nothing"
                    )));
                }
                let variable = field("url")
                    .and_then(|raw| raw.as_str().map(str::to_string))
                    .map(|raw| {
                        raw.trim()
                            .trim_start_matches("{{")
                            .trim_end_matches("}}")
                            .trim()
                            .to_string()
                    })
                    .unwrap_or_default();
                let checksum = if checksum.starts_with("sha256:")
                    || (checksum.len() == 64 && checksum.chars().all(|c| c.is_ascii_hexdigit()))
                {
                    checksum
                } else {
                    String::new()
                };
                files
                    .entry(key.to_string())
                    .or_insert_with(|| ImportedFile {
                        key: key.to_string(),
                        variable,
                        per_arch: Vec::new(),
                    })
                    .per_arch
                    .push((arch.clone(), url, checksum));
            }
            if (is_container || options.all) && field("repo").is_some() && field("tag").is_some() {
                let repo = text(evaluate("repo")?);
                let tag = text(evaluate("tag")?);
                push_image(&mut images, key, &repo, &tag)?;
            }
        }
        // kubeadm pulls the control plane images itself; they are not in `downloads:`.
        let repo = text(Some(
            vars.get("kubeadm_image_repo")
                .or_else(|_| vars.get("kube_image_repo"))?,
        ));
        for component in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kube-proxy",
        ] {
            push_image(
                &mut images,
                &format!("kubeadm {component}"),
                &format!("{repo}/{component}"),
                &format!("v{}", imported.kube_version),
            )?;
        }
    }
    imported.files = files.into_values().collect();
    imported.images = images;
    if let Some(name) = &options.os {
        let system = packages::system(name)?;
        let role_defaults = parse_layer(&tree.files(packages::DEFAULTS)?)?;
        let role = parse_layer(&tree.files(packages::VARS)?)?;
        let pkgs = role
            .get("pkgs")
            .and_then(yaml_serde::Value::as_mapping)
            .cloned()
            .ok_or_else(|| ImportError::Source {
                path: options.source.display().to_string(),
                message: format!("{} defines no `pkgs:` table", packages::VARS),
            })?;
        // Ansible's precedence: role defaults, inventory, facts, role vars, extra vars.
        let vars = Vars::new(vec![
            defaults.clone(),
            role_defaults,
            inventory.clone(),
            packages::facts(&system),
            role_vars.clone(),
            role,
            extra.clone(),
        ]);
        let names = packages::selected(&pkgs, &vars)?;
        imported.os_packages = Some((system, names));
    }
    if let Some(python) = &options.python {
        if crate::kinds::pypi::entry::parse_python(python).is_none() {
            return Err(ImportError::Invalid(format!(
                "--python {python} is not a Python version (write X.Y, e.g. 3.11)"
            )));
        }
        let text = tree.top_file("requirements.txt")?;
        let mut requirements = Vec::new();
        for (line, requirement) in crate::kinds::pypi::entry::requirement_lines(&text) {
            let normalized = crate::kinds::pypi::entry::normalize_requirement(&requirement)
                .map_err(|message| ImportError::Source {
                    path: format!("requirements.txt:{line}"),
                    message,
                })?;
            requirements.push(normalized);
        }
        imported.python = Some((python.clone(), requirements));
    }
    Ok(imported)
}

fn text(value: Option<Value>) -> String {
    match value {
        None => String::new(),
        Some(value) if value.is_undefined() || value.is_none() => String::new(),
        Some(value) if value.kind() == ValueKind::String => {
            value.as_str().unwrap_or_default().trim().to_string()
        }
        Some(value) => value.to_string().trim().to_string(),
    }
}

fn push_image(
    images: &mut Vec<ImportedImage>,
    key: &str,
    repo: &str,
    tag: &str,
) -> Result<(), ImportError> {
    if repo.is_empty() || tag.is_empty() {
        return Err(ImportError::Invalid(format!(
            "downloads.{key}: the image evaluates to `{repo}:{tag}`"
        )));
    }
    let reference = format!("{repo}:{tag}");
    crate::oci::reference::Reference::parse(&reference).map_err(|message| {
        ImportError::Invalid(format!("downloads.{key}: `{reference}` {message}"))
    })?;
    if !images.iter().any(|image| image.reference == reference) {
        images.push(ImportedImage {
            key: key.to_string(),
            reference,
        });
    }
    Ok(())
}

/// The manifest text: one `[[file]]` per download (one URL with `{arch}` when the
/// architectures differ only there), one `[[image]]` per image, each with a comment naming
/// Kubespray's download key.
pub fn manifest(imported: &Imported, command: &str) -> String {
    let quote = |text: &str| toml::Value::String(text.to_string()).to_string();
    let mut out = String::new();
    out.push_str("# Generated by `airgap import kubespray`; do not edit, run it again:\n");
    out.push_str(&format!("#   {command}\n"));
    out.push_str(&format!(
        "# Kubespray{}, kube_version {}, architectures {}.\n",
        imported
            .revision
            .as_ref()
            .map(|revision| format!(" at {revision}"))
            .unwrap_or_default(),
        imported.kube_version,
        imported.arches.join(", ")
    ));
    for file in &imported.files {
        out.push('\n');
        out.push_str(&format!(
            "# kubespray download `{}` ({})\n",
            file.key, file.variable
        ));
        let first = &file.per_arch[0];
        let same_everywhere = file.per_arch.iter().all(|(_, url, _)| url == &first.1);
        if same_everywhere {
            out.push_str(&format!(
                "[[file]]\nname = {}\nurl = {}\n",
                quote(&file.key),
                quote(&first.1)
            ));
            if !first.2.is_empty() {
                out.push_str(&format!("sha256 = {}\n", quote(&first.2)));
            }
            continue;
        }
        let template = [first.0.as_str(), machine(&first.0)]
            .into_iter()
            .map(|token| (token, first.1.replace(token, "{arch}")))
            .find(|(token, template)| {
                template.contains("{arch}")
                    && file.per_arch.iter().all(|(arch, url, _)| {
                        let name = if *token == first.0 {
                            arch.as_str()
                        } else {
                            machine(arch)
                        };
                        &template.replace("{arch}", name) == url
                    })
            });
        match template {
            Some((token, template)) => {
                let names: Vec<&str> = file
                    .per_arch
                    .iter()
                    .map(|(arch, _, _)| {
                        if token == first.0 {
                            arch.as_str()
                        } else {
                            machine(arch)
                        }
                    })
                    .collect();
                out.push_str(&format!(
                    "[[file]]\nname = {}\nurl = {}\narch = [{}]\n",
                    quote(&file.key),
                    quote(&template),
                    names
                        .iter()
                        .map(|name| quote(name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                if file.per_arch.iter().all(|(_, _, sum)| !sum.is_empty()) {
                    let sums: Vec<String> = file
                        .per_arch
                        .iter()
                        .zip(&names)
                        .map(|((_, _, sum), name)| format!("{name} = {}", quote(sum)))
                        .collect();
                    out.push_str(&format!("sha256 = {{ {} }}\n", sums.join(", ")));
                }
            }
            None => {
                for (index, (arch, url, sum)) in file.per_arch.iter().enumerate() {
                    if index > 0 {
                        out.push('\n');
                    }
                    out.push_str(&format!(
                        "[[file]]\nname = {}\nurl = {}\n",
                        quote(&format!("{}-{arch}", file.key)),
                        quote(url)
                    ));
                    if !sum.is_empty() {
                        out.push_str(&format!("sha256 = {}\n", quote(sum)));
                    }
                }
            }
        }
    }
    if let Some((system, names)) = &imported.os_packages {
        let list = names
            .iter()
            .map(|name| quote(name))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "\n# Kubespray's OS packages for {} nodes (roles/system_packages `pkgs`, evaluated\n# for {} {}). The repository is yours: set `url` and the key, then lock.\n",
            system.name, system.distribution, system.version
        ));
        match system.manager {
            packages::Manager::Apt => {
                let architectures: Vec<String> =
                    imported.arches.iter().map(|arch| quote(arch)).collect();
                let (mirror, keyring) = if system.distribution == "Ubuntu" {
                    (
                        "http://archive.ubuntu.com/ubuntu",
                        "keys/ubuntu-archive-keyring.gpg",
                    )
                } else {
                    (
                        "http://deb.debian.org/debian",
                        "keys/debian-archive-keyring.gpg",
                    )
                };
                out.push_str(&format!(
                    "[[apt]]\nname = {}\n# url = \"{mirror}\"\nsuite = {}\ncomponents = [\"main\"]\narchitectures = [{}]\n# keyring = \"{keyring}\"\npackages = [{list}]\n",
                    quote(&system.name),
                    quote(system.codename.unwrap_or_default()),
                    architectures.join(", ")
                ));
            }
            packages::Manager::Yum => {
                for arch in &imported.arches {
                    let name = if imported.arches.len() == 1 {
                        system.name.clone()
                    } else {
                        format!("{}-{arch}", system.name)
                    };
                    out.push_str(&format!(
                        "[[yum]]\nname = {}\n# url = \"https://mirror.example/{}/{}/BaseOS/{}/os/\"\narch = {}\n# gpgkey = \"keys/RPM-GPG-KEY-{}\"\npackages = [{list}]\n",
                        quote(&name),
                        system.distribution.to_ascii_lowercase(),
                        system.major,
                        machine(arch),
                        quote(machine(arch)),
                        system.distribution
                    ));
                }
            }
        }
    }
    if let Some((python, requirements)) = &imported.python {
        // The admin host is usually the first architecture's; its glibc is assumed recent
        // enough for manylinux_2_28 (Debian 11, Ubuntu 20.04, RHEL 9 and later).
        let platform = format!(
            "manylinux_2_28_{}",
            machine(
                imported
                    .arches
                    .first()
                    .map(String::as_str)
                    .unwrap_or("amd64")
            )
        );
        let list: Vec<String> = requirements.iter().map(|line| quote(line)).collect();
        out.push('\n');
        out.push_str(
            "# Kubespray's requirements.txt: Ansible and what it needs on the admin host.\n",
        );
        out.push_str(&format!(
            "[[pypi]]\nname = \"kubespray-admin\"\nindex = \"https://pypi.org/simple\"\npackages = [{}]\npython = {}\nplatforms = [{}]\n",
            list.join(", "),
            quote(python),
            quote(&platform)
        ));
    }
    let platforms: Vec<String> = imported
        .arches
        .iter()
        .map(|arch| quote(&format!("linux/{arch}")))
        .collect();
    for image in &imported.images {
        out.push('\n');
        out.push_str(&format!("# kubespray download `{}`\n", image.key));
        out.push_str(&format!(
            "[[image]]\nref = {}\nplatforms = [{}]\n",
            quote(&image.reference),
            platforms.join(", ")
        ));
    }
    out
}

impl crate::hint::Hint for ImportError {
    fn hint(&self) -> Option<String> {
        match self {
            ImportError::Source { .. } => Some("give a Kubespray checkout (the directory holding roles/) or a bare repository of one".to_string()),
            ImportError::Eval(..) => Some("check the variable (and --set/--inventory values it depends on); a value airgap cannot evaluate is never dropped silently".to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
