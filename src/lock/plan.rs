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

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries and pins as (key, value): a pin is current when its value equals the entry's.
    fn run(
        entries: &[(&str, u32)],
        pins: &[(&str, u32)],
        update: Option<&[&str]>,
    ) -> KindPlan<(String, u32), (String, u32)> {
        let entries: Vec<(String, u32)> = entries
            .iter()
            .map(|(key, value)| (key.to_string(), *value))
            .collect();
        let pins: Vec<(String, u32)> = pins
            .iter()
            .map(|(key, value)| (key.to_string(), *value))
            .collect();
        plan_kind(
            &entries,
            &pins,
            |entry| entry.0.clone(),
            |pin| pin.0.clone(),
            |entry| {
                update.is_some_and(|names| names.is_empty() || names.contains(&entry.0.as_str()))
            },
            |entry, pin| (entry.1 != pin.1).then_some("value"),
        )
    }

    fn keys<T>(items: &[(T, Reason)], key: impl Fn(&T) -> String) -> Vec<(String, Reason)> {
        items
            .iter()
            .map(|(item, reason)| (key(item), reason.clone()))
            .collect()
    }

    #[test]
    fn unchanged_pins_are_kept_and_the_rest_resolved_or_removed() {
        let plan = run(
            &[("a", 1), ("b", 2), ("c", 3)],
            &[("a", 1), ("b", 9), ("gone", 4)],
            None,
        );
        assert_eq!(plan.keep, vec![("a".to_string(), 1)]);
        assert_eq!(
            keys(&plan.resolve, |entry| entry.0.clone()),
            vec![
                ("b".to_string(), Reason::Changed("value")),
                ("c".to_string(), Reason::New)
            ]
        );
        assert_eq!(plan.removed, vec![("gone".to_string(), 4)]);
    }

    #[test]
    fn update_names_some_or_all() {
        let entries = [("a", 1), ("b", 2)];
        let pins = [("a", 1), ("b", 2)];
        let some = run(&entries, &pins, Some(&["b"]));
        assert_eq!(some.keep, vec![("a".to_string(), 1)]);
        assert_eq!(
            keys(&some.resolve, |entry| entry.0.clone()),
            vec![("b".to_string(), Reason::Update)]
        );
        let all = run(&entries, &pins, Some(&[]));
        assert!(all.keep.is_empty());
        assert_eq!(all.resolve.len(), 2);
        let none = run(&entries, &pins, None);
        assert_eq!(none.keep.len(), 2);
        assert!(none.resolve.is_empty() && none.removed.is_empty());
    }
}
