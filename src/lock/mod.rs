//! The lockfile `airgap.lock` as a file format: the header, the version check that rejects
//! unknown versions, the deterministic writer that writes only on change and atomically, the
//! generic staleness plan and the diff. Its tables are the kinds' pins, assembled by the list
//! of kinds (`kinds::Lockfile`); nothing here names a kind.
//!
//! Depends on `manifest`, `digest` and `store`; it never touches the network.

pub mod diff;
mod plan;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use plan::{KindPlan, Reason, plan_kind};

/// The only lockfile format this version reads and writes.
pub const VERSION: u32 = 1;

const HEADER: &str = "# This file is written by airgap. Do not edit it by hand.\n\
# It pins every artifact of manifests/ to exact, content-addressed bytes.\n\
# Regenerate it with `airgap lock`; review changes with `airgap diff`.\n";

/// Why a lockfile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not a valid lockfile: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("{path} has lockfile version {found}, but this airgap reads version {VERSION}")]
    UnknownVersion { path: PathBuf, found: i64 },
    #[error("cannot write {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// Reads the text of `path`; `Ok(None)` when it does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>, LockError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LockError::Read {
            path: path.to_path_buf(),
            cause: source,
        }),
    }
}

/// Parses lockfile text into `T` after checking its version first, so that a newer format
/// gets the right message; `path` is only for messages.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, LockError> {
    let malformed = |error: toml::de::Error| LockError::Malformed {
        path: path.to_path_buf(),
        message: error.to_string().trim().to_string(),
    };
    let table: toml::Table = toml::from_str(text).map_err(malformed)?;
    match table.get("version") {
        Some(toml::Value::Integer(version)) if *version == i64::from(VERSION) => {}
        Some(toml::Value::Integer(found)) => {
            return Err(LockError::UnknownVersion {
                path: path.to_path_buf(),
                found: *found,
            });
        }
        _ => {
            return Err(LockError::Malformed {
                path: path.to_path_buf(),
                message: "`version` is missing or not an integer".to_string(),
            });
        }
    }
    toml::from_str(text).map_err(malformed)
}

/// The canonical bytes of an already sorted lock: the header, then the tables.
pub fn render<T: Serialize>(sorted: &T) -> String {
    let body = toml::to_string(sorted).unwrap_or_default();
    format!("{HEADER}{body}")
}

/// Writes `rendered` to `path` atomically when it differs from what is there; returns whether
/// anything was written.
pub fn write_if_changed(path: &Path, rendered: &str) -> Result<bool, LockError> {
    if std::fs::read(path).is_ok_and(|existing| existing == rendered.as_bytes()) {
        return Ok(false);
    }
    crate::store::atomic_write(path, rendered.as_bytes()).map_err(|source| LockError::Write {
        path: path.to_path_buf(),
        cause: source,
    })?;
    Ok(true)
}

impl crate::hint::Hint for LockError {
    fn hint(&self) -> Option<String> {
        match self {
            LockError::Malformed { .. } => Some("it is written by airgap only; restore it from version control, or delete it and run `airgap lock`".to_string()),
            LockError::UnknownVersion { .. } => Some("use the airgap release that wrote it, or delete it and run `airgap lock` to re-resolve".to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// Reads an entry's name from a lock as the manifest would accept it (letters, digits, `.`,
/// `_`, `+`, `-`): names become file names on the media, so a hand-edited lock cannot name a
/// place outside it.
pub fn checked_name<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(deserializer)?;
    if crate::manifest::validate::is_name(&name) {
        Ok(name)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{}` is not an entry name (letters, digits, `.`, `_`, `+`, `-`)",
            name.escape_debug()
        )))
    }
}
