//! `airgap apply DELTA --to MIRROR --key K`: the enclave's mirror gains a generation.

use anyhow::Result;

use crate::cli::ApplyArgs;
use crate::ops;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &ApplyArgs) -> Result<()> {
    ops::apply::run(settings, args)
}
