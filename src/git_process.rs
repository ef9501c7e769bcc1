//! Running the `git` program, the one way the crate does: never prompting for credentials,
//! local (`file://`) transports allowed for workspace repositories, a fixed default branch
//! name, and the failing command with git's own words in the error. A remote is outside
//! input: git's HTTP transport keeps the fetch pace (`http.lowSpeedLimit`/`lowSpeedTime`), and
//! what git prints is read with caps, since a hostile server can make it print without end
//! (its `remote:` messages, or millions of refs).
//!
//! A leaf: it uses only the limits.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::limits::Pace;

/// The most of git's standard output kept (`ls-remote` of a large repository: a few MiB).
const STDOUT_LIMIT: u64 = 64 << 20;

/// Why `git` did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum GitRunError {
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("`git {arguments}` failed: {stderr}")]
    Failed { arguments: String, stderr: String },
    #[error("`git {arguments}` printed more than {limit} bytes")]
    TooMuchOutput { arguments: String, limit: u64 },
}

/// Runs `git [--git-dir GIT_DIR] ARGUMENTS` in `directory` (or the current one); returns what
/// it printed. A transfer slower than `pace.min_rate` for longer than `pace.grace` is given up
/// by git itself.
pub fn run(
    git_dir: Option<&Path>,
    directory: Option<&Path>,
    arguments: &[&str],
    pace: Pace,
) -> Result<String, GitRunError> {
    let mut command = Command::new("git");
    command
        .args([
            "-c",
            "protocol.file.allow=always",
            "-c",
            "init.defaultBranch=airgap",
            "-c",
            &format!("http.lowSpeedLimit={}", pace.min_rate.min(u32::MAX as u64)),
            "-c",
            &format!("http.lowSpeedTime={}", pace.grace.as_secs().max(1)),
        ])
        .env("GIT_TERMINAL_PROMPT", "0");
    if let Some(git_dir) = git_dir {
        command.arg("--git-dir").arg(git_dir);
    }
    command.args(arguments);
    if let Some(directory) = directory {
        command.current_dir(directory);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(GitRunError::Spawn)?;
    // stderr is drained on its own thread (a full pipe would block git), keeping its start.
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&mut stderr)
            .take(crate::limits::ERROR_BODY)
            .read_to_end(&mut kept);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        kept
    });
    let mut stdout = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("piped")
        .take(STDOUT_LIMIT + 1)
        .read_to_end(&mut stdout);
    let too_much = read.is_ok() && stdout.len() as u64 > STDOUT_LIMIT;
    if too_much {
        let _ = child.kill();
    }
    let status = child.wait().map_err(GitRunError::Spawn)?;
    let stderr = errors.join().unwrap_or_default();
    if too_much {
        return Err(GitRunError::TooMuchOutput {
            arguments: arguments.join(" "),
            limit: STDOUT_LIMIT,
        });
    }
    read.map_err(GitRunError::Spawn)?;
    if !status.success() {
        return Err(GitRunError::Failed {
            arguments: arguments.join(" "),
            stderr: String::from_utf8_lossy(&stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}
