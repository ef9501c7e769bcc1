//! `airgap verify DIR [--key FILE]`: a media tree checked offline.

use anyhow::Result;

use crate::cli::VerifyArgs;
use crate::ops;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &VerifyArgs) -> Result<()> {
    ops::verify::run(settings, args)
}
