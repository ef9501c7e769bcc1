//! `airgap sbom [PATH]`: the bill of materials of a lock, a workspace or a media tree.

use anyhow::Result;

use crate::cli::SbomArgs;
use crate::hint::Hinted;
use crate::kinds::Lockfile;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &SbomArgs) -> Result<()> {
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| settings.workspace.clone());
    let file = if path.is_dir() {
        path.join(crate::media::tree::LOCK)
    } else {
        path
    };
    let lock = Lockfile::read(&file)?.ok_or_else(|| {
        anyhow::Error::from(Hinted::new(
            format!("{} does not exist", file.display()),
            "pass a lockfile, or a workspace or media tree that holds airgap.lock",
        ))
    })?;
    settings
        .printer
        .result(crate::kinds::sbom(&lock).trim_end());
    Ok(())
}
