//! The manifest entry of `[[chart]]`: a Helm chart from an HTTP or OCI repository.
//! Read from its table with spans, validated with located messages.

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::manifest::loader::{Context, Loader};
use crate::manifest::{Location, Origin};
use crate::oci::reference::Reference;

/// `[[chart]]`: a Helm chart from an HTTP or OCI repository.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChart {
    pub name: Spanned<String>,
    pub repo: Spanned<String>,
    pub version: Spanned<String>,
    pub images: Option<Spanned<bool>>,
}

/// One `[[chart]]` entry: a Helm chart from an HTTP repository.
#[derive(Debug, Clone, Serialize)]
pub struct ChartArtifact {
    pub name: String,
    /// The repository root (where `index.yaml` is), without a trailing slash.
    pub repo: String,
    /// An exact version or a semver range (`^4.11`, `>=1.0 <2.0`).
    pub version: String,
    /// Also pin the images the chart declares.
    pub images: bool,
    #[serde(skip)]
    pub origin: Origin,
}

/// Validates one entry; every problem is reported to `loader`, and only a valid entry
/// (for files: one per architecture) is returned.
pub fn load(
    loader: &mut Loader,
    context: &Context,
    entry: Spanned<RawChart>,
) -> Vec<ChartArtifact> {
    let entry_span = entry.span();
    let entry = entry.into_inner();
    loader.check_unique_name(
        context,
        &entry.name,
        "chart",
        "DIR/charts/<name>-<version>.tgz",
    );
    let repo = entry.repo.get_ref().trim_end_matches('/').to_string();
    if let Some(path) = repo.strip_prefix("oci://") {
        if let Err(message) = Reference::parse(&format!("{path}/{}", entry.name.get_ref())) {
            loader.diagnostics.push(
                context
                    .error(entry.repo.span(), message.to_string())
                    .with_hint("write oci://host/namespace, the place the chart was pushed to"),
            );
        }
    } else if let Err(message) = Location::parse(&format!("{repo}/index.yaml"), Path::new(".")) {
        loader.diagnostics.push(
            context
                .error(entry.repo.span(), message.to_string())
                .with_hint(message.hint_or("give the repository root that holds index.yaml, e.g. \"https://kubernetes.github.io/ingress-nginx\"")),
        );
    }
    if let Err(message) = crate::version::version_requirement(entry.version.get_ref()) {
        loader.diagnostics.push(
            context
                .error(entry.version.span(), message.to_string())
                .with_hint(
                    "write an exact version (\"4.11.3\") or a range (\"^4.11\", \">=1.0 <2.0\")",
                ),
        );
    }
    vec![ChartArtifact {
        name: entry.name.into_inner(),
        repo,
        version: entry.version.into_inner(),
        images: entry.images.map(Spanned::into_inner).unwrap_or(false),
        origin: context.origin(entry_span),
    }]
}
