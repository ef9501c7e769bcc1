//! Getting one verified blob onto the media: kept when the tree already has it with the
//! right digest, otherwise fetched into the store and linked or copied from there. A damaged
//! cache copy is fetched again, never placed.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{Result, anyhow};

use crate::digest::Digest;
use crate::hint::InternalError;
use crate::media::tree::{Placement, Tree};
use crate::printer::Printer;
use crate::store::{Fetched, Store};

/// Counts of a materialize run.
#[derive(Default)]
pub struct Tally {
    pub present: AtomicUsize,
    pub written: AtomicUsize,
    pub downloaded_bytes: AtomicU64,
    /// The run's total progress (artifacts placed, bytes downloaded), when shown.
    pub progress: Option<indicatif::ProgressBar>,
}

impl Tally {
    /// One more artifact is on the media.
    fn advance(&self) {
        if let Some(bar) = &self.progress {
            bar.inc(1);
            bar.set_prefix(
                indicatif::HumanBytes(self.downloaded_bytes.load(Ordering::Relaxed)).to_string(),
            );
        }
    }
}

/// Gets one verified blob onto the media at `relative`: kept when already right, otherwise
/// fetched into the store (by `fetch`) and linked or copied from there.
pub async fn place<F, Fut, E>(
    tree: &Tree,
    store: &Store,
    printer: &Printer,
    tally: &Tally,
    relative: String,
    digest: Digest,
    fetch: F,
) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Fetched, E>>,
    E: std::fmt::Display + crate::hint::Hint,
{
    let check = {
        let tree = tree.clone();
        let relative = relative.clone();
        tokio::task::spawn_blocking(move || tree.has(&relative, &digest))
    };
    if check
        .await
        .map_err(|error| InternalError(format!("the hashing task failed: {error}")))?
    {
        tally.present.fetch_add(1, Ordering::Relaxed);
        tally.advance();
        return Ok(());
    }
    for _ in 0..2 {
        let fetched = fetch()
            .await
            .map_err(|error| anyhow!(crate::hint::explain(&error)))?;
        if fetched.fresh {
            tally
                .downloaded_bytes
                .fetch_add(fetched.size, Ordering::Relaxed);
        }
        let placement = {
            let tree = tree.clone();
            let store = store.clone();
            let relative = relative.clone();
            tokio::task::spawn_blocking(move || {
                tree.place(&store, &relative, &digest, fetched.fresh)
            })
            .await
            .map_err(|error| InternalError(format!("the copy task failed: {error}")))?
            .map_err(|error| anyhow!(crate::hint::explain(&error)))?
        };
        match placement {
            Placement::Written | Placement::Present => {
                tally.written.fetch_add(1, Ordering::Relaxed);
                tally.advance();
                return Ok(());
            }
            Placement::StoreDamaged => printer.warn(format!(
                "{relative}: the cached copy of {digest} was damaged; fetching it again"
            )),
        }
    }
    Err(anyhow!(
        "{relative}: the cache keeps returning damaged bytes for {digest}"
    ))
}
