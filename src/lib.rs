//! airgap: lock, materialize, verify and serve everything an air-gapped Kubernetes install
//! needs.
//!
//! The layers, and the one-way arrows between them (a module uses only those below it;
//! `digest`, `version`, `deb822`, `keyring`, `git_process`, `printer` and `http` are leaves
//! any layer may use). `layering.rs` reads every `use crate::` and fails on an arrow this map forbids.
//!
//! ```text
//! cli/run ──> commands ──> ops ──> render, serve ──> kinds ──> oci ──> source ──> store
//!  (clap,      (argument    (lock,   (config/,         (file,     (refs,   (down-    (sha256
//!   exit        parsing,     materi-  kubespray/;      image,     mani-    loader)   blobs,
//!   codes)      one call)    alize,   the read-only    apt, yum,  fests,             atomic)
//!                            render,  server)          git,       layout,
//!                            push,                     chart:     registry,
//!                            verify)                   one list)  pull, push)
//!
//!                  kinds, oci ──> lock (file format, plan, diff) ──> manifest (toml, spans,
//!                                                                      shared tables)
//!                  kinds, ops ──> media (tree, SHA256SUMS, signing, placement, verify)
//! ```
//!
//! - `manifest`: reads `manifests/*.toml` (spans, diagnostics, the tables that are not kinds,
//!   shared checks); each kind validates its own table.
//! - `lock`: the lockfile format (header, version, deterministic atomic writer), the generic
//!   staleness plan ([`lock::plan_kind`]) and diff ([`lock::diff::Pin`]). Never the network.
//! - `source`: the downloader every kind fetches through, over the one HTTP seam (`http`).
//! - `store`: the content-addressed cache; only verified bytes get a blob name.
//! - `oci`: references, manifests, the image layout, the registry client (pull and push), and
//!   the upstream-to-target naming that push and render share.
//! - `kinds`: one folder per artifact kind (entry, pin, resolution, fetch, placement, metadata)
//!   and the one list of them, which writes [`kinds::ALL`], [`kinds::Lockfile`] and
//!   [`kinds::Manifest`]; every kind-wide step iterates over it. Kinds never import each other.
//! - `policy`: `[[policy]]` as the lock records it, the evidence a pin carries, and the
//!   signature checks (cosign, Sigstore bundles, blob signatures, OpenPGP) over given bytes;
//!   below the kinds (whose pins carry evidence), never the network. `ops::policy` finds the
//!   signatures at lock time and on the media.
//! - `media`: the media tree, `SHA256SUMS`, the OpenPGP signature, placing verified blobs,
//!   offline verification. Never the network.
//! - `render`: the configuration that points nodes, Kubespray and nginx at the media.
//! - `serve`: the read-only HTTP(S) server over a media tree; never an upstream.
//! - `ops`: the work behind each command; `commands`: argument parsing plus one call each;
//!   `cli` holds the clap model, `settings` resolves it; `import` evaluates Kubespray's own
//!   defaults beside the pipeline.
//!
//! What the crate exposes on purpose (the benchmarks use it): the pipeline's data and stages
//! below the commands (`digest`, `manifest`, `lock`, `source`, `store`, `oci`, `kinds`,
//! `media`) and the leaves they name in their signatures (`http`, `printer`, `deb822`,
//! `keyring`). The command line, the work behind it and the server (`cli`, `commands`,
//! `ops`, `render`, `serve`, `settings`, `import`, `version`, `git_process`) are the
//! binary's own: `pub(crate)`. `fuzzing` is every parser of outside input behind one entry
//! point each, for the fuzz targets and the property tests; it is not an API.

pub(crate) mod cli;
pub(crate) mod commands;
pub mod deb822;
pub mod digest;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod git_process;
pub mod hint;
pub mod http;
pub(crate) mod import;
pub mod keyring;
pub mod kinds;
#[cfg(test)]
mod layering;
pub mod limits;
pub mod lock;
pub mod manifest;
pub mod media;
pub mod oci;
pub(crate) mod ops;
pub mod policy;
pub mod printer;
pub mod relative_path;
pub(crate) mod render;
pub mod sbom;
pub(crate) mod serve;
pub(crate) mod settings;
pub mod source;
pub mod store;
pub(crate) mod version;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use hint::InternalError;

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
    let settings = settings::Settings::resolve(&cli.global, cli.command.network());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        commands::dispatch(&cli, &settings)
    }));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            // Every error of the chain says only its own part (an error that shows a cause's
            // text does not also return it as its source), so each is printed once; the
            // hints come last, once each.
            let mut text = error.to_string();
            for cause in error.chain().skip(1) {
                text.push_str(&format!("\n  caused by: {cause}"));
            }
            let mut hints: Vec<String> = Vec::new();
            for cause in error.chain() {
                if let Some(hint) = hint_of(cause)
                    && !hints.contains(&hint)
                {
                    hints.push(hint);
                }
            }
            for hint in hints {
                text.push_str(&format!("\nhint: {hint}"));
            }
            settings.printer.error(text);
            if error.chain().any(|cause| cause.is::<InternalError>()) {
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

/// The hint of an error in a chain, when its type has one. Every type that implements
/// [`hint::Hint`] is listed here (a unit test checks that none is missing).
fn hint_of(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    macro_rules! hinted {
        ($($type:ty),* $(,)?) => {
            $(
                if let Some(error) = error.downcast_ref::<$type>() {
                    return hint::Hint::hint(error);
                }
            )*
        };
    }
    hinted!(
        InternalError,
        hint::Hinted,
        http::HttpSetupError,
        import::ImportError,
        kinds::apt::AptError,
        kinds::chart::ChartError,
        kinds::git::GitError,
        kinds::pypi::PypiError,
        kinds::yum::YumError,
        lock::LockError,
        manifest::LocationError,
        manifest::ManifestError,
        media::delta::DeltaError,
        media::mirror::MirrorError,
        media::signing::SigningError,
        media::tree::MediaError,
        media::verify::VerifyError,
        oci::pull::ImageError,
        oci::push::PushError,
        oci::registry::RegistryError,
        ops::lock::LockModeError,
        ops::policy::PolicyError,
        serve::ServeError,
        serve::access::AccessError,
        source::download::FetchError,
        source::download::Mismatch,
    );
    None
}

#[cfg(test)]
mod tests {
    /// Every type implementing Hint in the crate is in `hint_of`'s list, so no hint is lost at the
    /// top level.
    #[test]
    fn every_hinted_error_is_listed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let this = std::fs::read_to_string(root.join("lib.rs")).unwrap();
        let list = &this[this.find("hinted!(").unwrap()..];
        let pattern = regex::Regex::new(r"impl (?:crate::)?(?:hint::)?Hint for (\w+)").unwrap();
        let mut missing = Vec::new();
        for entry in walkdir::WalkDir::new(&root).into_iter().flatten() {
            if entry
                .path()
                .extension()
                .is_none_or(|extension| extension != "rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap();
            for found in pattern.captures_iter(&text) {
                let name = &found[1];
                if !list.contains(&format!("{name},")) {
                    missing.push(format!("{}: {name}", entry.path().display()));
                }
            }
        }
        assert!(missing.is_empty(), "not in hint_of: {missing:?}");
    }
}
