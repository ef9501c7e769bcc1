//! airgap: lock, materialize, verify (and later serve) everything an air-gapped Kubernetes
//! install needs.
//!
//! The stages, and the one-way arrows between them (a module may use only those to its left;
//! `digest`, `reference`, `deb822`, `keyring`, `printer` and `http` are leaves that any stage
//! may use):
//!
//! ```text
//! manifest ──> lock ──> source ──> store ──> media ──> render ──> serve/push ──> commands ──> cli/run
//!  (toml,       (pins,    (kinds:    (sha256    (tree,     (config/,   (files and   (orchestration,
//!   spans)       plan,     files,     blobs,     SHA256SUMS, kubespray/  registry     one file per
//!                diff)     oci, apt,  atomic)    signing,    from        over the     subcommand)
//!                          yum, git,             apt/yum/    templates)  media; push
//!                          charts;               charts                  into an
//!                          registry,             metadata,               enclave
//!                          download)             verify)                 registry)
//! ```
//!
//! - `manifest`: reads `manifests/*.toml` into a validated [`manifest::Manifest`].
//! - `lock`: the lockfile model, its deterministic writer, staleness ([`lock::plan`]) and diff.
//! - `source`: per-kind resolution and fetching over the one HTTP seam (`http`); the kinds share
//!   the downloader, the OCI registry client and the OCI media types (`source::oci::manifest`,
//!   which OCI charts use too); otherwise they do not import each other.
//! - `store`: the content-addressed cache; only verified bytes get a blob name.
//! - `media`: the media tree, `SHA256SUMS`, the OpenPGP signature, repository metadata
//!   regenerated from the artifacts (apt, yum, Helm), offline verification.
//! - `render`: the configuration that points nodes, Kubespray and nginx at the media.
//! - `serve`: the read-only HTTP(S) server over a media tree; `push`: its images into an
//!   existing registry.
//! - `commands`: one file per subcommand; `cli` holds the clap model, `settings` resolves it.

pub mod cli;
pub mod commands;
pub mod deb822;
pub mod digest;
pub mod http;
pub mod import;
pub mod keyring;
pub mod kinds;
pub mod lock;
pub mod manifest;
pub mod media;
pub mod oci;
pub mod ops;
pub mod printer;
pub mod render;
pub mod serve;
pub mod settings;
pub mod source;
pub mod store;
pub mod version;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// An error that is airgap's own fault: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error(
    "internal error: {0}\nhint: this is a bug in airgap; please report it with the command line that caused it"
)]
pub struct InternalError(pub String);

/// Parses `arguments`, runs the command, and maps the outcome to SPEC.md's exit status:
/// 0 success, 1 a user-facing failure, 2 an internal error.
pub fn run(arguments: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match cli::Cli::try_parse_from(arguments) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(1),
            };
        }
    };
    let settings = settings::Settings::resolve(&cli.global);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        commands::dispatch(&cli, &settings)
    }));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            let mut text = error.to_string();
            for cause in error.chain().skip(1) {
                let cause = cause.to_string();
                if !text.contains(&cause) {
                    text.push_str(&format!("\n  caused by: {cause}"));
                }
            }
            settings.printer.error(text);
            if error.downcast_ref::<InternalError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
        Err(_) => {
            settings
                .printer
                .error("internal error: airgap panicked (see above)\nhint: this is a bug in airgap; please report it");
            ExitCode::from(2)
        }
    }
}
