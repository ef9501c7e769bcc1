//! Resolved settings: raw arguments become concrete paths and numbers here, the first step
//! that may look at the environment (ripgrep's LowArgs/HiArgs split).

use std::path::PathBuf;

use crate::cli::{GlobalArgs, NetworkArgs};
use crate::http::{HttpSettings, RetryPolicy};
use crate::printer::{Printer, Verbosity};
use crate::store::Store;

/// What every command runs with.
pub struct Settings {
    pub workspace: PathBuf,
    pub cache: PathBuf,
    pub jobs: usize,
    pub http: HttpSettings,
    pub retry: RetryPolicy,
    /// The pace every fetch from outside must keep.
    pub pace: crate::limits::Pace,
    pub printer: Printer,
}

impl Settings {
    /// `network` is the fetching options of the commands that fetch; the others get the
    /// defaults (which they never use).
    pub fn resolve(global: &GlobalArgs, network: Option<&NetworkArgs>) -> Settings {
        let verbosity = if global.quiet {
            Verbosity::Quiet
        } else if global.verbose > 0 {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        Settings {
            workspace: global
                .directory
                .clone()
                .unwrap_or_else(|| PathBuf::from(".")),
            cache: global.cache.clone().unwrap_or_else(Store::default_root),
            jobs: network
                .and_then(|network| network.jobs)
                .map_or(4, usize::from),
            http: HttpSettings {
                ca_bundle: network.and_then(|network| network.ca_cert.clone()),
            },
            retry: RetryPolicy::default(),
            pace: match network {
                Some(network) => crate::limits::Pace {
                    grace: std::time::Duration::from_secs(network.fetch_grace),
                    min_rate: network.min_rate.max(1),
                },
                None => crate::limits::Pace::DEFAULT,
            },
            printer: Printer::new(verbosity),
        }
    }

    pub fn lock_path(&self) -> PathBuf {
        self.workspace.join("airgap.lock")
    }
}
