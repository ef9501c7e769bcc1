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

/// A media path must stay inside its folder and be writable on any file system: the one
/// rule of [`RelativePath`](crate::relative_path::RelativePath).
pub fn check_media_path(
    path: &str,
) -> Result<crate::relative_path::RelativePath, crate::relative_path::PathError> {
    crate::relative_path::RelativePath::new(path)
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
