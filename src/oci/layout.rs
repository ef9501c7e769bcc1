//! The OCI image layout on the media (`DIR/oci/`): `oci-layout`, `index.json` with one entry
//! per image named by `org.opencontainers.image.ref.name`, and `blobs/sha256/<hex>` (placed by
//! the tree like any other verified file). `index.json` is deterministic: sorted, no
//! timestamps, so an unchanged lock gives unchanged bytes.

use serde_json::json;

use crate::digest::Digest;
use crate::oci::reference::Reference;

/// The directory of the layout inside the tree.
pub const ROOT: &str = "oci";
/// The content of `oci-layout`.
pub const LAYOUT_FILE: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";
/// The annotation that names an entry.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One `index.json` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// The full reference (`registry.k8s.io/pause:3.10`); `None` for referrers found by the
    /// referrers API, which are reachable through their `subject`.
    pub name: Option<String>,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// The path of a blob inside the tree.
pub fn blob_path(digest: &Digest) -> String {
    format!("{ROOT}/blobs/sha256/{}", digest.hex())
}

/// Renders `index.json` for `entries`.
pub fn index_json(entries: &[Entry]) -> String {
    let mut sorted = entries.to_vec();
    sorted.sort();
    sorted.dedup();
    let manifests: Vec<serde_json::Value> = sorted
        .iter()
        .map(|entry| {
            let mut descriptor = json!({
                "mediaType": entry.media_type,
                "digest": entry.digest.to_string(),
                "size": entry.size,
            });
            if let Some(name) = &entry.name {
                descriptor["annotations"] = json!({ REF_NAME: name });
            }
            descriptor
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let mut text = serde_json::to_string_pretty(&index).unwrap_or_default();
    text.push('\n');
    text
}

/// The name an image carries in the layout's `index.json`: `registry/repository:tag`, or
/// `registry/repository@sha256:…` for a reference without a tag.
pub fn layout_name(reference: &str) -> String {
    match Reference::parse(reference) {
        Ok(parsed) => match (&parsed.tag, &parsed.digest) {
            (Some(tag), _) => format!("{}:{tag}", parsed.name()),
            (None, Some(digest)) => format!("{}@{digest}", parsed.name()),
            (None, None) => parsed.name(),
        },
        Err(_) => reference.to_string(),
    }
}

/// The name a tag-schema referrer carries: `registry/repository:sha256-<hex>.sig`.
pub fn referrer_name(reference: &str, tag: &str) -> String {
    match Reference::parse(reference) {
        Ok(parsed) => format!("{}:{tag}", parsed.name()),
        Err(_) => format!("{reference}:{tag}"),
    }
}
