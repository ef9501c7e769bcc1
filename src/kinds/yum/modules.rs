//! Modular repositories (RHEL, Rocky and Alma 8 and 9 AppStream): `modules.yaml` lists module
//! streams (`modulemd` documents: a module, a stream, the NEVRAs of its packages) and default
//! streams (`modulemd-defaults`). dnf shows the packages of the enabled streams (a default
//! stream unless another is enabled) and hides the rest: packages of other streams, and
//! packages outside any module that share a name with a package of an enabled stream
//! (modular filtering). Resolution does the same before choosing anything.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::kinds::yum::metadata::RpmPackage;

/// The largest `modules.yaml` read, decompressed (RHEL 8's AppStream: a few MiB).
pub const LIMIT: u64 = 64 << 20;

/// What one repository's `modules.yaml` says.
#[derive(Debug, Default, Clone)]
pub struct Modules {
    /// (module, stream) to the NEVRAs (`name-epoch:version-release.arch`) of its packages.
    pub streams: BTreeMap<(String, String), BTreeSet<String>>,
    /// Module to its default stream.
    pub defaults: BTreeMap<String, String>,
}

impl Modules {
    /// Parses a `modules.yaml` stream of YAML documents; documents of other kinds are skipped.
    pub fn parse(text: &str) -> Result<Modules, String> {
        use serde::Deserialize;
        let mut modules = Modules::default();
        for document in yaml_serde::Deserializer::from_str(text) {
            let value = yaml_serde::Value::deserialize(document)
                .map_err(|error| format!("is not YAML: {error}"))?;
            let data = &value["data"];
            let text = |value: &yaml_serde::Value| match value {
                yaml_serde::Value::String(text) => Some(text.clone()),
                yaml_serde::Value::Number(number) => Some(number.to_string()),
                _ => None,
            };
            match value["document"].as_str() {
                Some("modulemd") => {
                    let (Some(name), Some(stream)) = (text(&data["name"]), text(&data["stream"]))
                    else {
                        return Err("has a modulemd document without a name or stream".into());
                    };
                    let artifacts = modules.streams.entry((name, stream)).or_default();
                    for rpm in data["artifacts"]["rpms"]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                    {
                        if let Some(nevra) = rpm.as_str() {
                            artifacts.insert(nevra.to_string());
                        }
                    }
                }
                Some("modulemd-defaults") => {
                    if let (Some(module), Some(stream)) =
                        (text(&data["module"]), text(&data["stream"]))
                    {
                        modules.defaults.insert(module, stream);
                    }
                }
                _ => {}
            }
        }
        Ok(modules)
    }

    /// Adds another repository's modules.
    pub fn extend(&mut self, other: Modules) {
        for (key, artifacts) in other.streams {
            self.streams.entry(key).or_default().extend(artifacts);
        }
        self.defaults.extend(other.defaults);
    }

    /// The packages dnf hides when `enabled` (`module:stream`) are enabled and every other
    /// module with a default uses it. An enabled stream that does not exist is an error
    /// naming the streams there are.
    pub fn hidden(
        &self,
        packages: &[RpmPackage],
        enabled: &[String],
    ) -> Result<HashSet<usize>, String> {
        let mut active: BTreeMap<&str, &str> = self
            .defaults
            .iter()
            .map(|(module, stream)| (module.as_str(), stream.as_str()))
            .collect();
        for request in enabled {
            let (module, stream) = request.split_once(':').unwrap_or((request, ""));
            if !self
                .streams
                .contains_key(&(module.to_string(), stream.to_string()))
            {
                let there: Vec<String> = self
                    .streams
                    .keys()
                    .filter(|(name, _)| name == module)
                    .map(|(name, stream)| format!("{name}:{stream}"))
                    .collect();
                return Err(if there.is_empty() {
                    format!("no repository has the module `{module}`")
                } else {
                    format!(
                        "the module stream `{request}` does not exist; there are: {}",
                        there.join(", ")
                    )
                });
            }
            active.insert(module, stream);
        }
        let mut modular: HashSet<&str> = HashSet::new();
        let mut visible: HashSet<&str> = HashSet::new();
        let mut active_names: HashSet<&str> = HashSet::new();
        for ((module, stream), artifacts) in &self.streams {
            let on = active.get(module.as_str()) == Some(&stream.as_str());
            for nevra in artifacts {
                modular.insert(nevra);
                if on {
                    visible.insert(nevra);
                    active_names.insert(name_of(nevra));
                }
            }
        }
        Ok(packages
            .iter()
            .enumerate()
            .filter(|(_, package)| {
                let nevra = package.nevra();
                if modular.contains(nevra.as_str()) {
                    !visible.contains(nevra.as_str())
                } else {
                    active_names.contains(package.name.as_str())
                }
            })
            .map(|(index, _)| index)
            .collect())
    }
}

/// The name of a `name-epoch:version-release.arch`.
fn name_of(nevra: &str) -> &str {
    let without_arch = nevra.rsplit_once('.').map_or(nevra, |(head, _)| head);
    let without_release = without_arch
        .rsplit_once('-')
        .map_or(without_arch, |(head, _)| head);
    without_release
        .rsplit_once('-')
        .map_or(without_release, |(head, _)| head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_streams_and_modular_filtering() {
        let text = "---\ndocument: modulemd\nversion: 2\ndata:\n  name: tool\n  stream: 2\n  artifacts:\n    rpms: [tool-0:2.0-1.x86_64]\n...\n---\ndocument: modulemd\nversion: 2\ndata:\n  name: tool\n  stream: 3\n  artifacts:\n    rpms: [tool-0:3.0-1.x86_64]\n...\n---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: tool\n  stream: 2\n...\n";
        let modules = Modules::parse(text).unwrap();
        let package = |version: &str| RpmPackage {
            name: "tool".into(),
            arch: "x86_64".into(),
            version: version.into(),
            release: "1".into(),
            ..RpmPackage::default()
        };
        let packages = [package("1.0"), package("2.0"), package("3.0")];
        // The default stream shows 2.0; 1.0 (outside modules) and 3.0 are hidden.
        let hidden = modules.hidden(&packages, &[]).unwrap();
        assert_eq!(hidden, HashSet::from([0, 2]));
        let hidden = modules.hidden(&packages, &["tool:3".into()]).unwrap();
        assert_eq!(hidden, HashSet::from([0, 1]));
        let error = modules.hidden(&packages, &["tool:9".into()]).unwrap_err();
        assert!(error.contains("there are: tool:2, tool:3"), "{error}");
        assert_eq!(name_of("toolbox-libs-0:2.0-1.x86_64"), "toolbox-libs");
    }
}
