//! The manifest entry of `[[git]]`: a repository and the ref to pin.
//! Read from its table with spans, validated with located messages.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::manifest::Origin;
use crate::manifest::loader::{Context, Loader};

/// `[[git]]`: a git repository pinned to one commit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGit {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    #[serde(rename = "ref")]
    pub reference: Spanned<String>,
}

/// One `[[git]]` entry: a repository pinned to the commit a ref names.
#[derive(Debug, Clone, Serialize)]
pub struct GitArtifact {
    pub name: String,
    /// `https://…`, `http://…`, `ssh://…`, `file://…`, or a path relative to the workspace.
    pub url: String,
    /// A tag, a branch, or a full commit id.
    pub reference: String,
    #[serde(skip)]
    pub origin: Origin,
}

/// Validates one entry; every problem is reported to `loader`, and only a valid entry
/// (for files: one per architecture) is returned.
pub fn load(loader: &mut Loader, context: &Context, entry: Spanned<RawGit>) -> Vec<GitArtifact> {
    let entry_span = entry.span();
    let entry = entry.into_inner();
    let name = entry.name.get_ref().clone();
    loader.check_unique_name(context, &entry.name, "git repository", "DIR/git/<name>.git");
    let url = entry.url.get_ref().clone();
    let scheme_ok = ["https://", "http://", "ssh://", "file://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
        || (!url.contains("://")
            && !url.is_empty()
            && !url.starts_with('/')
            && !url.starts_with('-'));
    // A password never, and for HTTP no user either (a token in the user part is a secret):
    // the URL is copied into the lock and onto the media. ssh://git@host is a login name.
    let credentials = url::Url::parse(&url).is_ok_and(|parsed| {
        parsed.password().is_some()
            || (matches!(parsed.scheme(), "http" | "https") && !parsed.username().is_empty())
    });
    if credentials {
        let error = crate::manifest::LocationError::Credentials(
            crate::manifest::validate::redact(&url).into_owned(),
        );
        loader.diagnostics.push(
            context
                .error(entry.url.span(), error.to_string())
                .with_hint(error.hint_or("")),
        );
    } else if !scheme_ok {
        let url = crate::manifest::validate::redact(&url);
        loader.diagnostics.push(
            context
                .error(
                    entry.url.span(),
                    format!("`{url}` is not a repository URL airgap can fetch"),
                )
                .with_hint(
                    "use https://, http://, ssh://, file:/// or a path relative to the workspace",
                ),
        );
    }
    let reference = entry.reference.get_ref().clone();
    let reference_ok = !reference.is_empty()
        && !reference.starts_with('-')
        && !reference.contains("..")
        && reference.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-' | '/' | '+')
        });
    if !reference_ok {
        loader.diagnostics.push(
            context
                .error(
                    entry.reference.span(),
                    format!("`{reference}` is not a git ref"),
                )
                .with_hint("give a tag (\"v2.31.0\"), a branch (\"master\") or a full commit id"),
        );
    }
    vec![GitArtifact {
        name,
        url,
        reference,
        origin: context.origin(entry_span),
    }]
}
