//! One file per subcommand: orchestration only. Parsing lives in `manifest` and `lock`,
//! fetching in `source` and `store`, writing in `media`.

pub mod apply;
pub mod diff;
pub mod import;
pub mod init;
pub mod lock;
pub mod materialize;
pub mod push;
pub mod render;
pub mod sbom;
pub mod serve;
pub mod verify;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::settings::Settings;

/// Runs the parsed command line.
pub fn dispatch(cli: &Cli, settings: &Settings) -> Result<()> {
    match &cli.command {
        Command::Init(args) => init::run(settings, args),
        Command::Lock(args) => lock::run(settings, args),
        Command::Materialize(args) => materialize::run(settings, args),
        Command::Verify(args) => verify::run(settings, args),
        Command::Diff(args) => diff::run(settings, args),
        Command::Apply(args) => apply::run(settings, args),
        Command::Sbom(args) => sbom::run(settings, args),
        Command::Serve(args) => serve::run(settings, args),
        Command::Render(args) => render::run(settings, args),
        Command::Push(args) => push::run(settings, args),
        Command::Import(command) => import::run(settings, command),
        Command::Completions(args) => {
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "airgap", &mut std::io::stdout());
            Ok(())
        }
        Command::ManPage => {
            let page = clap_mangen::Man::new(Cli::command());
            page.render(&mut std::io::stdout())?;
            Ok(())
        }
    }
}
