//! `airgap init [DIR]`: a workspace with commented example manifests.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::InitArgs;
use crate::hint::Hinted;
use crate::settings::Settings;

/// The examples: `[enclave]` first, one file per kind (from the list of kinds), then what
/// rendering reads and the signature policies.
fn examples() -> Vec<(String, &'static str)> {
    let mut examples = vec![(
        "00-enclave.toml".to_string(),
        include_str!("../../templates/init/00-enclave.toml"),
    )];
    for (index, kind) in crate::kinds::ALL.iter().enumerate() {
        let (name, text) = kind.example();
        examples.push((format!("{:02}-{name}.toml", 10 * (index + 1)), text));
    }
    examples.push((
        "90-rendering.toml".to_string(),
        include_str!("../../templates/init/90-rendering.toml"),
    ));
    examples.push((
        "95-policies.toml".to_string(),
        include_str!("../../templates/init/95-policies.toml"),
    ));
    examples
}

pub fn run(settings: &Settings, args: &InitArgs) -> Result<()> {
    let root = args.dir.as_deref().unwrap_or(&settings.workspace);
    let manifests = root.join("manifests");
    if has_manifests(&manifests) {
        return Err(Hinted::new(
            format!(
                "{} already has manifests; init writes nothing into an existing workspace",
                manifests.display()
            ),
            "edit the manifests there, or pass another DIR",
        )
        .into());
    }
    std::fs::create_dir_all(&manifests)
        .with_context(|| format!("cannot create {}", manifests.display()))?;
    let examples = examples();
    for (name, text) in &examples {
        let path = manifests.join(name);
        crate::store::atomic_write(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    settings.printer.status(
        "Created",
        format!(
            "workspace {} with {} example manifests",
            root.display(),
            examples.len()
        ),
    );
    settings.printer.status(
        "Next",
        "edit manifests/*.toml, then `airgap lock` and `airgap materialize --to DIR`",
    );
    Ok(())
}

fn has_manifests(directory: &Path) -> bool {
    std::fs::read_dir(directory).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            entry
                .path()
                .extension()
                .is_some_and(|extension| extension == "toml")
        })
    })
}
