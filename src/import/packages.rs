//! Kubespray's OS packages for one operating system: `roles/system_packages`'s `pkgs:` table,
//! each package with the conditions under which Kubespray installs it (all must hold; none
//! means always), evaluated with the facts Ansible gathers on a node of that system and
//! Kubespray's variables. The result becomes an `[[apt]]` or `[[yum]]` entry.

use std::collections::HashMap;

use super::ImportError;
use super::ansible::{Vars, truthy};

/// Where the role's data lives in a Kubespray tree.
pub const VARS: &str = "roles/system_packages/vars";
pub const DEFAULTS: &str = "roles/system_packages/defaults";

/// The package manager of a system, and so the kind of the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Apt,
    Yum,
}

/// An operating system as `--os` names it, with the facts Ansible reports for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    pub name: String,
    pub family: &'static str,
    pub distribution: &'static str,
    pub version: String,
    pub major: String,
    pub manager: Manager,
    /// The Debian or Ubuntu codename (the suite).
    pub codename: Option<&'static str>,
}

/// A release of a system, and its codename where apt needs one.
type Release = (&'static str, Option<&'static str>);

/// The systems `--os` accepts: (prefix, family, distribution, manager, releases).
const SYSTEMS: &[(&str, &str, &str, Manager, &[Release])] = &[
    (
        "debian",
        "Debian",
        "Debian",
        Manager::Apt,
        &[
            ("11", Some("bullseye")),
            ("12", Some("bookworm")),
            ("13", Some("trixie")),
        ],
    ),
    (
        "ubuntu",
        "Debian",
        "Ubuntu",
        Manager::Apt,
        &[("22.04", Some("jammy")), ("24.04", Some("noble"))],
    ),
    (
        "rocky",
        "RedHat",
        "Rocky",
        Manager::Yum,
        &[("8", None), ("9", None), ("10", None)],
    ),
    (
        "almalinux",
        "RedHat",
        "AlmaLinux",
        Manager::Yum,
        &[("8", None), ("9", None), ("10", None)],
    ),
    (
        "rhel",
        "RedHat",
        "RedHat",
        Manager::Yum,
        &[("8", None), ("9", None), ("10", None)],
    ),
    (
        "centos",
        "RedHat",
        "CentOS",
        Manager::Yum,
        &[("9", None), ("10", None)],
    ),
    (
        "oraclelinux",
        "RedHat",
        "OracleLinux",
        Manager::Yum,
        &[("8", None), ("9", None)],
    ),
    (
        "fedora",
        "RedHat",
        "Fedora",
        Manager::Yum,
        &[("41", None), ("42", None)],
    ),
    (
        "amazon",
        "RedHat",
        "Amazon",
        Manager::Yum,
        &[("2023", None)],
    ),
];

/// Every name `--os` accepts.
pub fn known() -> Vec<String> {
    SYSTEMS
        .iter()
        .flat_map(|(prefix, _, _, _, versions)| {
            versions
                .iter()
                .map(move |(version, _)| format!("{prefix}-{version}"))
        })
        .collect()
}

/// The system `name` (`debian-12`, `ubuntu-24.04`, `rocky-9`) names.
pub fn system(name: &str) -> Result<System, ImportError> {
    for (prefix, family, distribution, manager, versions) in SYSTEMS {
        for (version, codename) in *versions {
            if name == format!("{prefix}-{version}") {
                return Ok(System {
                    name: name.to_string(),
                    family,
                    distribution,
                    version: version.to_string(),
                    major: version.split('.').next().unwrap_or(version).to_string(),
                    manager: *manager,
                    codename: *codename,
                });
            }
        }
    }
    Err(ImportError::Invalid(format!(
        "--os {name} is not a system airgap knows: {} (SUSE, Flatcar and other systems without apt or yum have no entry kind)",
        known().join(", ")
    )))
}

/// The facts Ansible gathers on a node of `system`, and what Kubespray sets before
/// `system_packages` runs (a node of the cluster with an access address).
pub fn facts(system: &System) -> HashMap<String, yaml_serde::Value> {
    let text = |value: &str| yaml_serde::Value::String(value.to_string());
    let mut facts = HashMap::new();
    for (name, value) in [
        ("ansible_os_family", system.family),
        ("ansible_distribution", system.distribution),
        ("ansible_distribution_version", system.version.as_str()),
        ("ansible_distribution_major_version", system.major.as_str()),
        ("ansible_system", "Linux"),
        ("inventory_hostname", "node1"),
        ("main_access_ip", "10.0.0.1"),
    ] {
        facts.insert(name.to_string(), text(value));
    }
    facts.insert(
        "group_names".to_string(),
        yaml_serde::Value::Sequence(
            ["etcd", "k8s_cluster", "kube_control_plane", "kube_node"]
                .iter()
                .map(|group| text(group))
                .collect(),
        ),
    );
    facts
}

/// The packages of `pkgs` whose conditions all hold under `vars`, in the table's order.
pub fn selected(
    pkgs: &yaml_serde::Mapping,
    vars: &std::sync::Arc<Vars>,
) -> Result<Vec<String>, ImportError> {
    let mut names = Vec::new();
    for (name, conditions) in pkgs {
        let Some(name) = name.as_str() else { continue };
        let conditions = conditions.as_sequence().cloned().unwrap_or_default();
        let mut all = true;
        for (index, condition) in conditions.iter().enumerate() {
            let value = vars.evaluate(&format!("pkgs.{name}[{index}]"), condition)?;
            if !truthy(&value) {
                all = false;
                break;
            }
        }
        if all {
            names.push(name.to_string());
        }
    }
    Ok(names)
}
