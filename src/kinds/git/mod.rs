//! `[[git]]`: a ref resolved to a commit with `git ls-remote` (lock), and a bare repository on the
//! media holding that commit with its history, its tag or branch, a `refs/heads/airgap` branch
//! that `HEAD` names, and what `git update-server-info` writes, so `git clone` works over plain
//! (dumb) HTTP from `airgap serve` or nginx.
//!
//! The `git` program does the work: git2's HTTPS transport links OpenSSL, and gix cannot write
//! what a dumb-HTTP server needs (`info/refs`, `objects/info/packs`) nor prepare a repository
//! for it; `git` is on every machine that handles repositories anyway. History is fetched in
//! full: a shallow repository cannot be cloned over dumb HTTP (the client walks parents that are
//! not there), and correctness beats media size.

pub mod entry;
mod kind;
pub mod pin;

pub use entry::{GitArtifact, RawGit};
pub use kind::Git;

/// The folder of the media tree that holds the repositories.
pub const ROOT: &str = "git";
pub use pin::LockedGit;

use std::path::Path;

use crate::limits::Pace;

/// Why a repository could not be resolved or fetched.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git {name}: {message}")]
    Failed {
        name: String,
        message: String,
        hint: String,
    },
}

fn failed(name: &str, message: impl Into<String>, hint: impl Into<String>) -> GitError {
    GitError::Failed {
        name: name.to_string(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// What `git` itself is given as the URL: relative paths are taken against the workspace.
fn git_url(url: &str, workspace: &Path) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        workspace.join(url).to_string_lossy().into_owned()
    }
}

fn git(
    name: &str,
    arguments: &[&str],
    directory: Option<&Path>,
    pace: Pace,
) -> Result<String, GitError> {
    crate::git_process::run(None, directory, arguments, pace).map_err(|error| match error {
        crate::git_process::GitRunError::Spawn(_) => failed(
            name,
            error.to_string(),
            "install git (it fetches and prepares repositories)",
        ),
        crate::git_process::GitRunError::TooMuchOutput { .. } => failed(
            name,
            error.to_string(),
            "the remote answers more than a repository's refs; check the URL, do not trust it",
        ),
        crate::git_process::GitRunError::Failed { .. } => failed(
            name,
            error.to_string(),
            "check the URL and the network path to it (HTTPS_PROXY), and that the ref exists",
        ),
    })
}

fn is_commit_id(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|character| character.is_ascii_hexdigit())
}

/// Resolves the entry's ref to a commit.
pub fn resolve(
    artifact: &GitArtifact,
    workspace: &Path,
    pace: Pace,
) -> Result<LockedGit, GitError> {
    let name = &artifact.name;
    let url = git_url(&artifact.url, workspace);
    if is_commit_id(&artifact.reference) {
        return Ok(LockedGit {
            name: name.clone(),
            url: artifact.url.clone(),
            reference: artifact.reference.clone(),
            kind: "commit".to_string(),
            full_ref: String::new(),
            commit: artifact.reference.to_ascii_lowercase(),
        });
    }
    let listing = git(
        name,
        &["ls-remote", "--tags", "--heads", "--", &url],
        None,
        pace,
    )?;
    let mut refs = std::collections::BTreeMap::new();
    for line in listing.lines() {
        if let Some((commit, reference)) = line.split_once('\t') {
            refs.insert(reference.to_string(), commit.to_string());
        }
    }
    let wanted = &artifact.reference;
    let tag = format!("refs/tags/{wanted}");
    let branch = format!("refs/heads/{wanted}");
    let (kind, full_ref, commit) =
        if let Some(commit) = refs.get(&format!("{tag}^{{}}")).or_else(|| refs.get(&tag)) {
            ("tag", tag.clone(), commit.clone())
        } else if let Some(commit) = refs.get(&branch) {
            ("branch", branch.clone(), commit.clone())
        } else if let Some(commit) = refs.get(wanted) {
            ("branch", wanted.clone(), commit.clone())
        } else {
            let known: Vec<&str> = refs
                .keys()
                .filter(|reference| !reference.ends_with("^{}"))
                .map(|reference| {
                    reference
                        .trim_start_matches("refs/tags/")
                        .trim_start_matches("refs/heads/")
                })
                .take(10)
                .collect();
            return Err(failed(
                name,
                format!("{} has no tag or branch `{wanted}`", artifact.url),
                format!("it has, among others: {}", known.join(", ")),
            ));
        };
    Ok(LockedGit {
        name: name.clone(),
        url: artifact.url.clone(),
        reference: wanted.clone(),
        kind: kind.to_string(),
        full_ref,
        commit,
    })
}

/// Where a repository goes in the tree.
pub fn media_path(pin: &LockedGit) -> String {
    format!("{ROOT}/{}.git", pin.name)
}

/// Whether the bare repository at `path` already has the pinned commit under the pinned ref.
pub fn is_present(path: &Path, pin: &LockedGit) -> bool {
    let reference = if pin.full_ref.is_empty() {
        "refs/heads/airgap"
    } else {
        pin.full_ref.as_str()
    };
    path.join("info/refs").is_file()
        && git(
            &pin.name,
            &[
                "--git-dir",
                &path.to_string_lossy(),
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{reference}^{{commit}}"),
            ],
            None,
            Pace::DEFAULT,
        )
        .is_ok_and(|commit| commit.trim() == pin.commit)
}

/// Writes the bare repository for `pin` at `target` (a temporary directory beside it first,
/// renamed into place only when it holds the pinned commit).
pub fn materialize(
    pin: &LockedGit,
    target: &Path,
    workspace: &Path,
    pace: Pace,
) -> Result<(), GitError> {
    let name = &pin.name;
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|error| {
        failed(
            name,
            format!("cannot create {}: {error}", parent.display()),
            "check the media",
        )
    })?;
    let staging = tempfile::Builder::new()
        .prefix(crate::media::tree::TEMPORARY_PREFIX)
        .suffix(".git")
        .tempdir_in(parent)
        .map_err(|error| {
            failed(
                name,
                format!("cannot create a directory in {}: {error}", parent.display()),
                "check the media",
            )
        })?;
    // Removed when dropped, unless it was renamed into place.
    build(pin, staging.path(), workspace, pace)?;
    // tempfile makes the directory 0700; servers read the media as other users.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755));
    let _ = std::fs::remove_dir_all(target);
    std::fs::rename(staging.path(), target).map_err(|error| {
        failed(
            name,
            format!(
                "cannot move the repository into {}: {error}",
                target.display()
            ),
            "check the media",
        )
    })?;
    let _ = staging.keep();
    Ok(())
}

fn build(pin: &LockedGit, directory: &Path, workspace: &Path, pace: Pace) -> Result<(), GitError> {
    let name = &pin.name;
    let url = git_url(&pin.url, workspace);
    let git_dir = directory.to_string_lossy().into_owned();
    git(name, &["init", "--quiet", "--bare", &git_dir], None, pace)?;
    let dir = |arguments: &[&str]| -> Result<String, GitError> {
        let mut all = vec!["--git-dir", git_dir.as_str()];
        all.extend_from_slice(arguments);
        git(name, &all, None, pace)
    };
    let refspec = if pin.full_ref.is_empty() {
        pin.commit.clone()
    } else {
        format!("{0}:{0}", pin.full_ref)
    };
    dir(&["fetch", "--quiet", "--no-tags", "--", &url, &refspec])?;
    // The pin holds even when the ref moved upstream: the pinned commit is usually still in the
    // fetched history (a branch that moved on); otherwise ask for it by id.
    let has_commit =
        |commit: &str| dir(&["cat-file", "-e", &format!("{commit}^{{commit}}")]).is_ok();
    if !has_commit(&pin.commit) {
        let _ = dir(&["fetch", "--quiet", "--no-tags", "--", &url, &pin.commit]);
    }
    if !has_commit(&pin.commit) {
        return Err(failed(
            name,
            format!(
                "{} no longer has the pinned commit {} (`{}` was moved or rewritten)",
                pin.url, pin.commit, pin.reference
            ),
            format!("review what changed upstream, then run `airgap lock --update {name}`"),
        ));
    }
    // A ref that still names the pinned commit keeps its object (an annotated, maybe signed,
    // tag); one that moved is set back to the pin.
    let current = dir(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{}^{{commit}}", pin.full_ref),
    ])
    .unwrap_or_default();
    if !pin.full_ref.is_empty() && current.trim() != pin.commit {
        dir(&["update-ref", &pin.full_ref, &pin.commit])?;
    }
    dir(&["update-ref", "refs/heads/airgap", &pin.commit])?;
    dir(&["symbolic-ref", "HEAD", "refs/heads/airgap"])?;
    // Nothing of the fetch's bookkeeping goes onto the media.
    let _ = std::fs::remove_file(directory.join("FETCH_HEAD"));
    let _ = std::fs::remove_dir_all(directory.join("hooks"));
    dir(&["repack", "-a", "-d", "-q"])?;
    dir(&["update-server-info"])?;
    Ok(())
}

impl crate::hint::Hint for GitError {
    fn hint(&self) -> Option<String> {
        match self {
            GitError::Failed { hint, .. } => Some(hint.to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
