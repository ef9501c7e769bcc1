//! `airgap apply DELTA --to MIRROR --key K`: checks the delta (every byte it carries, its
//! signature by the key the enclave trusts, its base against the mirror's current lock), then
//! makes it the mirror's next generation and switches to it (`media::mirror` says why a client
//! never sees a half-updated tree). `--rollback` switches back; `--prune` / `--keep N` removes
//! old generations.

use std::time::Instant;

use anyhow::Result;
use indicatif::HumanBytes;

use crate::cli::ApplyArgs;
use crate::digest::Digest;
use crate::hint::Hinted;
use crate::media::delta::Marker;
use crate::media::mirror::{Mirror, read_sums};
use crate::media::tree::LOCK;
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &ApplyArgs) -> Result<()> {
    let started = Instant::now();
    let mirror = Mirror::new(&args.to);
    if args.rollback {
        let number = mirror.rollback()?;
        settings.printer.status(
            "Rolled back",
            format!(
                "{} to generation {number} (lock {})",
                args.to.display(),
                mirror
                    .current_lock()
                    .map_or("?".to_string(), |lock| lock.to_string())
            ),
        );
    }
    if let Some(delta) = &args.delta {
        let Some(key) = &args.key else {
            return Err(Hinted::new(
                "apply needs --key: a delta is added only when its signature verifies",
                "give the public key the enclave trusts (keys/airgap.asc from the first media, kept apart)",
            )
            .into());
        };
        let checked = crate::ops::verify::check(delta, Some(key), false)?;
        if !checked.problems.is_empty() || checked.origin.is_none() {
            for problem in &checked.problems {
                settings.printer.result(problem);
            }
            return Err(Hinted::new(
                format!(
                    "{} does not verify{}; the mirror was not changed",
                    delta.display(),
                    if checked.origin.is_none() {
                        " with the trusted key"
                    } else {
                        ""
                    }
                ),
                "do not apply this media; make it again, or find out who changed it",
            )
            .into());
        }
        let new_lock = Digest::of_bytes(&std::fs::read(delta.join(LOCK))?);
        let current = mirror.current_lock();
        if current == Some(new_lock) {
            settings.printer.status(
                "Applied",
                format!(
                    "nothing: {} already serves lock {new_lock}",
                    args.to.display()
                ),
            );
        } else {
            if let Some(marker) = Marker::read(delta)?
                && current != Some(marker.base)
            {
                return Err(Hinted::new(
                        format!(
                            "{} is a delta of the base with lock {}, but {} {}; the mirror was not changed",
                            delta.display(),
                            marker.base,
                            args.to.display(),
                            match current {
                                Some(lock) => format!("serves lock {lock}"),
                                None => "holds no generation yet".to_string(),
                            }
                        ),
                        "apply the deltas in order, or a full tree; `airgap diff` compares two locks",
                    )
                    .into());
            }
            let listed = read_sums(delta)?;
            let previous = mirror
                .current()
                .map(|directory| crate::kinds::Lockfile::read(&directory.join(LOCK)))
                .transpose()?
                .flatten();
            let copied = mirror.apply(delta, &listed)?;
            if let (Some(previous), Some(now)) =
                (previous, crate::kinds::Lockfile::read(&delta.join(LOCK))?)
            {
                let summary = crate::lock::diff::summarize(&crate::kinds::diff(&previous, &now));
                settings.printer.status("Changed", summary.describe());
            }
            settings.printer.status(
                "Applied",
                format!(
                    "{} as generation {} of {} in {:.1}s: {} copied, the rest linked from the previous generation; now serving lock {new_lock}",
                    delta.display(),
                    mirror.current_number().unwrap_or(0),
                    args.to.display(),
                    started.elapsed().as_secs_f64(),
                    HumanBytes(copied)
                ),
            );
        }
    }
    if args.prune || args.keep.is_some() {
        let removed = mirror.prune(args.keep.unwrap_or(1))?;
        settings.printer.status(
            "Pruned",
            format!(
                "{} of {}: {:?}",
                crate::kinds::counted(removed.len(), "generation", "generations"),
                args.to.display(),
                removed
            ),
        );
    }
    Ok(())
}
