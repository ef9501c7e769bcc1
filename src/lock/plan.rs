//! Staleness: which pins of an existing lock still match the manifests, and which entries must
//! be (re-)resolved. Pure computation, so that `--locked` and `--offline` can decide without
//! the network.

use std::fmt;

use std::collections::{BTreeMap, BTreeSet};

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

/// Why an entry needs resolving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Not in the lock yet.
    New,
    /// In the lock, but its manifest entry changed (the field that changed).
    Changed(&'static str),
    /// Named by `--update`.
    Update,
    /// Resolved again with the others of its kind, one of which changed (apt, yum closures).
    Together,
}

impl fmt::Display for Reason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::New => write!(formatter, "not in the lock yet"),
            Reason::Changed(field) => write!(formatter, "its `{field}` changed in the manifest"),
            Reason::Update => write!(formatter, "--update asked for it"),
            Reason::Together => write!(formatter, "resolved with the rest of its kind"),
        }
    }
}

/// Compares one kind's manifest entries with its pins in the previous lock: pins whose entry
/// is unchanged are kept, entries that are new, changed or named by `--update` (`wanted`) are
/// to be resolved, and pins whose entry left are removed. Linear in entries and pins.
pub fn plan_kind<Artifact: Clone, Pin: Clone, Key: Ord>(
    artifacts: &[Artifact],
    pins: &[Pin],
    artifact_key: impl Fn(&Artifact) -> Key,
    pin_key: impl Fn(&Pin) -> Key,
    wanted: impl Fn(&Artifact) -> bool,
    changed: impl Fn(&Artifact, &Pin) -> Option<&'static str>,
) -> KindPlan<Artifact, Pin> {
    let mut plan = KindPlan::default();
    let by_key: BTreeMap<Key, &Pin> = pins.iter().map(|pin| (pin_key(pin), pin)).collect();
    let mut present = BTreeSet::new();
    for artifact in artifacts {
        let key = artifact_key(artifact);
        match by_key.get(&key) {
            _ if wanted(artifact) => plan.resolve.push((artifact.clone(), Reason::Update)),
            None => plan.resolve.push((artifact.clone(), Reason::New)),
            Some(pin) => match changed(artifact, pin) {
                Some(field) => plan
                    .resolve
                    .push((artifact.clone(), Reason::Changed(field))),
                None => plan.keep.push((*pin).clone()),
            },
        }
        present.insert(key);
    }
    for pin in pins {
        if !present.contains(&pin_key(pin)) {
            plan.removed.push(pin.clone());
        }
    }
    plan
}
