//! What changed between two lockfiles, artifact by artifact: the review before media enter
//! the enclave. Every kind of pin describes itself through [`Pin`] (each kind implements it
//! in its folder), so this file never grows a case per kind; `kinds::diff` runs [`compare`]
//! over the list of kinds.

use std::collections::BTreeMap;

use serde::Serialize;

/// A lock entry, seen by the diff.
pub trait Pin: Serialize {
    /// `file`, `image`, ...
    const KIND: &'static str;
    /// Unique within its kind.
    fn key(&self) -> String;
    /// The fields a reviewer compares, in lock order, rendered as text.
    fn fields(&self) -> Vec<(&'static str, String)>;
    /// A one-line description for added and removed entries.
    fn summary(&self) -> String;
}

/// One changed artifact.
#[derive(Debug, Serialize)]
pub struct Change {
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    pub kind: &'static str,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<serde_json::Value>,
    /// For `changed`: the fields that differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// For `added` and `removed`: the entry in one line.
    #[serde(skip)]
    pub summary: String,
}

/// One field that differs.
#[derive(Debug, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

/// Compares one kind's pins in two locks, by key.
pub fn compare<P: Pin>(old: &[P], new: &[P]) -> Vec<Change> {
    let old: BTreeMap<String, &P> = old.iter().map(|pin| (pin.key(), pin)).collect();
    let new: BTreeMap<String, &P> = new.iter().map(|pin| (pin.key(), pin)).collect();
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let json = |pin: &P| serde_json::to_value(pin).ok();
    let mut changes = Vec::new();
    for key in keys {
        let change = match (old.get(key), new.get(key)) {
            (None, Some(added)) => Change {
                change: "added",
                kind: P::KIND,
                key: key.clone(),
                old: None,
                new: json(added),
                fields: Vec::new(),
                summary: added.summary(),
            },
            (Some(removed), None) => Change {
                change: "removed",
                kind: P::KIND,
                key: key.clone(),
                old: json(removed),
                new: None,
                fields: Vec::new(),
                summary: removed.summary(),
            },
            (Some(before), Some(after)) => {
                let fields: Vec<FieldChange> = before
                    .fields()
                    .into_iter()
                    .zip(after.fields())
                    .filter(|((_, left), (_, right))| left != right)
                    .map(|((field, old), (_, new))| FieldChange { field, old, new })
                    .collect();
                if fields.is_empty() {
                    continue;
                }
                Change {
                    change: "changed",
                    kind: P::KIND,
                    key: key.clone(),
                    old: json(before),
                    new: json(after),
                    fields,
                    summary: String::new(),
                }
            }
            (None, None) => continue,
        };
        changes.push(change);
    }
    changes
}

/// The change in a few lines: counts, what moved from which version to which, and the bytes
/// of pinned content added and removed (the digests each side pins with their sizes; an
/// image counts its manifests, whose blobs the lock does not list).
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub moved: Vec<Moved>,
    pub bytes_added: u64,
    pub bytes_removed: u64,
}

/// One thing that moved from one version to another.
#[derive(Debug, Serialize)]
pub struct Moved {
    pub kind: &'static str,
    /// The entry, or for a package of an apt entry `entry/package`.
    pub key: String,
    pub old: String,
    pub new: String,
}

/// The summary of `changes`.
pub fn summarize(changes: &[Change]) -> Summary {
    let mut summary = Summary::default();
    let mut old_content: BTreeMap<String, u64> = BTreeMap::new();
    let mut new_content: BTreeMap<String, u64> = BTreeMap::new();
    for change in changes {
        match change.change {
            "added" => summary.added += 1,
            "removed" => summary.removed += 1,
            _ => summary.changed += 1,
        }
        if let Some(old) = &change.old {
            sized(old, &mut old_content);
        }
        if let Some(new) = &change.new {
            sized(new, &mut new_content);
        }
        for field in &change.fields {
            match field.field {
                "version" | "commit" | "digest" => summary.moved.push(Moved {
                    kind: change.kind,
                    key: change.key.clone(),
                    old: short(&field.old),
                    new: short(&field.new),
                }),
                "packages" => {
                    let versions = |text: &str| -> BTreeMap<String, String> {
                        text.split(", ")
                            .filter_map(|item| item.split_once('='))
                            .map(|(name, rest)| {
                                let (version, arch) = rest.split_once(' ').unwrap_or((rest, ""));
                                (
                                    format!("{name} {arch}").trim().to_string(),
                                    version.to_string(),
                                )
                            })
                            .collect()
                    };
                    let (before, after) = (versions(&field.old), versions(&field.new));
                    for (name, old) in &before {
                        if let Some(new) = after.get(name).filter(|new| *new != old) {
                            summary.moved.push(Moved {
                                kind: change.kind,
                                key: format!("{}/{name}", change.key),
                                old: old.clone(),
                                new: new.clone(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }
    summary.bytes_added = new_content
        .iter()
        .filter(|(digest, _)| !old_content.contains_key(*digest))
        .map(|(_, size)| size)
        .sum();
    summary.bytes_removed = old_content
        .iter()
        .filter(|(digest, _)| !new_content.contains_key(*digest))
        .map(|(_, size)| size)
        .sum();
    summary
}

/// Every (digest, size) pair in a pin's JSON, at any depth.
fn sized(value: &serde_json::Value, into: &mut BTreeMap<String, u64>) {
    match value {
        serde_json::Value::Object(map) => {
            if let (Some(digest), Some(size)) = (
                map.get("digest").and_then(serde_json::Value::as_str),
                map.get("size").and_then(serde_json::Value::as_u64),
            ) {
                into.insert(digest.to_string(), size);
            }
            for inner in map.values() {
                sized(inner, into);
            }
        }
        serde_json::Value::Array(items) => {
            for inner in items {
                sized(inner, into);
            }
        }
        _ => {}
    }
}

/// A digest shortened for a line (`sha256:0123456789ab`), other values as they are.
fn short(value: &str) -> String {
    match value.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 12 => format!("sha256:{}", &hex[..12]),
        _ => value.to_string(),
    }
}

impl Summary {
    /// The summary in one paragraph, for the end of diff, a delta materialize and apply.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} added, {} removed, {} changed; {} of pinned content added, {} removed",
            self.added,
            self.removed,
            self.changed,
            indicatif::HumanBytes(self.bytes_added),
            indicatif::HumanBytes(self.bytes_removed)
        );
        for moved in &self.moved {
            text.push_str(&format!(
                "\n  {} {}: {} -> {}",
                moved.kind, moved.key, moved.old, moved.new
            ));
        }
        text
    }
}
