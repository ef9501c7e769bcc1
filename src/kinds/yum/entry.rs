//! The manifest entry of `[[yum]]`: an RPM repository and the packages to take from it.
//! Read from its table with spans, validated with located messages.

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::manifest::loader::{Context, Loader};
use crate::manifest::validate::{check_media_path, is_identifier};
use crate::manifest::{Location, Origin};

/// `[[yum]]`: an RPM repository and the packages to take from it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawYum {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    pub gpgkey: Option<Spanned<String>>,
    pub arch: Spanned<String>,
    pub packages: Spanned<Vec<Spanned<String>>>,
    pub exclude: Option<Vec<String>>,
    pub insecure: Option<bool>,
    pub weak_deps: Option<bool>,
    pub gpgcheck: Option<bool>,
    pub modules: Option<Vec<Spanned<String>>>,
}

/// One `[[yum]]` entry: an RPM repository and the packages to take from it.
#[derive(Debug, Clone, Serialize)]
pub struct YumArtifact {
    pub name: String,
    /// The repository root (where `repodata/` is), with a trailing slash.
    pub url: String,
    /// The repository's OpenPGP key (armored), relative to the workspace.
    pub gpgkey: Option<String>,
    /// `x86_64`, `aarch64`, ...: packages of this architecture and `noarch`.
    pub arch: String,
    pub packages: Vec<String>,
    pub exclude: Vec<String>,
    pub insecure: bool,
    /// Follow `Recommends` and `Supplements`, as dnf does by default.
    #[serde(skip_serializing_if = "is_true")]
    pub weak_deps: bool,
    /// Check each package's header signature against `gpgkey` (dnf's `gpgcheck`).
    #[serde(skip_serializing_if = "is_true")]
    pub gpgcheck: bool,
    /// Module streams to enable (`name:stream`), as `dnf module enable` does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    #[serde(skip)]
    pub origin: Origin,
}

/// A package as dnf takes it on its command line: a name or NEVRA (`kubelet-1.35.4`,
/// `kubelet-0:1.35.4-150500.1.1.x86_64`), or `name OP version`.
fn is_package_request(text: &str) -> bool {
    let word = |text: &str, extra: &[char]| {
        !text.is_empty()
            && text.chars().all(|character| {
                character.is_ascii_alphanumeric()
                    || matches!(character, '+' | '-' | '.' | '_')
                    || extra.contains(&character)
            })
    };
    match text.split_whitespace().collect::<Vec<_>>()[..] {
        [single] => single == text && word(single, &[':', '~', '^']),
        [name, op, version] => {
            word(name, &[])
                && matches!(op, "=" | "==" | ">=" | "<=" | ">" | "<")
                && word(version, &[':', '~', '^'])
        }
        _ => false,
    }
}

/// Defaults are left out of the manifest inputs' digest, so adding one does not make every
/// existing lock stale.
pub(crate) fn is_true(value: &bool) -> bool {
    *value
}

pub(crate) fn yes() -> bool {
    true
}

/// Validates one entry; every problem is reported to `loader`, and only a valid entry
/// (for files: one per architecture) is returned.
pub fn load(loader: &mut Loader, context: &Context, entry: Spanned<RawYum>) -> Vec<YumArtifact> {
    let entry_span = entry.span();
    let entry = entry.into_inner();
    let name = entry.name.get_ref().clone();
    loader.check_unique_name(context, &entry.name, "yum repository", "DIR/yum/<name>/");
    let url = format!("{}/", entry.url.get_ref().trim_end_matches('/'));
    if let Err(message) = Location::parse(&url, Path::new(".")) {
        loader.diagnostics.push(
            context
                .error(entry.url.span(), message.to_string())
                .with_hint(
                    message.hint_or("give the repository root, the directory that holds repodata/"),
                ),
        );
    }
    let arch = entry.arch.get_ref().clone();
    if !is_identifier(&arch) {
        loader.diagnostics.push(
            context
                .error(
                    entry.arch.span(),
                    format!("`{arch}` is not an RPM architecture"),
                )
                .with_hint("e.g. \"x86_64\" or \"aarch64\""),
        );
    }
    if let Some(gpgkey) = &entry.gpgkey
        && let Err(message) = check_media_path(gpgkey.get_ref())
    {
        loader.diagnostics.push(
            context
                .error(
                    gpgkey.span(),
                    message.to_string().replace("the path", "the key path"),
                )
                .with_hint("give the repository key relative to the workspace"),
        );
    }
    if entry.packages.get_ref().is_empty() {
        loader.diagnostics.push(
            context
                .error(entry.packages.span(), "`packages` is empty")
                .with_hint(
                    "list the packages the nodes need, e.g. [\"conntrack-tools\", \"socat\"]",
                ),
        );
    }
    for package in entry.packages.get_ref() {
        if !is_package_request(package.get_ref()) {
            loader.diagnostics.push(
                context
                    .error(
                        package.span(),
                        format!("`{}` is not an RPM package request", package.get_ref()),
                    )
                    .with_hint("write a name (letters, digits, `+`, `-`, `.`, `_`), `name-version[-release]`, or `name = version` (also `>=`, `<=`, `>`, `<`)"),
            );
        }
    }
    let mut modules = Vec::new();
    for module in entry.modules.into_iter().flatten() {
        let valid = module
            .get_ref()
            .split_once(':')
            .is_some_and(|(name, stream)| {
                !name.is_empty()
                    && !stream.is_empty()
                    && module.get_ref().chars().all(|character| {
                        character.is_ascii_alphanumeric()
                            || matches!(character, '+' | '-' | '.' | '_' | ':')
                    })
            });
        if !valid {
            loader.diagnostics.push(
                context
                    .error(
                        module.span(),
                        format!("`{}` is not a module stream", module.get_ref()),
                    )
                    .with_hint("write `name:stream`, e.g. \"container-tools:rhel8\""),
            );
        }
        modules.push(module.into_inner());
    }
    vec![YumArtifact {
        name,
        url,
        gpgkey: entry.gpgkey.map(Spanned::into_inner),
        arch,
        packages: entry
            .packages
            .into_inner()
            .into_iter()
            .map(Spanned::into_inner)
            .collect(),
        exclude: entry.exclude.unwrap_or_default(),
        insecure: entry.insecure.unwrap_or(false),
        weak_deps: entry.weak_deps.unwrap_or(true),
        gpgcheck: entry.gpgcheck.unwrap_or(true),
        modules,
        origin: context.origin(entry_span),
    }]
}
