//! Chart relocation: for clusters whose nodes cannot be given mirror configuration, a values
//! override per chart that points every image its `values.yaml` names at the registry the
//! images were pushed into (`render --registry`), by digest where the chart has a `digest`
//! field, so `helm install -f config/helm/values/<chart>.yaml` names only the enclave registry.
//!
//! The places are found as the lock found the chart's images (`image:` strings and maps), plus
//! any other string of the values that names one of the chart's locked images exactly.

use std::collections::BTreeMap;
use std::path::Path;

use crate::kinds::chart::{ChartArchive, ImageSite, SiteForm, image_sites};
use crate::oci::pin::LockedImage;
use crate::oci::reference::Reference;
use crate::oci::target::Target;

/// The override for one chart, and the chart's images it could not place (named only outside
/// `values.yaml`, or inside a list).
pub struct Relocation {
    pub values: yaml_serde::Value,
    pub unplaced: Vec<String>,
}

/// The values override of the chart archive at `archive`, whose locked images are `images`.
pub fn relocate(
    archive: &Path,
    images: &[&LockedImage],
    target: &Target,
) -> Result<Relocation, String> {
    let contents = ChartArchive::read(archive, &["Chart.yaml", "values.yaml"])
        .map_err(|error| format!("{}: {error}", archive.display()))?;
    let chart_yaml = contents
        .chart_yaml()
        .map_err(|error| format!("{}: {error}", archive.display()))?;
    let values: yaml_serde::Value = match contents.files.get("values.yaml") {
        Some(text) => yaml_serde::from_str(text)
            .map_err(|error| format!("{}: values.yaml is not YAML: {error}", archive.display()))?,
        None => yaml_serde::Value::Null,
    };
    let locked: BTreeMap<&str, &LockedImage> = images
        .iter()
        .map(|image| (image.reference.as_str(), *image))
        .collect();
    let mut sites = image_sites(&values, chart_yaml["appVersion"].as_str());
    other_strings(&values, &mut Vec::new(), &locked, &mut sites);

    let mut root = yaml_serde::Mapping::new();
    let mut placed = std::collections::BTreeSet::new();
    for site in &sites {
        let (Some(path), Some(image)) = (&site.path, locked.get(site.reference.as_str())) else {
            continue;
        };
        let Ok(reference) = Reference::parse(&site.reference) else {
            continue;
        };
        let repository = target.repository(&reference);
        let value = match site.form {
            SiteForm::Text => {
                let mut text = format!("{}/{repository}", target.host);
                if let Some(tag) = &reference.tag {
                    text.push(':');
                    text.push_str(tag);
                }
                text.push('@');
                text.push_str(&image.digest.to_string());
                yaml_serde::Value::String(text)
            }
            SiteForm::Map { registry, digest } => {
                let mut map = yaml_serde::Mapping::new();
                if registry {
                    map.insert("registry".into(), target.host.clone().into());
                    map.insert("repository".into(), repository.into());
                } else {
                    map.insert(
                        "repository".into(),
                        format!("{}/{repository}", target.host).into(),
                    );
                }
                if digest {
                    map.insert("digest".into(), image.digest.to_string().into());
                }
                yaml_serde::Value::Mapping(map)
            }
        };
        insert(&mut root, path, value);
        placed.insert(image.reference.as_str());
    }
    Ok(Relocation {
        values: yaml_serde::Value::Mapping(root),
        unplaced: images
            .iter()
            .map(|image| image.reference.as_str())
            .filter(|reference| !placed.contains(reference))
            .map(str::to_string)
            .collect(),
    })
}

/// Strings outside `image:` keys that name one of the chart's locked images exactly (a
/// `ref:` the templates put into an `image:` field themselves).
fn other_strings(
    value: &yaml_serde::Value,
    path: &mut Vec<String>,
    locked: &BTreeMap<&str, &LockedImage>,
    sites: &mut Vec<ImageSite>,
) {
    let Some(mapping) = value.as_mapping() else {
        return;
    };
    for (key, inner) in mapping {
        let Some(key) = key.as_str() else { continue };
        if key == "image" {
            continue;
        }
        path.push(key.to_string());
        if let Some(text) = inner.as_str() {
            if text.contains('/')
                && let Ok(reference) = Reference::parse(text.trim())
                && locked.contains_key(reference.to_string().as_str())
            {
                sites.push(ImageSite {
                    path: Some(path.clone()),
                    reference: reference.to_string(),
                    form: SiteForm::Text,
                });
            }
        } else {
            other_strings(inner, path, locked, sites);
        }
        path.pop();
    }
}

/// Sets `value` at `path` in `root`, making the maps on the way (a map already there merges).
fn insert(root: &mut yaml_serde::Mapping, path: &[String], value: yaml_serde::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = root;
    for key in parents {
        let entry = current
            .entry(key.clone().into())
            .or_insert_with(|| yaml_serde::Value::Mapping(yaml_serde::Mapping::new()));
        if !entry.is_mapping() {
            *entry = yaml_serde::Value::Mapping(yaml_serde::Mapping::new());
        }
        let Some(mapping) = entry.as_mapping_mut() else {
            return;
        };
        current = mapping;
    }
    match (current.get_mut(last.as_str()), value) {
        (Some(yaml_serde::Value::Mapping(existing)), yaml_serde::Value::Mapping(new)) => {
            existing.extend(new);
        }
        (_, value) => {
            current.insert(last.clone().into(), value);
        }
    }
}
