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
    pub components: Option<Spanned<Vec<String>>>,
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
    /// A suite (`bookworm`), or for a flat repository the directory of its index, ending in
    /// `/` (`/` for the root itself), as `deb URL /` and deb822's `Suites: /` write it.
    pub suite: String,
    /// Empty for a flat repository.
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

/// The component a flat repository's packages are given, and the one the media republishes
/// it under.
pub const FLAT_COMPONENT: &str = "main";
/// The suite a flat repository is republished as on the media.
pub const FLAT_MEDIA_SUITE: &str = "flat";

/// Whether `suite` names a flat repository's directory (`/`, `subdir/`).
pub fn is_flat_suite(suite: &str) -> bool {
    suite.ends_with('/')
}

/// Where an archive's `InRelease`/`Release` and indexes are: `dists/<suite>`, or a flat
/// repository's directory.
pub fn release_directory(url: &str, suite: &str) -> String {
    if is_flat_suite(suite) {
        let directory = suite.trim_matches('/');
        if directory.is_empty() {
            url.to_string()
        } else {
            format!("{url}/{directory}")
        }
    } else {
        format!("{url}/dists/{suite}")
    }
}

impl AptArtifact {
    pub fn is_flat(&self) -> bool {
        is_flat_suite(&self.suite)
    }

    pub fn release_directory(&self) -> String {
        release_directory(&self.url, &self.suite)
    }
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
    let flat = is_flat_suite(&suite);
    if suite.is_empty()
        || suite.contains(char::is_whitespace)
        || suite.split('/').any(|part| part == ".." || part == ".")
        || (!flat && suite.contains('/'))
    {
        loader.diagnostics.push(
            context
                .error(entry.suite.span(), format!("`{suite}` is not a suite"))
                .with_hint("write the suite or codename, e.g. \"bookworm\"; for a flat repository (`deb URL /`), \"/\""),
        );
    }
    let components = entry
        .components
        .as_ref()
        .map(|list| list.get_ref().clone())
        .unwrap_or_default();
    match (&entry.components, flat) {
        (Some(list), true) if !list.get_ref().is_empty() => loader.diagnostics.push(
            context
                .error(
                    list.span(),
                    format!("the flat repository `{suite}` has no components"),
                )
                .with_hint("leave `components` out: a flat repository's index is at its root"),
        ),
        (None, false) => loader.diagnostics.push(
            context
                .error(
                    entry.suite.span(),
                    format!("the suite `{suite}` needs `components`"),
                )
                .with_hint("e.g. components = [\"main\"]; a flat repository's suite ends in `/`"),
        ),
        _ => {}
    }
    let mut lists = vec![("architectures", &entry.architectures)];
    if let Some(list) = entry.components.as_ref().filter(|_| !flat) {
        lists.insert(0, ("components", list));
    }
    for (field, list) in lists {
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
        let request = super::index::parse_request(package.get_ref());
        let named = request
            .as_ref()
            .is_ok_and(|atom| is_package_name(&atom.name));
        if !named {
            let reason = match request {
                Err(error) => format!(": {error}"),
                Ok(_) => String::new(),
            };
            loader.diagnostics.push(
                context
                    .error(
                        package.span(),
                        format!("`{}` is not a Debian package request{reason}", package.get_ref()),
                    )
                    .with_hint("write a package name (lowercase letters, digits, `+`, `-`, `.`), `name=version` or `name (>= version)`"),
            );
        }
    }
    vec![AptArtifact {
        name,
        url,
        suite,
        components,
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
