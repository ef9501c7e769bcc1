//! The manifest entry of `[[apt]]`: an archive and the packages to take from it.
//! Read from its table with spans, validated with located messages.

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::manifest::loader::{Context, Loader};
use crate::manifest::validate::{check_media_path, is_deb_word, is_package_name};
use crate::manifest::{Location, Origin};

/// `[[apt]]`: a Debian/Ubuntu archive and the packages to take from it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApt {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    pub suite: Spanned<String>,
    pub components: Spanned<Vec<String>>,
    pub architectures: Spanned<Vec<String>>,
    pub keyring: Option<Spanned<String>>,
    pub packages: Spanned<Vec<Spanned<String>>>,
    pub recommends: Option<bool>,
    pub exclude: Option<Vec<String>>,
    pub insecure: Option<bool>,
}

/// One `[[apt]]` entry: an archive and the packages to take from it.
#[derive(Debug, Clone, Serialize)]
pub struct AptArtifact {
    pub name: String,
    /// The archive root (`http://deb.debian.org/debian`), without a trailing slash.
    pub url: String,
    pub suite: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    /// Path of the OpenPGP keyring (binary or armored), relative to the workspace.
    pub keyring: Option<String>,
    pub packages: Vec<String>,
    pub recommends: bool,
    pub exclude: Vec<String>,
    /// No signature check, as the user declared.
    pub insecure: bool,
    #[serde(skip)]
    pub origin: Origin,
}

/// Validates one entry; every problem is reported to `loader`, and only a valid entry
/// (for files: one per architecture) is returned.
pub fn load(loader: &mut Loader, context: &Context, entry: Spanned<RawApt>) -> Vec<AptArtifact> {
    let entry_span = entry.span();
    let entry = entry.into_inner();
    let name = entry.name.get_ref().clone();
    loader.check_unique_name(context, &entry.name, "apt repository", "DIR/apt/<name>/");
    let url = entry.url.get_ref().trim_end_matches('/').to_string();
    if let Err(message) = Location::parse(&url, Path::new(".")) {
        loader.diagnostics.push(
            context
                .error(entry.url.span(), message.to_string())
                .with_hint(
                    message.hint_or("give the archive root, e.g. \"http://deb.debian.org/debian\""),
                ),
        );
    }
    let suite = entry.suite.get_ref().clone();
    if suite.is_empty() || suite.contains(char::is_whitespace) || suite.contains("..") {
        loader.diagnostics.push(
            context
                .error(entry.suite.span(), format!("`{suite}` is not a suite"))
                .with_hint("write the suite or codename, e.g. \"bookworm\""),
        );
    }
    for (field, list) in [
        ("components", &entry.components),
        ("architectures", &entry.architectures),
    ] {
        if list.get_ref().is_empty() || list.get_ref().iter().any(|item| !is_deb_word(item)) {
            loader.diagnostics.push(
                context
                    .error(
                        list.span(),
                        format!("`{field}` must list at least one name of letters, digits and `-`"),
                    )
                    .with_hint(if field == "components" {
                        "e.g. [\"main\"]"
                    } else {
                        "e.g. [\"amd64\"]"
                    }),
            );
        }
    }
    let insecure = entry.insecure.unwrap_or(false);
    if entry.keyring.is_none() && !insecure {
        loader.diagnostics.push(
            context
                .error(entry_span.clone(), format!("`[[apt]]` `{name}` has no `keyring`: its Release signature could not be checked"))
                .with_hint("set `keyring` to the archive's keyring (e.g. keys/debian-archive-keyring.gpg); only if the archive is unsigned, say `insecure = true`"),
        );
    }
    if let Some(keyring) = &entry.keyring
        && let Err(message) = check_media_path(keyring.get_ref())
    {
        loader.diagnostics.push(
            context
                .error(
                    keyring.span(),
                    message.to_string().replace("the path", "the keyring path"),
                )
                .with_hint("give the keyring relative to the workspace"),
        );
    }
    if entry.packages.get_ref().is_empty() {
        loader.diagnostics.push(
            context
                .error(entry.packages.span(), "`packages` is empty")
                .with_hint("list the packages the nodes need, e.g. [\"conntrack\", \"socat\"]"),
        );
    }
    for package in entry.packages.get_ref() {
        if !is_package_name(package.get_ref()) {
            loader.diagnostics.push(
                context
                    .error(
                        package.span(),
                        format!("`{}` is not a Debian package name", package.get_ref()),
                    )
                    .with_hint("package names are lowercase letters, digits, `+`, `-` and `.`"),
            );
        }
    }
    vec![AptArtifact {
        name,
        url,
        suite,
        components: entry.components.into_inner(),
        architectures: entry.architectures.into_inner(),
        keyring: entry.keyring.map(Spanned::into_inner),
        packages: entry
            .packages
            .into_inner()
            .into_iter()
            .map(Spanned::into_inner)
            .collect(),
        recommends: entry.recommends.unwrap_or(false),
        exclude: entry.exclude.unwrap_or_default(),
        insecure,
        origin: context.origin(entry_span),
    }]
}
