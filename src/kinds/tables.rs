//! What the list of kinds assembles: the whole lockfile, one manifest file's tables, and the
//! merged manifest, each with one field per kind. The `kinds!` macro writes them from the one
//! list in `kinds/mod.rs`, so a new kind is a line there, not a field in each of these.

use std::path::Path;

use crate::kinds::ALL;
use crate::lock::{self, LockError};

/// Writes, from the list of kinds: [`ALL`], `Lockfile`, `RawManifest`, `Entries`, `Manifest`,
/// [`Field`](super::Field) for each kind, and `load`.
macro_rules! kinds {
    ($($table:literal $field:ident: $module:ident::$kind:ident),* $(,)?) => {
        /// Every kind: the one registration point. Its order is the order of the lock's
        /// tables, of messages and `diff`, of `init`'s example files and the served folders.
        pub static ALL: &[&dyn AnyKind] = &[$(&Registered::<$module::$kind>(PhantomData)),*];

        /// The table names, as the manifest and the lock spell them, in the order of [`ALL`].
        #[cfg(test)]
        pub(crate) const TABLES: &[&str] = &[$($table),*];

        /// The whole lockfile: its version, the digest of the manifest inputs it was made
        /// from, and every kind's pins.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Lockfile {
            pub version: u32,
            /// Digest of the normalized manifest inputs this lock was made from.
            pub manifest: Digest,
            /// The signature policies the pins were checked against, with their trust
            /// material's digest: what `verify --policies` checks again on the media.
            #[serde(default, rename = "policy", skip_serializing_if = "Vec::is_empty")]
            pub policies: Vec<crate::policy::LockedPolicy>,
            $(
                #[serde(default, rename = $table, skip_serializing_if = "Vec::is_empty")]
                pub $field: Vec<<$module::$kind as Kind>::Pin>,
            )*
        }

        impl Lockfile {
            /// A lock with no entries, for inputs with the given digest.
            pub fn empty(manifest: Digest) -> Self {
                Lockfile {
                    version: crate::lock::VERSION,
                    manifest,
                    policies: Vec::new(),
                    $($field: Vec::new(),)*
                }
            }
        }

        /// One manifest file, exactly as written: the shared tables and every kind's.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawManifest {
            enclave: Option<toml::Spanned<crate::manifest::model::RawEnclave>>,
            kubespray: Option<toml::Spanned<crate::manifest::model::RawKubespray>>,
            dns: Option<toml::Spanned<crate::manifest::model::RawDns>>,
            #[serde(default)]
            policy: Vec<toml::Spanned<crate::manifest::model::RawPolicy>>,
            $(
                #[serde(default, rename = $table)]
                $field: Vec<toml::Spanned<<$module::$kind as Kind>::Raw>>,
            )*
        }

        /// Every kind's validated entries, gathered over the manifest files.
        #[derive(Default)]
        pub struct Entries {
            $(pub $field: Vec<<$module::$kind as Kind>::Entry>,)*
        }

        impl crate::manifest::Tables for RawManifest {
            type Entries = Entries;

            fn take_enclave(
                &mut self,
            ) -> Option<toml::Spanned<crate::manifest::model::RawEnclave>> {
                self.enclave.take()
            }

            fn take_rendering(
                &mut self,
            ) -> (
                Option<toml::Spanned<crate::manifest::model::RawKubespray>>,
                Option<toml::Spanned<crate::manifest::model::RawDns>>,
            ) {
                (self.kubespray.take(), self.dns.take())
            }

            fn take_policies(
                &mut self,
            ) -> Vec<toml::Spanned<crate::manifest::model::RawPolicy>> {
                std::mem::take(&mut self.policy)
            }

            fn add_entries(
                self,
                loader: &mut crate::manifest::loader::Loader,
                context: &crate::manifest::loader::Context,
                entries: &mut Entries,
            ) {
                $(
                    for entry in self.$field {
                        entries
                            .$field
                            .extend(<$module::$kind as Kind>::load(loader, context, entry));
                    }
                )*
            }
        }

        /// The merged, validated manifests of a workspace: `[enclave]`, every kind's entries
        /// (each sorted by key), what rendering reads, and the digest of the inputs.
        #[derive(Debug, Clone)]
        pub struct Manifest {
            pub enclave: crate::manifest::Enclave,
            $(pub $field: Vec<<$module::$kind as Kind>::Entry>,)*
            /// `[[kubespray.host]]`, in manifest order.
            pub kubespray_hosts: Vec<crate::manifest::KubesprayHost>,
            /// `[[dns.forward]]`, in manifest order.
            pub dns_forwards: Vec<crate::manifest::DnsForward>,
            /// `[[policy]]`, in manifest order.
            pub policies: Vec<crate::manifest::Policy>,
            /// Digest of the normalized inputs, recorded in the lock to detect staleness
            /// offline.
            pub inputs_digest: Digest,
        }

        $(
            impl Field for $module::$kind {
                fn entries(manifest: &Manifest) -> &[Self::Entry] {
                    &manifest.$field
                }
                fn pins(lock: &Lockfile) -> &[Self::Pin] {
                    &lock.$field
                }
                fn pins_mut(lock: &mut Lockfile) -> &mut Vec<Self::Pin> {
                    &mut lock.$field
                }
            }
        )*

        /// Loads and validates the manifests of `workspace` (`manifests/*.toml`, in name
        /// order). Every problem of every file is reported at once, with `file:line:col`.
        pub fn load(workspace: &std::path::Path) -> Result<Manifest, crate::manifest::ManifestError> {
            let sources = crate::manifest::loader::read_sources(workspace)?;
            load_sources(workspace, &sources)
        }

        /// [`load`] of manifest texts already read: (path as messages show it, text).
        pub fn load_sources(
            workspace: &std::path::Path,
            sources: &[(std::path::PathBuf, String)],
        ) -> Result<Manifest, crate::manifest::ManifestError> {
            let loaded = crate::manifest::loader::load_sources::<RawManifest>(workspace, sources)?;
            let mut entries = loaded.entries;
            $(entries.$field.sort_by_cached_key(<$module::$kind as Kind>::key);)*
            // Only what the pins depend on: `[enclave].url` is rendering, not locking, and the
            // platforms are already expanded into the entries. The format is fixed: a change
            // would make every existing lock stale.
            let mut canonical = String::from("{\"format\":\"airgap-inputs-1\"");
            // The kinds of the first format are always written; a kind added since joins only
            // when it has entries, so locks made before it existed stay fresh.
            const FIRST_FORMAT: &[&str] = &["files", "images", "apts", "yums", "gits", "charts"];
            $(
                if !entries.$field.is_empty() || FIRST_FORMAT.contains(&stringify!($field)) {
                    canonical.push_str(concat!(",\"", stringify!($field), "\":"));
                    canonical.push_str(&serde_json::to_string(&entries.$field).unwrap_or_default());
                }
            )*
            // Policies join the inputs only when there are any, so locks made before
            // policies existed stay fresh.
            if !loaded.policies.is_empty() {
                canonical.push_str(",\"policies\":");
                canonical.push_str(&serde_json::to_string(&loaded.policies).unwrap_or_default());
            }
            canonical.push('}');
            Ok(Manifest {
                enclave: loaded.enclave,
                $($field: entries.$field,)*
                kubespray_hosts: loaded.kubespray_hosts,
                dns_forwards: loaded.dns_forwards,
                policies: loaded.policies,
                inputs_digest: Digest::of_bytes(canonical.as_bytes()),
            })
        }
    };
}

pub(crate) use kinds;

use super::Lockfile;

impl Lockfile {
    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Self>, LockError> {
        match lock::read_text(path)? {
            Some(text) => Self::parse(path, &text).map(Some),
            None => Ok(None),
        }
    }

    /// Parses lockfile text; `path` is only for messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, LockError> {
        lock::parse(path, text)
    }

    /// The canonical bytes: header, every kind's pins sorted, fixed field order.
    pub fn render(&self) -> String {
        let mut sorted = self.clone();
        for kind in ALL {
            kind.sort(&mut sorted);
        }
        lock::render(&sorted)
    }

    /// Writes the lock atomically when its bytes differ from what is on disk.
    /// Returns whether anything was written.
    pub fn write_if_changed(&self, path: &Path) -> Result<bool, LockError> {
        lock::write_if_changed(path, &self.render())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::digest::Digest;
    use crate::kinds::Lockfile;
    use crate::kinds::file::{LockedFile, PinSource};
    use crate::lock::LockError;

    fn sample() -> Lockfile {
        let mut lock = Lockfile::empty(Digest::of_bytes(b"inputs"));
        for (name, arch) in [
            ("zeta", None),
            ("alpha", Some("arm64")),
            ("alpha", Some("amd64")),
        ] {
            lock.files.push(LockedFile {
                name: name.to_string(),
                arch: arch.map(str::to_string),
                url: format!("https://example.org/{name}"),
                path: crate::relative_path::RelativePath::new(&format!(
                    "example.org/{name}/{}",
                    arch.unwrap_or("any")
                ))
                .unwrap(),
                digest: Digest::of_bytes(name.as_bytes()),
                size: 3,
                pinned_by: PinSource::Manifest,
                checksum_url: None,
                signature_url: None,
                certificate_url: None,
                signature: None,
            });
        }
        lock
    }

    #[test]
    fn renders_sorted_and_round_trips() {
        let lock = sample();
        let text = lock.render();
        assert!(text.starts_with("# This file is written by airgap"));
        let alpha_amd64 = text.find("arch = \"amd64\"").unwrap();
        let alpha_arm64 = text.find("arch = \"arm64\"").unwrap();
        let zeta = text.find("name = \"zeta\"").unwrap();
        assert!(alpha_amd64 < alpha_arm64 && alpha_arm64 < zeta, "{text}");
        let parsed = Lockfile::parse(Path::new("airgap.lock"), &text).unwrap();
        assert_eq!(parsed.render(), text);
    }

    #[test]
    fn the_quickstart_lock_renders_to_its_own_bytes() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/airgap.lock");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(Lockfile::parse(&path, &text).unwrap().render(), text);
    }

    #[test]
    fn unknown_version_is_a_clear_error() {
        let text = sample().render().replace("version = 1", "version = 7");
        let error = Lockfile::parse(Path::new("airgap.lock"), &text).unwrap_err();
        assert!(
            matches!(error, LockError::UnknownVersion { found: 7, .. }),
            "{error}"
        );
    }
}
