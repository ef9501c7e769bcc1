//! `airgap lock`: bring airgap.lock in line with the manifests.

use anyhow::Result;

use crate::cli::LockArgs;
use crate::ops;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &LockArgs) -> Result<()> {
    ops::lock::run(settings, &args.mode, args.update.as_deref())
}
