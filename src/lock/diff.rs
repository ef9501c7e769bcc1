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
