//! `airgap render DIR`: re-render a tree's configuration.

use anyhow::Result;

use crate::cli::RenderArgs;
use crate::ops;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &RenderArgs) -> Result<()> {
    ops::render::run(settings, args)
}
