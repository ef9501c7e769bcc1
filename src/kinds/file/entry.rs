//! The manifest entry of `[[file]]`: a static file by URL or from the workspace, expanded per architecture.
//! Read from its table with spans, validated with located messages.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::digest::Digest;
use crate::manifest::loader::{Context, Loader};
use crate::manifest::validate::{check_media_path, is_identifier, is_name};
use crate::manifest::{Location, Origin};

/// `[[file]]`: a static file (binary, archive), fetched by URL or from the workspace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    pub arch: Option<Spanned<Vec<Spanned<String>>>>,
    pub sha256: Option<Spanned<RawSha256>>,
    pub checksum_url: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    /// A detached signature of the file: cosign's (base64, `.sig`) or OpenPGP's (`.asc`).
    pub signature_url: Option<Spanned<String>>,
    /// The certificate of a keyless cosign signature (`.cert`).
    pub certificate_url: Option<Spanned<String>>,
}

/// A `sha256` pin: one digest, or one per architecture.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSha256 {
    One(String),
    PerArch(BTreeMap<String, String>),
}

/// The identity of a file artifact: its manifest name and, for `{arch}` files, the architecture.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FileKey {
    pub name: String,
    pub arch: Option<String>,
}

impl fmt::Display for FileKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.arch {
            Some(arch) => write!(formatter, "{} ({arch})", self.name),
            None => write!(formatter, "{}", self.name),
        }
    }
}

/// One `[[file]]` entry expanded for one architecture.
#[derive(Debug, Clone, Serialize)]
pub struct FileArtifact {
    #[serde(flatten)]
    pub key: FileKey,
    /// `http(s)://…`, `file://…`, or a path relative to the workspace.
    pub url: String,
    /// Path below `files/` on the media.
    pub path: crate::relative_path::RelativePath,
    /// The pin written in the manifest, if any.
    pub sha256: Option<Digest>,
    pub checksum_url: Option<String>,
    /// Left out of the inputs when unset, so locks made before signatures stay fresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_url: Option<String>,
    /// Where the entry was written, for messages (`manifests/files.toml:12`).
    #[serde(skip)]
    pub origin: Origin,
}

impl FileArtifact {
    /// How this artifact's bytes are checked before they are trusted.
    pub fn pin_source(&self) -> PinSource {
        if self.sha256.is_some() {
            PinSource::Manifest
        } else if self.checksum_url.is_some() {
            PinSource::ChecksumUrl
        } else {
            PinSource::FirstUse
        }
    }
}

/// Where a file's digest came from; recorded in the lock so reviews see trust-on-first-use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinSource {
    /// `sha256` in the manifest.
    Manifest,
    /// The upstream's published checksum file.
    ChecksumUrl,
    /// Trust on first use: the digest of the bytes seen when the lock was made.
    FirstUse,
}

/// Validates one entry; every problem is reported to `loader`, and only a valid entry
/// (for files: one per architecture) is returned.
pub fn load(loader: &mut Loader, context: &Context, entry: Spanned<RawFile>) -> Vec<FileArtifact> {
    let mut files = Vec::new();
    let entry_span = entry.span();
    let entry = entry.into_inner();
    let name_span = entry.name.span();
    let name = entry.name.get_ref().clone();

    if !is_name(&name) {
        loader.diagnostics.push(
            context
                .error(name_span.clone(), format!("`{name}` is not a valid name"))
                .with_hint("use letters, digits, `.`, `_`, `+` and `-`"),
        );
    } else if let Some((_, first)) = loader.claim(
        "file name",
        &name,
        name.clone(),
        context.place(name_span.clone()),
    ) {
        loader.diagnostics.push(
            context
                .error(name_span.clone(), format!("duplicate name `{name}`"))
                .with_hint(format!("`{name}` is first defined at {first}; names must be unique across all manifests")),
        );
    }

    // Placeholders: only {arch} exists.
    let mut templates = vec![&entry.url];
    templates.extend(entry.checksum_url.as_ref());
    templates.extend(entry.signature_url.as_ref());
    templates.extend(entry.certificate_url.as_ref());
    templates.extend(entry.path.as_ref());
    for template in &templates {
        if let Some(unknown) = unknown_placeholder(template.get_ref()) {
            loader.diagnostics.push(
                context
                    .error(
                        template.span(),
                        format!("unknown placeholder `{{{unknown}}}`"),
                    )
                    .with_hint("the only placeholder is `{arch}`"),
            );
        }
    }
    let templated = templates
        .iter()
        .any(|template| template.get_ref().contains("{arch}"));

    let default_arches = || -> Vec<String> {
        let platforms = loader.default_platforms();
        let mut arches: Vec<String> = platforms
            .iter()
            .filter_map(|platform| platform.split('/').nth(1).map(str::to_string))
            .collect();
        arches.dedup();
        arches
    };
    let arches: Vec<Option<String>> = match &entry.arch {
        Some(list) => {
            if !templated {
                loader.diagnostics.push(
                    context
                        .error(list.span(), "`arch` is set but neither `url`, `checksum_url` nor `path` contains `{arch}`")
                        .with_hint("put `{arch}` where the architecture goes in the URL, or remove `arch`"),
                );
            }
            if list.get_ref().is_empty() {
                loader.diagnostics.push(
                    context
                        .error(list.span(), "`arch` is empty")
                        .with_hint("list the architectures, e.g. [\"amd64\", \"arm64\"], or remove `arch` to use `[enclave].platforms`"),
                );
            }
            let mut seen = BTreeSet::new();
            for arch in list.get_ref() {
                if !is_identifier(arch.get_ref()) {
                    loader.diagnostics.push(
                        context
                            .error(
                                arch.span(),
                                format!("`{}` is not an architecture name", arch.get_ref()),
                            )
                            .with_hint("use Kubernetes' names, e.g. \"amd64\", \"arm64\""),
                    );
                } else if !seen.insert(arch.get_ref().clone()) {
                    loader.diagnostics.push(
                        context.error(arch.span(), format!("`{}` is listed twice", arch.get_ref())),
                    );
                }
            }
            seen.into_iter().map(Some).collect()
        }
        None if templated => default_arches().into_iter().map(Some).collect(),
        None => vec![None],
    };

    // The sha256 pin, per architecture.
    let mut pins: BTreeMap<Option<String>, Digest> = BTreeMap::new();
    if let Some(sha256) = &entry.sha256 {
        let span = sha256.span();
        match sha256.get_ref() {
            RawSha256::One(text) => {
                if arches.len() > 1 {
                    loader.diagnostics.push(
                        context
                            .error(span.clone(), format!("one `sha256` for {} architectures", arches.len()))
                            .with_hint("give one digest per architecture: sha256 = { amd64 = \"…\", arm64 = \"…\" }"),
                    );
                } else {
                    match Digest::parse(text) {
                        Ok(digest) => {
                            pins.insert(arches[0].clone(), digest);
                        }
                        Err(error) => {
                            loader
                                .diagnostics
                                .push(context.error(span.clone(), error.to_string()).with_hint(
                                "copy the digest from the upstream's release page or checksum file",
                            ))
                        }
                    }
                }
            }
            RawSha256::PerArch(map) => {
                for (arch, text) in map {
                    if !arches.contains(&Some(arch.clone())) {
                        loader.diagnostics.push(
                            context
                                .error(span.clone(), format!("`sha256` names architecture `{arch}`, which this entry does not fetch"))
                                .with_hint(format!(
                                    "this entry fetches: {}",
                                    arches.iter().flatten().cloned().collect::<Vec<_>>().join(", ")
                                )),
                        );
                        continue;
                    }
                    match Digest::parse(text) {
                        Ok(digest) => {
                            pins.insert(Some(arch.clone()), digest);
                        }
                        Err(error) => loader.diagnostics.push(
                            context
                                .error(span.clone(), format!("sha256 for `{arch}`: {error}"))
                                .with_hint("copy the digest from the upstream's release page or checksum file"),
                        ),
                    }
                }
            }
        }
    }

    let origin = context.origin(entry_span);
    for arch in arches {
        let expand = |template: &str| match &arch {
            Some(arch) => template.replace("{arch}", arch),
            None => template.to_string(),
        };
        let url = expand(entry.url.get_ref());
        if let Err(message) = Location::parse(&url, Path::new(".")) {
            loader.diagnostics.push(
                context
                    .error(entry.url.span(), message.to_string())
                    .with_hint(message.hint_or(
                        "use http(s)://…, file:///…, or a path relative to the workspace",
                    )),
            );
            continue;
        }
        let mut located = |field: &Option<Spanned<String>>| {
            let value = field.as_ref().map(|template| expand(template.get_ref()));
            if let Some(text) = &value
                && let Err(message) = Location::parse(text, Path::new("."))
            {
                loader.diagnostics.push(
                    context
                        .error(
                            field.as_ref().map_or(0..0, Spanned::span),
                            message.to_string(),
                        )
                        .with_hint(message.hint_or(
                            "use http(s)://…, file:///…, or a path relative to the workspace",
                        )),
                );
            }
            value
        };
        let checksum_url = located(&entry.checksum_url);
        let signature_url = located(&entry.signature_url);
        let certificate_url = located(&entry.certificate_url);
        if certificate_url.is_some() && signature_url.is_none() {
            loader.diagnostics.push(
                context
                    .error(
                        entry.certificate_url.as_ref().map_or(0..0, Spanned::span),
                        "`certificate_url` without `signature_url`",
                    )
                    .with_hint("the certificate vouches for a signature: add `signature_url` (e.g. the `.sig` next to the file)"),
            );
        }
        let (path, path_span) = match &entry.path {
            Some(path) => (expand(path.get_ref()), path.span()),
            None => (default_path(&url), entry.url.span()),
        };
        let path = match check_media_path(&path) {
            Ok(path) => path,
            Err(message) => {
                loader.diagnostics.push(
                    context
                        .error(path_span.clone(), message.to_string())
                        .with_hint(
                            "set `path` to a relative path without `..`, e.g. \"tools/{arch}/tool\"",
                        ),
                );
                continue;
            }
        };
        let key = FileKey {
            name: name.clone(),
            arch: arch.clone(),
        };
        if let Some((other, first)) = loader.claim(
            "file path",
            &path,
            key.to_string(),
            context.place(path_span.clone()),
        ) {
            loader.diagnostics.push(
                context
                    .error(
                        path_span,
                        format!("`{key}` and `{other}` would both be written to files/{path}"),
                    )
                    .with_hint(format!(
                        "`{other}` is defined at {first}; give one of them a different `path`"
                    )),
            );
            continue;
        }
        files.push(FileArtifact {
            sha256: pins.get(&arch).copied(),
            key,
            url,
            path,
            checksum_url,
            signature_url,
            certificate_url,
            origin: origin.clone(),
        });
    }
    files
}

fn unknown_placeholder(template: &str) -> Option<String> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        let name = &after[..end];
        if name != "arch" {
            return Some(name.to_string());
        }
        rest = &after[end + 1..];
    }
    None
}

/// Kubespray's `files_repo` layout: `<host>/<url path>`; local files go below `local/`.
fn default_path(url: &str) -> String {
    match Location::parse(url, Path::new("")) {
        Ok(Location::Http(parsed)) => {
            let decoded = percent_encoding::percent_decode_str(parsed.path()).decode_utf8_lossy();
            format!("{}{}", parsed.host_str().unwrap_or("unknown-host"), decoded)
        }
        Ok(Location::Local(path)) if url.contains("://") => format!(
            "local/{}",
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        _ => format!("local/{url}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_follow_kubespray_layout() {
        assert_eq!(
            default_path("https://dl.k8s.io/release/v1.33.4/bin/linux/amd64/kubeadm"),
            "dl.k8s.io/release/v1.33.4/bin/linux/amd64/kubeadm"
        );
        assert_eq!(
            default_path("artifacts/tool.tar.gz"),
            "local/artifacts/tool.tar.gz"
        );
        assert_eq!(default_path("file:///srv/build/tool"), "local/tool");
        assert_eq!(default_path("http://h:8080/a%20b"), "h/a b");
    }

    #[test]
    fn placeholders() {
        assert_eq!(unknown_placeholder("x/{arch}/y"), None);
        assert_eq!(unknown_placeholder("x/{os}/y"), Some("os".to_string()));
    }
}
