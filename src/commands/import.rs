//! `airgap import kubespray SOURCE`: manifest entries for what a Kubespray configuration
//! downloads.

use std::time::Instant;

use anyhow::{Context, Result};

use crate::cli::{ImportCommand, ImportKubesprayArgs};
use crate::hint::Hinted;
use crate::import::{self, Options};
use crate::settings::Settings;

pub fn run(settings: &Settings, command: &ImportCommand) -> Result<()> {
    match command {
        ImportCommand::Kubespray(args) => kubespray(settings, args),
    }
}

fn kubespray(settings: &Settings, args: &ImportKubesprayArgs) -> Result<()> {
    let started = Instant::now();
    let mut sets = Vec::new();
    for text in &args.sets {
        let Some((key, value)) = text.split_once('=') else {
            return Err(Hinted::new(
                format!("--set {text} is not KEY=VALUE"),
                "e.g. --set kube_network_plugin=cilium",
            )
            .into());
        };
        sets.push((key.trim().to_string(), value.to_string()));
    }
    let options = Options {
        source: args.source.clone(),
        revision: args.rev.clone(),
        kube_version: args.kube_version.clone(),
        arches: args.arch.clone(),
        sets,
        inventory: args.inventory.clone(),
        all: args.all,
        os: args.os.clone(),
        python: args.python.clone(),
    };
    let imported = import::import(&options)?;
    // The command to run it again, with the checkout's place left to the reader: the header
    // must not change with the directory it was generated from (its revision is named below).
    let source = if args.source.is_dir() {
        "KUBESPRAY_CHECKOUT".to_string()
    } else {
        args.source.display().to_string()
    };
    let mut command = vec!["airgap import kubespray".to_string(), source];
    if let Some(version) = &args.kube_version {
        command.push(format!("--kube-version {version}"));
    }
    command.push(format!("--arch {}", args.arch.join(",")));
    command.extend(args.sets.iter().map(|set| format!("--set {set}")));
    if let Some(inventory) = &args.inventory {
        command.push(format!("--inventory {}", inventory.display()));
    }
    if args.all {
        command.push("--all".to_string());
    }
    if let Some(os) = &args.os {
        command.push(format!("--os {os}"));
    }
    if let Some(python) = &args.python {
        command.push(format!("--python {python}"));
    }
    let text = import::manifest(&imported, &command.join(" "));
    match &args.output {
        Some(path) => {
            crate::store::atomic_write(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            settings.printer.status(
                "Imported",
                format!(
                    "{} files and {} images of Kubespray (kube_version {}) into {} in {:.2}s",
                    imported.files.len(),
                    imported.images.len(),
                    imported.kube_version,
                    path.display(),
                    started.elapsed().as_secs_f64()
                ),
            );
        }
        None => settings.printer.result(text.trim_end()),
    }
    Ok(())
}
