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

/// Writes `airgap.1` and a page per subcommand, nested ones too (`airgap-import-kubespray.1`),
/// into `dir`; returns how many.
fn man_pages(dir: &std::path::Path) -> Result<usize> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut command = Cli::command();
    command.build();
    let mut pages = vec![("airgap".to_string(), command.clone())];
    let mut index = 0;
    while index < pages.len() {
        let (name, parent) = pages[index].clone();
        for sub in parent.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let full = format!("{name}-{}", sub.get_name());
            pages.push((full.clone(), sub.clone().name(full)));
        }
        index += 1;
    }
    for (name, command) in &pages {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(command.clone()).render(&mut bytes)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(pages.len())
}

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
        Command::Cache(args) => crate::ops::cache::run(settings, args),
        Command::Completions(args) => {
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "airgap", &mut std::io::stdout());
            Ok(())
        }
        Command::ManPage(args) => match &args.dir {
            None => {
                let page = clap_mangen::Man::new(Cli::command());
                page.render(&mut std::io::stdout())?;
                Ok(())
            }
            Some(dir) => {
                let written = man_pages(dir)?;
                settings.printer.status(
                    "Wrote",
                    format!("{written} man pages into {}", dir.display()),
                );
                Ok(())
            }
        },
    }
}
