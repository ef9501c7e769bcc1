//! Who may read: HTTP Basic against an htpasswd file (bcrypt entries, as `htpasswd -B` writes
//! them and distribution and nginx read them), with path prefixes an access file leaves open;
//! `/healthz` is always open. Failed attempts are logged with the client's address, and an
//! address with too many of them in a minute is answered 429 without its password being
//! checked, so guessing is slow and costs the server nothing while others are served.
//!
//! A bcrypt check takes milliseconds by design: it runs off the async workers, and a header
//! that was accepted once is remembered (by its SHA-256, in a bounded table) so that a node
//! pulling a thousand blobs pays for it once.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;

/// The realm of every `WWW-Authenticate: Basic` challenge.
pub const REALM: &str = "airgap";
/// Failures from one address within [`WINDOW`] after which it is refused unchecked.
pub const FAILURES_ALLOWED: u32 = 10;
/// The window over which failures are counted.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Accepted credentials remembered at once; the table starts over when it is full.
const REMEMBERED: usize = 4096;
/// Addresses whose failures are tracked at once; the oldest window is dropped beyond it.
const TRACKED: usize = 65536;
/// The largest htpasswd or access file read.
const FILE_LIMIT: u64 = 4 << 20;

/// Why the credentials or access rules could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Entry {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Rules { path: PathBuf, message: String },
}

impl crate::hint::Hint for AccessError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            AccessError::Read { .. } => "give the htpasswd file (`htpasswd -cB FILE USER` makes one)".to_string(),
            AccessError::Entry { .. } => {
                "each line is USER:HASH with a bcrypt hash; `htpasswd -B FILE USER` writes one".to_string()
            }
            AccessError::Rules { .. } => {
                "the access file holds `open = [\"/files/\", ...]`: the path prefixes served without credentials".to_string()
            }
        })
    }
}

/// The access file (`--access FILE`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rules {
    /// Path prefixes anyone may read without credentials.
    #[serde(default)]
    open: Vec<String>,
}

/// What a request may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Served (as this user, when credentials were checked).
    Allow(Option<String>),
    /// No or wrong credentials: 401 with a Basic challenge.
    Challenge,
    /// Too many failures from this address: 429, retry after this many seconds.
    Throttled(u64),
}

/// The users, the open prefixes, and what was seen.
pub struct Access {
    htpasswd: PathBuf,
    users: RwLock<Arc<BTreeMap<String, String>>>,
    open: Vec<String>,
    /// SHA-256 of accepted `Authorization` values, and the user each names.
    accepted: Mutex<HashMap<[u8; 32], String>>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Access {
    /// Reads the htpasswd file and, when given, the access file.
    pub fn load(htpasswd: &Path, rules: Option<&Path>) -> Result<Access, AccessError> {
        let users = read_users(htpasswd)?;
        let open = match rules {
            Some(path) => read_rules(path)?,
            None => Vec::new(),
        };
        Ok(Access {
            htpasswd: htpasswd.to_path_buf(),
            users: RwLock::new(Arc::new(users)),
            open,
            accepted: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Reads the htpasswd file again (SIGHUP); on an error the users stay as they were.
    pub fn reload(&self) -> Result<usize, AccessError> {
        let users = read_users(&self.htpasswd)?;
        let count = users.len();
        *self
            .users
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = Arc::new(users);
        self.accepted
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clear();
        Ok(count)
    }

    /// Whether a request for `path` must carry credentials.
    pub fn guards(&self, path: &str) -> bool {
        path != "/healthz"
            && !self
                .open
                .iter()
                .any(|prefix| path.starts_with(prefix.as_str()))
    }

    /// Checks the `Authorization` header of a request from `client`.
    pub async fn check(&self, client: IpAddr, authorization: Option<&str>) -> Decision {
        if let Some(wait) = self.throttled(client) {
            return Decision::Throttled(wait);
        }
        let Some(value) = authorization else {
            return Decision::Challenge;
        };
        let key: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(value.as_bytes()).into()
        };
        if let Some(user) = self
            .accepted
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(&key)
        {
            return Decision::Allow(Some(user.clone()));
        }
        let Some((user, password)) = basic_credentials(value) else {
            self.failed(client);
            return Decision::Challenge;
        };
        let hash = self
            .users
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(&user)
            .cloned();
        let verified = match hash {
            Some(hash) => tokio::task::spawn_blocking(move || {
                bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
            })
            .await
            .unwrap_or(false),
            None => false,
        };
        if !verified {
            self.failed(client);
            return Decision::Challenge;
        }
        let mut accepted = self
            .accepted
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if accepted.len() >= REMEMBERED {
            accepted.clear();
        }
        accepted.insert(key, user.clone());
        Decision::Allow(Some(user))
    }

    /// Failures of `client` within the window so far.
    pub fn failures(&self, client: IpAddr) -> u32 {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match failures.get(&client) {
            Some((since, count)) if since.elapsed() < WINDOW => *count,
            _ => 0,
        }
    }

    /// Seconds `client` must wait, when it failed too often within the window.
    fn throttled(&self, client: IpAddr) -> Option<u64> {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let (since, count) = failures.get(&client)?;
        let elapsed = since.elapsed();
        (elapsed < WINDOW && *count >= FAILURES_ALLOWED)
            .then(|| (WINDOW - elapsed).as_secs().max(1))
    }

    fn failed(&self, client: IpAddr) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if failures.len() >= TRACKED {
            failures.retain(|_, (since, _)| since.elapsed() < WINDOW);
            if failures.len() >= TRACKED {
                failures.clear();
            }
        }
        let entry = failures.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// The user and password of a `Basic` header value.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The user name of a `Basic` header value, for the log (never the password).
pub fn user_of(value: Option<&str>) -> Option<String> {
    value
        .and_then(basic_credentials)
        .map(|(user, _)| user.escape_debug().to_string())
}

fn read_users(path: &Path) -> Result<BTreeMap<String, String>, AccessError> {
    let bytes =
        crate::limits::read_bounded(path, FILE_LIMIT).map_err(|error| AccessError::Read {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
    let text = String::from_utf8(bytes).map_err(|_| AccessError::Read {
        path: path.to_path_buf(),
        message: "is not UTF-8 text".to_string(),
    })?;
    let mut users = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let entry = |message: String| AccessError::Entry {
            path: path.to_path_buf(),
            line: index + 1,
            message,
        };
        let Some((user, hash)) = line.split_once(':') else {
            return Err(entry("is not USER:HASH".to_string()));
        };
        if user.is_empty() {
            return Err(entry("has no user name".to_string()));
        }
        if !["$2y$", "$2b$", "$2a$"]
            .iter()
            .any(|prefix| hash.starts_with(prefix))
        {
            let kind = if hash.starts_with("{SHA}") {
                "a SHA-1"
            } else if hash.starts_with("$apr1$") {
                "an MD5"
            } else {
                "a crypt or plain-text"
            };
            return Err(entry(format!(
                "user `{}` has {kind} entry; airgap accepts bcrypt only (htpasswd -B), as distribution does",
                user.escape_debug()
            )));
        }
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(entry(format!(
                "the bcrypt hash of user `{}` is malformed",
                user.escape_debug()
            )));
        }
        if users.insert(user.to_string(), hash.to_string()).is_some() {
            return Err(entry(format!(
                "user `{}` is listed twice",
                user.escape_debug()
            )));
        }
    }
    if users.is_empty() {
        return Err(AccessError::Read {
            path: path.to_path_buf(),
            message: "lists no user".to_string(),
        });
    }
    Ok(users)
}

fn read_rules(path: &Path) -> Result<Vec<String>, AccessError> {
    let bytes =
        crate::limits::read_bounded(path, FILE_LIMIT).map_err(|error| AccessError::Read {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
    let rules_error = |message: String| AccessError::Rules {
        path: path.to_path_buf(),
        message,
    };
    let text =
        String::from_utf8(bytes).map_err(|_| rules_error("is not UTF-8 text".to_string()))?;
    let rules: Rules = toml::from_str(&text).map_err(|error| rules_error(error.to_string()))?;
    for prefix in &rules.open {
        if !prefix.starts_with('/') || prefix.contains("..") || prefix.contains('%') {
            return Err(rules_error(format!(
                "`{}` is not a path prefix (it starts with /, as \"/files/\")",
                prefix.escape_debug()
            )));
        }
    }
    Ok(rules.open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(directory: &Path, open: &str) -> Access {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(
            directory.join("htpasswd"),
            format!("# users\nnode:{hash}\n"),
        )
        .unwrap();
        std::fs::write(directory.join("access.toml"), open).unwrap();
        Access::load(
            &directory.join("htpasswd"),
            Some(&directory.join("access.toml")),
        )
        .unwrap()
    }

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[tokio::test]
    async fn credentials_are_checked_and_guessing_is_throttled() {
        let directory = tempfile::tempdir().unwrap();
        let access = access(directory.path(), "open = [\"/files/\"]\n");
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(!access.guards("/healthz") && !access.guards("/files/a") && access.guards("/v2/"));
        assert_eq!(access.check(client, None).await, Decision::Challenge);
        assert_eq!(
            access.check(client, Some(&basic("node", "s3cret"))).await,
            Decision::Allow(Some("node".to_string()))
        );
        for _ in 0..FAILURES_ALLOWED {
            assert_eq!(
                access.check(client, Some(&basic("node", "guess"))).await,
                Decision::Challenge
            );
        }
        // Now refused unchecked, even with the right password; other addresses are served.
        assert!(matches!(
            access.check(client, Some(&basic("node", "s3cret"))).await,
            Decision::Throttled(_)
        ));
        assert_eq!(
            access.check(other, Some(&basic("node", "s3cret"))).await,
            Decision::Allow(Some("node".to_string()))
        );
        assert_eq!(user_of(Some(&basic("node", "x"))).as_deref(), Some("node"));
    }

    #[test]
    fn only_bcrypt_entries_and_prefix_rules_are_accepted() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("htpasswd");
        std::fs::write(&path, "node:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n").unwrap();
        let error = Access::load(&path, None).err().unwrap().to_string();
        assert!(
            error.contains(":1:") && error.contains("bcrypt only"),
            "{error}"
        );
        std::fs::write(&path, format!("node:{}\n", bcrypt::hash("x", 4).unwrap())).unwrap();
        let rules = directory.path().join("access.toml");
        std::fs::write(&rules, "open = [\"files/\"]\n").unwrap();
        let error = Access::load(&path, Some(&rules)).err().unwrap().to_string();
        assert!(error.contains("not a path prefix"), "{error}");
    }
}
