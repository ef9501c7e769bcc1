//! Checks shared by the manifest's tables: names, identifiers, platforms, package names,
//! paths that must stay inside the tree, and URLs that must not carry credentials.

pub fn is_inventory_name(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('-')
        && text.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.')
        })
}

pub fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_')
}

pub fn is_platform(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    (2..=3).contains(&parts.len()) && parts.iter().all(|part| is_identifier(part))
}

pub fn is_deb_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '-')
}

pub fn is_package_name(text: &str) -> bool {
    text.len() >= 2
        && text.starts_with(|character: char| {
            character.is_ascii_lowercase() || character.is_ascii_digit()
        })
        && text.chars().all(|character| {
            character.is_ascii_lowercase()
                || character.is_ascii_digit()
                || matches!(character, '+' | '-' | '.')
        })
}

pub fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '+' | '-')
        })
}

/// Why a path would not stay inside the tree, or not be writable on every file system.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaPathError {
    #[error("the media path `{0}` is absolute")]
    Absolute(String),
    #[error("the media path `{0}` names a directory, not a file")]
    Directory(String),
    #[error("the media path `{0}` contains a backslash or control character")]
    Character(String),
    #[error("the media path `{0}` has an empty, `.` or `..` component")]
    Component(String),
}

/// A media path must stay inside `files/` and be writable on any file system.
pub fn check_media_path(path: &str) -> Result<(), MediaPathError> {
    if path.starts_with('/') {
        return Err(MediaPathError::Absolute(path.to_string()));
    }
    if path.ends_with('/') {
        return Err(MediaPathError::Directory(path.to_string()));
    }
    if path.contains(['\\', '\n', '\r', '\0']) {
        return Err(MediaPathError::Character(path.to_string()));
    }
    for component in path.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(MediaPathError::Component(path.to_string()));
        }
    }
    Ok(())
}

/// `text` with the user part of every `scheme://user:password@` (or `scheme://token@`)
/// replaced by `***`, so that a credential written into a manifest never reaches a message.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    static USERINFO: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    USERINFO
        .get_or_init(|| regex::Regex::new(r#"://[^/@\s"']+@"#).expect("a valid pattern"))
        .replace_all(text, "://***@")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact("url = \"https://user:s3cret@mirror/x\" # and http://a:b@c/"),
            "url = \"https://***@mirror/x\" # and http://***@c/"
        );
        assert_eq!(redact("https://mirror/x"), "https://mirror/x");
    }

    #[test]
    fn media_paths_stay_inside() {
        assert!(check_media_path("a/b").is_ok());
        assert!(check_media_path("../b").is_err());
        assert!(check_media_path("/b").is_err());
        assert!(check_media_path("a//b").is_err());
    }
}
