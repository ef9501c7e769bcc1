//! Staleness: which pins of an existing lock still match the manifests, and which entries must
//! be (re-)resolved. Pure computation, so that `--locked` and `--offline` can decide without
//! the network.

use std::fmt;

use crate::lock::{
    LockedApt, LockedChart, LockedFile, LockedGit, LockedImage, LockedYum, Lockfile,
};
use crate::manifest::{
    AptArtifact, ChartArtifact, FileArtifact, GitArtifact, ImageArtifact, Manifest, YumArtifact,
};

/// What `lock` has to do for one kind of artifact.
#[derive(Debug)]
pub struct KindPlan<Artifact, Pin> {
    /// Pins that are still valid, kept as they are.
    pub keep: Vec<Pin>,
    /// Entries to resolve, with the reason.
    pub resolve: Vec<(Artifact, Reason)>,
    /// Pins whose entry left the manifests.
    pub removed: Vec<Pin>,
}

impl<Artifact, Pin> Default for KindPlan<Artifact, Pin> {
    fn default() -> Self {
        KindPlan {
            keep: Vec::new(),
            resolve: Vec::new(),
            removed: Vec::new(),
        }
    }
}

/// What `lock` has to do.
#[derive(Debug, Default)]
pub struct Plan {
    pub files: KindPlan<FileArtifact, LockedFile>,
    pub images: KindPlan<ImageArtifact, LockedImage>,
    pub apts: KindPlan<AptArtifact, LockedApt>,
    pub yums: KindPlan<YumArtifact, LockedYum>,
    pub gits: KindPlan<GitArtifact, LockedGit>,
    pub charts: KindPlan<ChartArtifact, LockedChart>,
}

impl Plan {
    /// Nothing to resolve and nothing removed.
    pub fn is_settled(&self) -> bool {
        self.pending().is_empty() && self.dropped().is_empty()
    }

    /// One line per entry to resolve: `file kubeadm (amd64): its `url` changed`.
    pub fn pending(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (artifact, reason) in &self.files.resolve {
            lines.push(format!("file {}: {reason}", artifact.key));
        }
        for (artifact, reason) in &self.images.resolve {
            lines.push(format!("image {}: {reason}", artifact.reference));
        }
        for (artifact, reason) in &self.apts.resolve {
            lines.push(format!("apt {}: {reason}", artifact.name));
        }
        for (artifact, reason) in &self.yums.resolve {
            lines.push(format!("yum {}: {reason}", artifact.name));
        }
        for (artifact, reason) in &self.gits.resolve {
            lines.push(format!("git {}: {reason}", artifact.name));
        }
        for (artifact, reason) in &self.charts.resolve {
            lines.push(format!("chart {}: {reason}", artifact.name));
        }
        lines
    }

    /// One line per pin whose entry left the manifests.
    pub fn dropped(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for file in &self.files.removed {
            lines.push(format!("file {}: no longer in the manifests", file.key()));
        }
        for image in &self.images.removed {
            lines.push(format!(
                "image {}: no longer in the manifests",
                image.reference
            ));
        }
        for apt in &self.apts.removed {
            lines.push(format!("apt {}: no longer in the manifests", apt.name));
        }
        for yum in &self.yums.removed {
            lines.push(format!("yum {}: no longer in the manifests", yum.name));
        }
        for git in &self.gits.removed {
            lines.push(format!("git {}: no longer in the manifests", git.name));
        }
        for chart in &self.charts.removed {
            lines.push(format!("chart {}: no longer in the manifests", chart.name));
        }
        lines
    }
}

/// Why an entry needs resolving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Not in the lock yet.
    New,
    /// In the lock, but its manifest entry changed (the field that changed).
    Changed(&'static str),
    /// Named by `--update`.
    Update,
}

impl fmt::Display for Reason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::New => write!(formatter, "not in the lock yet"),
            Reason::Changed(field) => write!(formatter, "its `{field}` changed in the manifest"),
            Reason::Update => write!(formatter, "--update asked for it"),
        }
    }
}

/// Compares the manifests with the previous lock. `update` is `None` without `--update`,
/// `Some(&[])` for `--update` with no names (everything), or the names to re-resolve
/// (a file's name, or an image's reference).
pub fn plan(manifest: &Manifest, old: Option<&Lockfile>, update: Option<&[String]>) -> Plan {
    // Images a chart declared are kept or re-derived with their chart, not planned here.
    let own_images: Vec<LockedImage> = old
        .map(|lock| {
            lock.images
                .iter()
                .filter(|image| image.chart.is_none())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // Dependencies a chart brought are kept or re-resolved with it, not planned here.
    let own_charts: Vec<LockedChart> = old
        .map(|lock| {
            lock.charts
                .iter()
                .filter(|chart| chart.dependency_of.is_none())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let wanted = |name: &str| {
        update.is_some_and(|names| names.is_empty() || names.iter().any(|wanted| wanted == name))
    };
    Plan {
        files: plan_kind(
            &manifest.files,
            old.map_or(&[][..], |lock| &lock.files),
            |artifact| artifact.key.clone(),
            LockedFile::key,
            |artifact| wanted(&artifact.key.name),
            changed_file,
        ),
        images: plan_kind(
            &manifest.images,
            &own_images,
            |artifact| artifact.reference.clone(),
            |pin| pin.reference.clone(),
            |artifact| wanted(&artifact.reference),
            changed_image,
        ),
        apts: plan_kind(
            &manifest.apts,
            old.map_or(&[][..], |lock| &lock.apts),
            |artifact| artifact.name.clone(),
            |pin| pin.name.clone(),
            |artifact| wanted(&artifact.name),
            changed_apt,
        ),
        yums: plan_kind(
            &manifest.yums,
            old.map_or(&[][..], |lock| &lock.yums),
            |artifact| artifact.name.clone(),
            |pin| pin.name.clone(),
            |artifact| wanted(&artifact.name),
            changed_yum,
        ),
        gits: plan_kind(
            &manifest.gits,
            old.map_or(&[][..], |lock| &lock.gits),
            |artifact| artifact.name.clone(),
            |pin| pin.name.clone(),
            |artifact| wanted(&artifact.name),
            |artifact, pinned| {
                if artifact.url != pinned.url {
                    Some("url")
                } else if artifact.reference != pinned.reference {
                    Some("ref")
                } else {
                    None
                }
            },
        ),
        charts: plan_kind(
            &manifest.charts,
            &own_charts,
            |artifact| artifact.name.clone(),
            |pin| pin.name.clone(),
            |artifact| wanted(&artifact.name),
            |artifact, pinned| {
                if artifact.repo != pinned.repo {
                    Some("repo")
                } else if artifact.version != pinned.requirement {
                    Some("version")
                } else if artifact.images != pinned.images {
                    Some("images")
                } else {
                    None
                }
            },
        ),
    }
}

fn plan_kind<Artifact: Clone, Pin: Clone, Key: PartialEq>(
    artifacts: &[Artifact],
    pins: &[Pin],
    artifact_key: impl Fn(&Artifact) -> Key,
    pin_key: impl Fn(&Pin) -> Key,
    wanted: impl Fn(&Artifact) -> bool,
    changed: impl Fn(&Artifact, &Pin) -> Option<&'static str>,
) -> KindPlan<Artifact, Pin> {
    let mut plan = KindPlan::default();
    for artifact in artifacts {
        let key = artifact_key(artifact);
        match pins.iter().find(|pin| pin_key(pin) == key) {
            _ if wanted(artifact) => plan.resolve.push((artifact.clone(), Reason::Update)),
            None => plan.resolve.push((artifact.clone(), Reason::New)),
            Some(pin) => match changed(artifact, pin) {
                Some(field) => plan
                    .resolve
                    .push((artifact.clone(), Reason::Changed(field))),
                None => plan.keep.push(pin.clone()),
            },
        }
    }
    for pin in pins {
        let key = pin_key(pin);
        if !artifacts
            .iter()
            .any(|artifact| artifact_key(artifact) == key)
        {
            plan.removed.push(pin.clone());
        }
    }
    plan
}

/// The first manifest field whose value no longer matches the pin, if any.
fn changed_file(artifact: &FileArtifact, pinned: &LockedFile) -> Option<&'static str> {
    if artifact.url != pinned.url {
        return Some("url");
    }
    if artifact.path != pinned.path {
        return Some("path");
    }
    if artifact.checksum_url != pinned.checksum_url {
        return Some("checksum_url");
    }
    if artifact
        .sha256
        .is_some_and(|sha256| sha256 != pinned.digest)
    {
        return Some("sha256");
    }
    if artifact.pin_source() != pinned.pinned_by {
        return Some("sha256");
    }
    None
}

fn changed_apt(artifact: &AptArtifact, pinned: &LockedApt) -> Option<&'static str> {
    let fields: [(&'static str, bool); 9] = [
        ("url", artifact.url != pinned.url),
        ("suite", artifact.suite != pinned.suite),
        ("components", artifact.components != pinned.components),
        (
            "architectures",
            artifact.architectures != pinned.architectures,
        ),
        ("keyring", artifact.keyring != pinned.keyring),
        ("insecure", artifact.insecure != pinned.insecure),
        ("packages", artifact.packages != pinned.packages),
        ("recommends", artifact.recommends != pinned.recommends),
        ("exclude", artifact.exclude != pinned.exclude),
    ];
    fields
        .into_iter()
        .find(|(_, changed)| *changed)
        .map(|(field, _)| field)
}

fn changed_yum(artifact: &YumArtifact, pinned: &LockedYum) -> Option<&'static str> {
    let fields: [(&'static str, bool); 6] = [
        ("url", artifact.url != pinned.url),
        ("arch", artifact.arch != pinned.arch),
        ("gpgkey", artifact.gpgkey != pinned.gpgkey),
        ("insecure", artifact.insecure != pinned.insecure),
        ("packages", artifact.packages != pinned.packages),
        ("exclude", artifact.exclude != pinned.exclude),
    ];
    fields
        .into_iter()
        .find(|(_, changed)| *changed)
        .map(|(field, _)| field)
}

fn changed_image(artifact: &ImageArtifact, pinned: &LockedImage) -> Option<&'static str> {
    if artifact.platforms != pinned.platforms {
        return Some("platforms");
    }
    if artifact.layout != pinned.layout {
        return Some("layout");
    }
    if artifact.referrers != pinned.referrers {
        return Some("referrers");
    }
    if artifact.insecure != pinned.insecure {
        return Some("insecure");
    }
    None
}
