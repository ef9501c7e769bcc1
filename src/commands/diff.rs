//! `airgap diff OLD NEW`: the change review, one line per artifact, or JSON.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::DiffArgs;
use crate::hint::Hinted;
use crate::kinds;
use crate::kinds::Lockfile;
use crate::lock::diff::Change;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &DiffArgs) -> Result<()> {
    let old = read(&args.old)?;
    let new = read(&args.new)?;
    let changes = kinds::diff(&old, &new);
    let summary = crate::lock::diff::summarize(&changes);
    if args.json {
        settings.printer.result(serde_json::to_string_pretty(
            &serde_json::json!({"changes": changes, "summary": summary}),
        )?);
        return Ok(());
    }
    for change in &changes {
        settings.printer.result(line(change));
    }
    settings.printer.status("Compared", summary.describe());
    Ok(())
}

fn read(path: &Path) -> Result<Lockfile> {
    let file: PathBuf = if path.is_dir() {
        path.join("airgap.lock")
    } else {
        path.to_path_buf()
    };
    Lockfile::read(&file)?.ok_or_else(|| {
        anyhow::Error::from(Hinted::new(
            format!("{} does not exist", file.display()),
            "pass two lockfiles, or two workspaces or media trees that hold airgap.lock",
        ))
    })
}

fn line(change: &Change) -> String {
    match change.change {
        "added" => format!("+ {} {}  {}", change.kind, change.key, change.summary),
        "removed" => format!("- {} {}  {}", change.kind, change.key, change.summary),
        _ => {
            let fields: Vec<String> = change
                .fields
                .iter()
                .map(|field| {
                    format!(
                        "{} {} -> {}",
                        field.field,
                        show(&field.old),
                        show(&field.new)
                    )
                })
                .collect();
            format!("~ {} {}  {}", change.kind, change.key, fields.join("; "))
        }
    }
}

fn show(value: &str) -> &str {
    if value.is_empty() { "(none)" } else { value }
}
