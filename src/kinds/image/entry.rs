//! The manifest entry of `[[image]]`: a container image reference.
//! Read from its table with spans, validated with located messages.

use serde::Deserialize;
use toml::Spanned;

use crate::manifest::loader::{Context, Loader};
use crate::manifest::validate::{check_media_path, is_platform};
use crate::oci::pin::ImageArtifact;
use crate::oci::reference::Reference;

/// `[[image]]`: a container image reference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    #[serde(rename = "ref")]
    pub reference: Spanned<String>,
    pub platforms: Option<Spanned<Vec<Spanned<String>>>>,
    pub layout: Option<Spanned<String>>,
    pub referrers: Option<bool>,
    pub insecure: Option<bool>,
}

/// Validates one entry; every problem is reported to `loader`, and only a valid entry
/// (for files: one per architecture) is returned.
pub fn load(
    loader: &mut Loader,
    context: &Context,
    entry: Spanned<RawImage>,
) -> Vec<ImageArtifact> {
    let entry_span = entry.span();
    let entry = entry.into_inner();
    let reference = match Reference::parse(entry.reference.get_ref()) {
        Ok(reference) => reference,
        Err(message) => {
            loader.diagnostics.push(
                context
                    .error(entry.reference.span(), message.to_string())
                    .with_hint("write host/path:tag, host/path@sha256:<hex> or host/path:tag@sha256:<hex>, e.g. \"registry.k8s.io/pause:3.10\""),
            );
            return Vec::new();
        }
    };
    let key = reference.to_string();
    if let Some((_, first)) = loader.claim(
        "image",
        &key,
        key.clone(),
        context.place(entry.reference.span()),
    ) {
        loader.diagnostics.push(
            context
                .error(entry.reference.span(), format!("duplicate image `{key}`"))
                .with_hint(format!(
                    "it is first listed at {first}; list each image once"
                )),
        );
        return Vec::new();
    }
    let platforms = match &entry.platforms {
        None => loader.default_platforms(),
        Some(list) => {
            let values: Vec<String> = list
                .get_ref()
                .iter()
                .map(|value| value.get_ref().clone())
                .collect();
            if values.is_empty() {
                loader.diagnostics.push(
                    context
                        .error(list.span(), "`platforms` is empty")
                        .with_hint("list platforms such as [\"linux/amd64\"], or [\"all\"] to keep every platform"),
                );
            } else if values.iter().any(|value| value == "all") && values.len() > 1 {
                loader.diagnostics.push(
                    context
                        .error(list.span(), "`all` cannot be combined with other platforms")
                        .with_hint("write [\"all\"] alone"),
                );
            }
            for value in list.get_ref() {
                if value.get_ref() != "all" && !is_platform(value.get_ref()) {
                    loader.diagnostics.push(
                        context
                            .error(
                                value.span(),
                                format!("`{}` is not a platform", value.get_ref()),
                            )
                            .with_hint("write os/arch[/variant], e.g. \"linux/arm64\", or \"all\""),
                    );
                }
            }
            values
        }
    };
    if let Some(layout) = &entry.layout
        && let Err(message) = check_media_path(layout.get_ref())
    {
        loader.diagnostics.push(
            context
                .error(
                    layout.span(),
                    message.to_string().replace("the path", "the layout path"),
                )
                .with_hint("give the OCI layout directory relative to the workspace"),
        );
    }
    let insecure = entry.insecure.unwrap_or(false);
    if insecure && reference.is_loopback() {
        loader.diagnostics.push(
            context
                .error(entry_span.clone(), "`insecure` is not needed for a registry on a loopback address")
                .with_hint("loopback registries are reached over plain HTTP when they do not speak TLS; remove `insecure`"),
        );
    }
    vec![ImageArtifact {
        reference: key,
        platforms,
        layout: entry.layout.map(Spanned::into_inner),
        referrers: entry.referrers.unwrap_or(false),
        insecure,
        origin: context.origin(entry_span),
    }]
}
