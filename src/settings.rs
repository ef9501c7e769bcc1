//! Resolved settings: raw arguments become concrete paths and numbers here, the first step
//! that may look at the environment (ripgrep's LowArgs/HiArgs split).

use std::path::PathBuf;

use crate::cli::GlobalArgs;
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
    pub fn resolve(global: &GlobalArgs) -> Settings {
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
            jobs: global.jobs.map_or(4, usize::from),
            http: HttpSettings {
                ca_bundle: global.ca_cert.clone(),
            },
            retry: RetryPolicy::default(),
            pace: crate::limits::Pace {
                grace: std::time::Duration::from_secs(global.fetch_grace),
                min_rate: global.min_rate.max(1),
            },
            printer: Printer::new(verbosity),
        }
    }

    pub fn lock_path(&self) -> PathBuf {
        self.workspace.join("airgap.lock")
    }
}
