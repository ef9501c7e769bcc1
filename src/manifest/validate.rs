//! Checks shared by the manifest's tables: names, identifiers, platforms, package names, and
//! paths that must stay inside the tree.

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

/// A media path must stay inside `files/` and be writable on any file system.
pub fn check_media_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        return Err(format!("the media path `{path}` is absolute"));
    }
    if path.ends_with('/') {
        return Err(format!(
            "the media path `{path}` names a directory, not a file"
        ));
    }
    if path.contains(['\\', '\n', '\r', '\0']) {
        return Err(format!(
            "the media path `{path}` contains a backslash or control character"
        ));
    }
    for component in path.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(format!(
                "the media path `{path}` has an empty, `.` or `..` component"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_paths_stay_inside() {
        assert!(check_media_path("a/b").is_ok());
        assert!(check_media_path("../b").is_err());
        assert!(check_media_path("/b").is_err());
        assert!(check_media_path("a//b").is_err());
    }
}
