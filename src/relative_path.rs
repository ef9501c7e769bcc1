//! A relative path that stays inside the directory it is joined to: the one form in which a
//! path from outside (upstream metadata, a lock, a manifest) may name a place in the media
//! tree. It is built only through [`RelativePath::new`], which accepts normal components and
//! nothing else: no absolute path, no `..` or `.`, no empty component, no NUL, backslash or
//! other control character. Lock entries hold it, so a hand-edited lock with `../` is refused
//! when it is read, and the tree's writes check every path with it.
//!
//! A leaf: it uses nothing of the crate.

use std::fmt;

/// A checked relative path (`pool/main/s/socat/socat_1.7.4.4-2_amd64.deb`).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RelativePath(String);

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path `{0}` is absolute")]
    Absolute(String),
    #[error("the path `{0}` names a directory, not a file")]
    Directory(String),
    #[error("the path `{0}` contains a backslash or control character")]
    Character(String),
    #[error("the path `{0}` has an empty, `.` or `..` component and would leave its directory")]
    Component(String),
    #[error("the path is empty")]
    Empty,
}

impl RelativePath {
    /// Checks `text`; only normal components pass.
    pub fn new(text: &str) -> Result<RelativePath, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.starts_with('/') {
            return Err(PathError::Absolute(text.to_string()));
        }
        if text.ends_with('/') {
            return Err(PathError::Directory(text.to_string()));
        }
        if text.contains('\\') || text.chars().any(char::is_control) {
            return Err(PathError::Character(text.escape_debug().to_string()));
        }
        if text
            .split('/')
            .any(|component| component.is_empty() || component == "." || component == "..")
        {
            return Err(PathError::Component(text.to_string()));
        }
        Ok(RelativePath(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RelativePath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl TryFrom<String> for RelativePath {
    type Error = PathError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        RelativePath::new(&text)
    }
}

impl From<RelativePath> for String {
    fn from(path: RelativePath) -> String {
        path.0
    }
}

impl AsRef<str> for RelativePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for RelativePath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_normal_components_pass() {
        assert!(RelativePath::new("pool/main/s/socat/socat_1.7.4.4-2_amd64.deb").is_ok());
        assert!(RelativePath::new("Packages/a%3a1.rpm").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a\u{0}b",
            "a\nb",
            "..",
        ] {
            assert!(RelativePath::new(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn a_lock_entry_with_dot_dot_is_refused_when_read() {
        #[derive(serde::Deserialize)]
        struct Entry {
            #[allow(dead_code)]
            path: RelativePath,
        }
        assert!(toml::from_str::<Entry>("path = \"pool/a.deb\"").is_ok());
        let error = toml::from_str::<Entry>("path = \"../../../x.deb\"")
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("would leave its directory"), "{error}");
    }
}
