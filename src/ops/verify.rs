//! `airgap verify DIR [--key FILE]`: integrity of every file, agreement with the lock, and,
//! with a trusted key, the origin of `SHA256SUMS`.

use std::time::Instant;

use anyhow::Result;

use crate::cli::VerifyArgs;
use crate::hint::Hinted;
use crate::media::{signing, sums, verify};
use crate::settings::Settings;
use indicatif::HumanBytes;

/// What checking a tree found.
pub struct Checked {
    pub report: verify::Report,
    /// One line per problem, as printed.
    pub problems: Vec<String>,
    /// The fingerprint of the trusted key that signed it, when a key was given and matched.
    pub origin: Option<String>,
    /// For a delta: which base, how many files left out.
    pub delta: Option<String>,
    /// With `--policies`: how many signatures verified again, and against how many policies.
    pub signatures: Option<(usize, usize)>,
}

/// Checks the tree at `dir` (a mirror: its current generation), with `key` the origin too.
pub fn check(
    dir: &std::path::Path,
    key: Option<&std::path::Path>,
    policies: bool,
) -> Result<Checked> {
    let dir = &match crate::media::mirror::Mirror::new(dir).current() {
        Some(current) if crate::media::mirror::Mirror::is_mirror(dir) => current,
        _ => dir.to_path_buf(),
    };
    let threads = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .max(2);
    let report = verify::verify_tree(dir, threads, |lock_path| {
        Ok(crate::kinds::Lockfile::read(lock_path)?.map(|lock| crate::kinds::pinned_paths(&lock)))
    })?;
    // A delta leaves out what its base has: those files are missing by design, as many as its
    // (signed) DELTA file says, and nothing else may be. A generation made from a delta has
    // them all.
    let marker = crate::media::delta::Marker::read(dir)?;
    let mut findings = report.findings.clone();
    let mut delta_note = None;
    if let Some(marker) = &marker {
        let missing = findings
            .iter()
            .filter(|finding| matches!(finding, verify::Finding::Missing { .. }))
            .count();
        if missing == marker.omitted {
            findings.retain(|finding| !matches!(finding, verify::Finding::Missing { .. }));
            delta_note = Some(format!(
                "a delta of the base with lock {}: {} files of SHA256SUMS are left out (the base has them; `airgap apply` adds this delta to it)",
                marker.base, marker.omitted
            ));
        } else if missing > 0 {
            findings.push(verify::Finding::Unexpected {
                path: format!(
                    "{} (says {} files are left out; {missing} are missing)",
                    crate::media::delta::MARKER,
                    marker.omitted
                ),
            });
        }
    }
    let mut problems: Vec<String> = findings.iter().map(ToString::to_string).collect();
    let origin = match key {
        None => None,
        Some(key_path) => {
            let key = signing::read_public_key(key_path)?;
            let list = std::fs::read(dir.join(sums::SUMS)).unwrap_or_default();
            match std::fs::read(dir.join(sums::SIGNATURE)) {
                Err(_) => {
                    problems.push(format!(
                        "unsigned    {} (no signature; origin unknown)",
                        sums::SIGNATURE
                    ));
                    None
                }
                Ok(signature) => match signing::check_detached(&key, &list, &signature) {
                    Ok(()) => Some(signing::fingerprint(&key)),
                    Err(error) => {
                        let why = match error {
                            crate::keyring::SignatureError::NoMatch => format!(
                                "the signature does not match this key: {} is not the key that signed this media",
                                key_path.display()
                            ),
                            other => other.to_string(),
                        };
                        problems.push(format!("bad-origin  {} ({why})", sums::SIGNATURE));
                        None
                    }
                },
            }
        }
    };

    let signatures = if policies {
        let lock_path = dir.join(crate::media::tree::LOCK);
        match crate::kinds::Lockfile::read(&lock_path)? {
            None => {
                problems.push(format!("missing     {}", crate::media::tree::LOCK));
                Some((0, 0))
            }
            Some(lock) => {
                let (found, checked) = crate::ops::policy::check_media(dir, &lock);
                problems.extend(found);
                Some((checked, lock.policies.len()))
            }
        }
    } else {
        None
    };
    Ok(Checked {
        report,
        problems,
        origin,
        delta: delta_note,
        signatures,
    })
}

pub fn run(settings: &Settings, args: &VerifyArgs) -> Result<()> {
    let started = Instant::now();
    let Checked {
        report,
        problems,
        origin,
        delta: delta_note,
        signatures,
    } = check(&args.dir, args.key.as_deref(), args.policies)?;
    for problem in &problems {
        settings.printer.result(problem);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let speed = HumanBytes((report.bytes as f64 / elapsed.max(1e-6)) as u64);
    if !problems.is_empty() {
        return Err(Hinted::new(
            format!(
                "{} failed verification: {} among {}",
                args.dir.display(),
                crate::kinds::counted(problems.len(), "problem", "problems"),
                crate::kinds::counted(report.files, "file", "files")
            ),
            "do not use this media; materialize it again from the lock, or find out who changed it",
        )
        .into());
    }
    settings.printer.status(
        "Verified",
        format!(
            "{} files ({}) in {elapsed:.1}s ({speed}/s): every file matches SHA256SUMS and airgap.lock",
            report.files,
            HumanBytes(report.bytes)
        ),
    );
    if let Some(note) = delta_note {
        settings.printer.status("Delta", note);
    }
    if let Some((checked, policies)) = signatures {
        settings.printer.status(
            "Signatures",
            format!(
                "{checked} signature{} verified offline against {policies} polic{} of the lock",
                if checked == 1 { "" } else { "s" },
                if policies == 1 { "y" } else { "ies" }
            ),
        );
    }
    match origin {
        Some(fingerprint) => settings
            .printer
            .status("Origin", format!("SHA256SUMS is signed by the trusted key {fingerprint}")),
        None => settings.printer.warn(
            "checked integrity, not origin: pass --key FILE (the public key the enclave trusts) to check who made this media",
        ),
    }
    Ok(())
}
