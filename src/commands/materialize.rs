//! `airgap materialize --to DIR`: fetch, verify and place everything the lock pins.

use anyhow::Result;

use crate::cli::MaterializeArgs;
use crate::ops;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &MaterializeArgs) -> Result<()> {
    ops::materialize::run(settings, args)
}
