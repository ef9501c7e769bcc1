//! Running the `git` program, the one way the crate does: never prompting for credentials,
//! local (`file://`) transports allowed for workspace repositories, a fixed default branch
//! name, and the failing command with git's own words in the error.
//!
//! A leaf: it uses nothing of the crate.

use std::path::Path;
use std::process::Command;

/// Why `git` did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum GitRunError {
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("`git {arguments}` failed: {stderr}")]
    Failed { arguments: String, stderr: String },
}

/// Runs `git [--git-dir GIT_DIR] ARGUMENTS` in `directory` (or the current one); returns what
/// it printed.
pub fn run(
    git_dir: Option<&Path>,
    directory: Option<&Path>,
    arguments: &[&str],
) -> Result<String, GitRunError> {
    let mut command = Command::new("git");
    command
        .args([
            "-c",
            "protocol.file.allow=always",
            "-c",
            "init.defaultBranch=airgap",
        ])
        .env("GIT_TERMINAL_PROMPT", "0");
    if let Some(git_dir) = git_dir {
        command.arg("--git-dir").arg(git_dir);
    }
    command.args(arguments);
    if let Some(directory) = directory {
        command.current_dir(directory);
    }
    let output = command.output().map_err(GitRunError::Spawn)?;
    if !output.status.success() {
        return Err(GitRunError::Failed {
            arguments: arguments.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
