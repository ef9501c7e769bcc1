//! `airgap diff OLD NEW`: the change review, one line per artifact, or JSON.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use crate::cli::DiffArgs;
use crate::lock::Lockfile;
use crate::lock::diff::{self, Change};
use crate::printer::human_bytes;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &DiffArgs) -> Result<()> {
    let old = read(&args.old)?;
    let new = read(&args.new)?;
    let changes = diff::diff(&old, &new);
    if args.json {
        settings
            .printer
            .result(serde_json::to_string_pretty(&changes)?);
        return Ok(());
    }
    for change in &changes {
        settings.printer.result(line(change));
    }
    let count =
        |wanted: fn(&Change) -> bool| changes.iter().filter(|change| wanted(change)).count();
    settings.printer.status(
        "Compared",
        format!(
            "{} added, {} removed, {} changed",
            count(|change| matches!(change, Change::Added { .. })),
            count(|change| matches!(change, Change::Removed { .. })),
            count(|change| matches!(change, Change::Changed { .. })),
        ),
    );
    Ok(())
}

fn read(path: &Path) -> Result<Lockfile> {
    let file: PathBuf = if path.is_dir() {
        path.join("airgap.lock")
    } else {
        path.to_path_buf()
    };
    Lockfile::read(&file)?.ok_or_else(|| {
        anyhow!(
            "{} does not exist\nhint: pass two lockfiles, or two workspaces or media trees that hold airgap.lock",
            file.display()
        )
    })
}

fn line(change: &Change) -> String {
    match change {
        Change::Added { kind, artifact } => format!(
            "+ {kind} {}  {}  {}  {}",
            artifact.key(),
            artifact.digest,
            human_bytes(artifact.size),
            artifact.url
        ),
        Change::Removed { kind, artifact } => format!(
            "- {kind} {}  {}  {}",
            artifact.key(),
            artifact.digest,
            artifact.url
        ),
        Change::Changed {
            kind,
            old,
            new,
            fields,
        } => {
            let mut parts = Vec::new();
            for field in fields {
                parts.push(match *field {
                    "url" => format!("url {} -> {}", old.url, new.url),
                    "path" => format!("path {} -> {}", old.path, new.path),
                    "digest" => format!("digest {} -> {}", old.digest, new.digest),
                    "size" => format!(
                        "size {} -> {}",
                        human_bytes(old.size),
                        human_bytes(new.size)
                    ),
                    "pinned_by" => format!("pinned by {:?} -> {:?}", old.pinned_by, new.pinned_by),
                    other => format!("{other} changed"),
                });
            }
            format!("~ {kind} {}  {}", new.key(), parts.join("; "))
        }
    }
}
