//! `airgap push DIR --registry HOST[/PREFIX]`: a tree's images into an enclave registry.

use anyhow::Result;

use crate::cli::PushArgs;
use crate::ops;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &PushArgs) -> Result<()> {
    ops::push::run(settings, args)
}
