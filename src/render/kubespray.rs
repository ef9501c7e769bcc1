//! What Kubespray must be told to install from the media: which files of the lock are the
//! binaries Kubespray downloads (by their URL layout: Kubespray's `downloads:` table and
//! `*_download_url` variables, derived by `import::downloads` from the Kubespray release the
//! binary carries), the versions those URLs name, and the checksums Kubespray checks them
//! against.
//!
//! A file is recognised by its path on the media (Kubespray's `files_repo` layout,
//! `<host>/<upstream path>`), not by its upstream host, so a file fetched through an internal
//! proxy with the same paths is recognised too.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use serde::Serialize;

use crate::kinds::file::LockedFile;

/// One binary Kubespray downloads: Kubespray's own download table, derived from the defaults
/// this binary carries by the same evaluator `airgap import kubespray` uses.
type Binary = crate::import::downloads::Download;

/// Kubespray's download table, derived once.
fn binaries() -> &'static [Binary] {
    static TABLE: std::sync::OnceLock<Vec<Binary>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        crate::import::downloads::builtin()
            .expect("the Kubespray data built into airgap evaluates (a unit test checks it)")
    })
}

/// A placeholder of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Literal(String),
    Variable(String),
    Arch,
    Architecture,
    System,
    Static,
}

fn slots(path: &str) -> Vec<Slot> {
    let mut slots = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            slots.push(Slot::Literal(rest[..open].to_string()));
        }
        let close = rest[open..]
            .find('}')
            .map_or(rest.len(), |close| open + close);
        let name = &rest[open + 1..close];
        slots.push(match name {
            "arch" => Slot::Arch,
            "architecture" => Slot::Architecture,
            "system" => Slot::System,
            "static" => Slot::Static,
            other => Slot::Variable(other.to_string()),
        });
        rest = rest.get(close + 1..).unwrap_or("");
    }
    if !rest.is_empty() {
        slots.push(Slot::Literal(rest.to_string()));
    }
    slots
}

/// The Jinja expression Kubespray's `*_download_url` has for a path pattern.
fn jinja(slots: &[Slot]) -> String {
    slots
        .iter()
        .map(|slot| match slot {
            Slot::Literal(text) => text.clone(),
            Slot::Variable(name) => format!("{{{{ {name} }}}}"),
            Slot::Arch => "{{ image_arch }}".to_string(),
            Slot::Architecture => "{{ ansible_architecture }}".to_string(),
            Slot::System => "{{ ansible_system | lower }}".to_string(),
            Slot::Static => "{{ 'static-' if containerd_static_binary }}".to_string(),
        })
        .collect()
}

/// A regular expression matching a media path ending in the pattern: group 1 is the prefix.
fn pattern(slots: &[Slot]) -> Regex {
    let mut text = String::from("^(?:(.*)/)?");
    for slot in slots {
        text.push_str(&match slot {
            Slot::Literal(literal) => regex::escape(literal),
            Slot::Variable(name) if name.ends_with("_version") => "([0-9][^/]*?)".to_string(),
            Slot::Variable(_) => "([a-z][a-z0-9_-]*?)".to_string(),
            Slot::Arch => "([a-z0-9]+)".to_string(),
            Slot::Architecture => "([a-z0-9_]+)".to_string(),
            Slot::System => "(linux)".to_string(),
            Slot::Static => "(static-)?".to_string(),
        });
    }
    text.push('$');
    Regex::new(&text).expect("the download table's patterns are valid")
}

/// What one lock file told about a Kubespray binary.
struct Found<'a> {
    binary: &'a Binary,
    slots: &'a [Slot],
    prefix: String,
    variables: BTreeMap<String, String>,
    arch: String,
    file: &'a LockedFile,
}

fn recognise<'a>(
    binary: &'a Binary,
    slots: &'a [Slot],
    regex: &Regex,
    file: &'a LockedFile,
) -> Option<Found<'a>> {
    let captures = regex.captures(&file.path)?;
    let prefix = captures
        .get(1)
        .map_or("", |found| found.as_str())
        .to_string();
    let mut variables = BTreeMap::new();
    let mut arch = file.arch.clone();
    let mut group = 2;
    for slot in slots {
        if matches!(slot, Slot::Literal(_)) {
            continue;
        }
        let value = captures.get(group).map(|found| found.as_str().to_string());
        group += 1;
        match slot {
            Slot::Variable(name) => {
                let value = value?;
                // A variable named twice in a path (etcd-v{etcd_version}) must agree.
                if variables.get(name).is_some_and(|known| known != &value) {
                    return None;
                }
                variables.insert(name.clone(), value);
            }
            Slot::Arch => arch = value,
            Slot::Architecture => {
                arch = value.map(|value| match value.as_str() {
                    "x86_64" => "amd64".to_string(),
                    "aarch64" => "arm64".to_string(),
                    _ => value,
                })
            }
            Slot::Static => {
                variables.insert(
                    "containerd_static_binary".to_string(),
                    value.is_some().to_string(),
                );
            }
            Slot::System | Slot::Literal(_) => {}
        }
    }
    Some(Found {
        binary,
        slots,
        prefix,
        variables,
        arch: arch.unwrap_or_else(|| "no_arch".to_string()),
        file,
    })
}

/// A `*_download_url` to set.
#[derive(Debug, Clone, Serialize)]
pub struct Download {
    pub key: String,
    pub variable: String,
    /// The URL below `files_repo`, with Kubespray's variables.
    pub url: String,
    pub checksum_variable: Option<String>,
    /// A Jinja expression giving the locked sha256 for the node's `image_arch`.
    pub checksum: Option<String>,
    /// The lock's files behind it (`name (arch)`).
    pub files: Vec<String>,
}

/// A file of the lock Kubespray does not download.
#[derive(Debug, Clone, Serialize)]
pub struct Unknown {
    pub name: String,
    pub path: String,
}

/// Everything `offline.yml` says about the lock's files.
#[derive(Debug, Default, Serialize)]
pub struct Files {
    pub downloads: Vec<Download>,
    /// Variables the URLs need (`kube_version`, ...), with the lock's values.
    pub versions: BTreeMap<String, String>,
    pub unknown: Vec<Unknown>,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Matches the lock's files against Kubespray's downloads.
pub fn files(files: &[LockedFile]) -> Files {
    let compiled: Vec<(&Binary, Vec<Slot>, Regex)> = binaries()
        .iter()
        .map(|binary| {
            let slots = slots(&binary.path);
            let regex = pattern(&slots);
            (binary, slots, regex)
        })
        .collect();
    let mut found: BTreeMap<&str, Vec<Found>> = BTreeMap::new();
    let mut result = Files::default();
    for file in files {
        let hit = compiled
            .iter()
            .find_map(|(binary, slots, regex)| recognise(binary, slots, regex, file));
        match hit {
            Some(hit) => found.entry(hit.binary.key.as_str()).or_default().push(hit),
            None => result.unknown.push(Unknown {
                name: file.key().to_string(),
                path: file.path.to_string(),
            }),
        }
    }

    // Versions: one value per variable; when the lock holds several, the newest wins.
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for hits in found.values() {
        for hit in hits {
            for (name, value) in &hit.variables {
                values
                    .entry(name.clone())
                    .or_default()
                    .insert(value.clone());
            }
        }
    }
    for (name, candidates) in &values {
        let chosen = candidates
            .iter()
            .max_by(|left, right| crate::version::compare_loose(left, right))
            .cloned()
            .unwrap_or_default();
        if candidates.len() > 1 {
            result.warnings.push(format!(
                "the lock has files for several {name} ({}); offline.yml sets {name}: {chosen}, and Kubespray will not use the others",
                candidates.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        result.versions.insert(name.clone(), chosen);
    }

    let mut arches: BTreeSet<String> = BTreeSet::new();
    for (key, hits) in &found {
        let binary = hits[0].binary;
        let slots = hits[0].slots;
        let hits: Vec<&Found> = hits
            .iter()
            .filter(|hit| {
                hit.variables
                    .iter()
                    .all(|(name, value)| result.versions.get(name) == Some(value))
            })
            .collect();
        let Some(first) = hits.first() else { continue };
        let prefix = &first.prefix;
        if let Some(other) = hits.iter().find(|hit| &hit.prefix != prefix) {
            result.warnings.push(format!(
                "{key}: the lock's files lie below different paths ({} and {}); offline.yml points Kubespray at the first",
                first.file.path, other.file.path
            ));
        }
        let mut checksums: BTreeMap<String, String> = BTreeMap::new();
        for hit in &hits {
            arches.insert(hit.arch.clone());
            checksums.insert(hit.arch.clone(), hit.file.digest.to_string());
        }
        let checksum = binary.checksum.as_ref().map(|_| {
            let entries: Vec<String> = checksums
                .iter()
                .map(|(arch, digest)| format!("'{arch}': '{digest}'"))
                .collect();
            if checksums.contains_key("no_arch") {
                checksums["no_arch"].to_string()
            } else {
                format!("{{{{ {{{}}}[image_arch] }}}}", entries.join(", "))
            }
        });
        let url = if prefix.is_empty() {
            format!("{{{{ files_repo }}}}/{}", jinja(slots))
        } else {
            format!("{{{{ files_repo }}}}/{prefix}/{}", jinja(slots))
        };
        result.downloads.push(Download {
            key: key.to_string(),
            variable: binary.variable.to_string(),
            url,
            checksum_variable: binary.checksum.clone(),
            checksum,
            files: hits.iter().map(|hit| hit.file.key().to_string()).collect(),
        });
    }
    arches.remove("no_arch");

    // What the chosen versions need but the lock lacks.
    if !found.is_empty() {
        for (binary, slots, _) in &compiled {
            let needed: Vec<String> = slots
                .iter()
                .filter_map(|slot| match slot {
                    Slot::Variable(name) => Some(name.clone()),
                    _ => None,
                })
                .collect();
            let configured =
                !needed.is_empty() && needed.iter().all(|name| result.versions.contains_key(name));
            let have: BTreeSet<&str> = found
                .get(binary.key.as_str())
                .map(|hits| hits.iter().map(|hit| hit.arch.as_str()).collect())
                .unwrap_or_default();
            if configured {
                let arch_bound =
                    binary.path.contains("{arch}") || binary.path.contains("{architecture}");
                let missing: Vec<&str> = if arch_bound {
                    arches
                        .iter()
                        .map(String::as_str)
                        .filter(|arch| !have.contains(arch))
                        .collect()
                } else if have.is_empty() {
                    vec!["no_arch"]
                } else {
                    Vec::new()
                };
                for arch in missing {
                    let versions = needed
                        .iter()
                        .map(|name| format!("{name} {}", result.versions[name]))
                        .collect::<Vec<_>>()
                        .join(", ");
                    result.warnings.push(format!(
                        "Kubespray needs {} ({versions}{}) but the lock lacks it; add a [[file]] for https://{}/{}",
                        binary.key,
                        if arch == "no_arch" { String::new() } else { format!(", {arch}") },
                        binary.upstream,
                        binary.path,
                    ));
                }
            } else if binary.default && have.is_empty() {
                result.warnings.push(format!(
                    "Kubespray's default configuration downloads {} ({}) and the lock has none; add a [[file]] for https://{}/{} or disable it in Kubespray",
                    binary.key, binary.variable, binary.upstream, binary.path
                ));
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::kinds::file::PinSource;

    fn file(name: &str, arch: Option<&str>, path: &str) -> LockedFile {
        LockedFile {
            name: name.to_string(),
            arch: arch.map(str::to_string),
            url: format!("https://{path}"),
            path: crate::relative_path::RelativePath::new(path).unwrap(),
            digest: Digest::of_bytes(path.as_bytes()),
            size: 1,
            pinned_by: PinSource::Manifest,
            checksum_url: None,
            signature_url: None,
            certificate_url: None,
            signature: None,
        }
    }

    #[test]
    fn kubespray_binaries_are_recognised_by_their_paths() {
        let lock = [
            file(
                "kubeadm",
                Some("amd64"),
                "dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubeadm",
            ),
            file(
                "kubeadm",
                Some("arm64"),
                "dl.k8s.io/release/v1.35.4/bin/linux/arm64/kubeadm",
            ),
            file(
                "etcd",
                Some("amd64"),
                "mirror/github.com/etcd-io/etcd/releases/download/v3.5.21/etcd-v3.5.21-linux-amd64.tar.gz",
            ),
            file(
                "containerd",
                Some("amd64"),
                "github.com/containerd/containerd/releases/download/v2.1.4/containerd-static-2.1.4-linux-amd64.tar.gz",
            ),
            file("notes", None, "local/notes.txt"),
        ];
        let result = files(&lock);
        assert_eq!(result.versions["kube_version"], "1.35.4");
        assert_eq!(result.versions["etcd_version"], "3.5.21");
        assert_eq!(result.versions["containerd_static_binary"], "true");
        let kubeadm = result
            .downloads
            .iter()
            .find(|download| download.key == "kubeadm")
            .unwrap();
        assert_eq!(
            kubeadm.url,
            "{{ files_repo }}/dl.k8s.io/release/v{{ kube_version }}/bin/linux/{{ image_arch }}/kubeadm"
        );
        assert!(
            kubeadm
                .checksum
                .as_ref()
                .unwrap()
                .contains("'arm64': 'sha256:")
        );
        let etcd = result
            .downloads
            .iter()
            .find(|download| download.key == "etcd")
            .unwrap();
        assert!(
            etcd.url
                .starts_with("{{ files_repo }}/mirror/github.com/etcd-io/"),
            "{}",
            etcd.url
        );
        assert_eq!(result.unknown.len(), 1);
        // kubelet and kubectl share kube_version: both missing, for both architectures.
        let missing: Vec<&String> = result
            .warnings
            .iter()
            .filter(|warning| warning.contains("needs kubelet"))
            .collect();
        assert_eq!(missing.len(), 2, "{:?}", result.warnings);
        assert!(
            result
                .warnings
                .iter()
                .any(|warning| warning.contains("etcd") && warning.contains("arm64"))
        );
        assert!(
            result
                .warnings
                .iter()
                .any(|warning| warning.contains("downloads cni"))
        );
    }
}
