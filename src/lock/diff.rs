//! What changed between two lockfiles, artifact by artifact: the review before media enter
//! the enclave. Every kind of pin describes itself through [`Pin`], so this file never grows
//! a case per kind.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::lock::{
    LockedApt, LockedChart, LockedFile, LockedGit, LockedImage, LockedYum, Lockfile,
};
use crate::printer::human_bytes;

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

impl Pin for LockedFile {
    const KIND: &'static str = "file";
    fn key(&self) -> String {
        LockedFile::key(self).to_string()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("url", self.url.clone()),
            ("path", self.path.clone()),
            ("digest", self.digest.to_string()),
            ("size", self.size.to_string()),
            ("pinned_by", format!("{:?}", self.pinned_by)),
            (
                "checksum_url",
                self.checksum_url.clone().unwrap_or_default(),
            ),
        ]
    }
    fn summary(&self) -> String {
        format!("{}  {}  {}", self.digest, human_bytes(self.size), self.url)
    }
}

impl Pin for LockedImage {
    const KIND: &'static str = "image";
    fn key(&self) -> String {
        self.reference.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        let list = |items: Vec<String>| items.join(", ");
        vec![
            ("layout", self.layout.clone().unwrap_or_default()),
            ("insecure", self.insecure.to_string()),
            ("platforms", self.platforms.join(", ")),
            ("digest", self.digest.to_string()),
            ("media_type", self.media_type.clone()),
            (
                "manifests",
                list(
                    self.manifests
                        .iter()
                        .map(|manifest| format!("{} {}", manifest.platform, manifest.digest))
                        .collect(),
                ),
            ),
            ("chart", self.chart.clone().unwrap_or_default()),
            (
                "referrers",
                list(
                    self.referrer_manifests
                        .iter()
                        .map(|referrer| referrer.digest.to_string())
                        .collect(),
                ),
            ),
        ]
    }
    fn summary(&self) -> String {
        let platforms: Vec<&str> = self
            .manifests
            .iter()
            .map(|manifest| manifest.platform.as_str())
            .collect();
        if platforms.is_empty() {
            self.digest.to_string()
        } else {
            format!("{}  [{}]", self.digest, platforms.join(", "))
        }
    }
}

impl Pin for LockedApt {
    const KIND: &'static str = "apt";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        let debs: Vec<String> = self
            .debs
            .iter()
            .map(|deb| format!("{}={} ({})", deb.name, deb.version, deb.architecture))
            .collect();
        vec![
            ("url", self.url.clone()),
            ("suite", self.suite.clone()),
            ("release", self.release.to_string()),
            ("packages", debs.join(", ")),
        ]
    }
    fn summary(&self) -> String {
        format!("{} {} ({} packages)", self.url, self.suite, self.debs.len())
    }
}

impl Pin for LockedYum {
    const KIND: &'static str = "yum";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        let rpms: Vec<String> = self
            .rpms
            .iter()
            .map(|rpm| {
                format!(
                    "{}-{}:{}-{}.{}",
                    rpm.name, rpm.epoch, rpm.version, rpm.release, rpm.arch
                )
            })
            .collect();
        vec![
            ("url", self.url.clone()),
            ("arch", self.arch.clone()),
            ("repomd", self.repomd.to_string()),
            ("packages", rpms.join(", ")),
        ]
    }
    fn summary(&self) -> String {
        format!("{} ({} packages)", self.url, self.rpms.len())
    }
}

impl Pin for LockedGit {
    const KIND: &'static str = "git";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("url", self.url.clone()),
            ("ref", self.reference.clone()),
            ("commit", self.commit.clone()),
        ]
    }
    fn summary(&self) -> String {
        format!("{} {} at {}", self.url, self.reference, self.commit)
    }
}

impl Pin for LockedChart {
    const KIND: &'static str = "chart";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("repo", self.repo.clone()),
            ("version", self.version.clone()),
            ("url", self.url.clone()),
            ("digest", self.digest.to_string()),
        ]
    }
    fn summary(&self) -> String {
        format!("{} {}  {}", self.version, self.digest, self.url)
    }
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

/// Compares two locks; the result is sorted by kind, then key.
pub fn diff(old: &Lockfile, new: &Lockfile) -> Vec<Change> {
    let mut changes = compare(&old.files, &new.files);
    changes.extend(compare(&old.images, &new.images));
    changes.extend(compare(&old.apts, &new.apts));
    changes.extend(compare(&old.yums, &new.yums));
    changes.extend(compare(&old.gits, &new.gits));
    changes.extend(compare(&old.charts, &new.charts));
    changes
}

fn compare<P: Pin>(old: &[P], new: &[P]) -> Vec<Change> {
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
