//! A Helm repository on the media: the pinned chart archives and an `index.yaml` regenerated
//! from each archive's own `Chart.yaml` (never copied from upstream), with each archive's
//! digest and a relative URL, so `helm repo add` + `helm pull` work against the media.

use super::ArchiveError;
use std::path::Path;

use crate::kinds::chart::LockedChart;

/// Where a chart archive goes.
pub fn archive_path(pin: &LockedChart) -> String {
    format!("{}/{}-{}.tgz", super::ROOT, pin.name, pin.version)
}

/// The `Chart.yaml` inside a chart archive, as YAML.
pub fn chart_yaml(path: &Path) -> Result<yaml_serde::Value, ArchiveError> {
    crate::kinds::chart::ChartArchive::read(path, &["Chart.yaml"])?.chart_yaml()
}

/// Why `index.yaml` could not be made from the archives on the media.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{archive} {problem}")]
    Archive {
        archive: String,
        problem: ArchiveError,
    },
    #[error("{0}: Chart.yaml is not a mapping")]
    NotMapping(String),
    #[error("cannot write index.yaml: {0}")]
    Write(String),
}

/// Renders `index.yaml` for the charts (whose archives are in the tree at `root`).
pub fn index_yaml(root: &Path, charts: &[LockedChart]) -> Result<String, IndexError> {
    let mut entries = yaml_serde::Mapping::new();
    let mut sorted: Vec<&LockedChart> = charts.iter().collect();
    sorted.sort_by(|left, right| (&left.name, &left.version).cmp(&(&right.name, &right.version)));
    for pin in sorted {
        let archive = archive_path(pin);
        let mut chart =
            chart_yaml(&root.join(&archive)).map_err(|problem| IndexError::Archive {
                archive: archive.clone(),
                problem,
            })?;
        let Some(fields) = chart.as_mapping_mut() else {
            return Err(IndexError::NotMapping(archive));
        };
        let file = archive
            .trim_start_matches(&format!("{}/", super::ROOT))
            .to_string();
        fields.insert(
            "urls".into(),
            yaml_serde::Value::Sequence(vec![file.into()]),
        );
        fields.insert("digest".into(), pin.digest.hex().into());
        fields.insert("created".into(), "1970-01-01T00:00:00Z".into());
        let list = entries
            .entry(pin.name.clone().into())
            .or_insert_with(|| yaml_serde::Value::Sequence(Vec::new()));
        if let Some(list) = list.as_sequence_mut() {
            list.push(chart);
        }
    }
    let mut index = yaml_serde::Mapping::new();
    index.insert("apiVersion".into(), "v1".into());
    index.insert("entries".into(), yaml_serde::Value::Mapping(entries));
    index.insert("generated".into(), "1970-01-01T00:00:00Z".into());
    yaml_serde::to_string(&index).map_err(|error| IndexError::Write(error.to_string()))
}
