//! `SHA256SUMS`: the list that `sha256sum -c` checks, in coreutils' text format, sorted by path.

use std::collections::BTreeMap;

use crate::digest::Digest;

/// The name of the list at the top of a media tree.
pub const SUMS: &str = "SHA256SUMS";
/// Its detached signature.
pub const SIGNATURE: &str = "SHA256SUMS.asc";

/// Renders `hex  path` lines, sorted by path.
pub fn render(entries: &BTreeMap<String, Digest>) -> String {
    let mut text = String::new();
    for (path, digest) in entries {
        text.push_str(&digest.hex());
        text.push_str("  ");
        text.push_str(path);
        text.push('\n');
    }
    text
}

/// Parses a `SHA256SUMS` file. Paths must stay inside the tree.
/// Why a `SHA256SUMS` list was refused: the line, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SumsError {
    pub line: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<BTreeMap<String, Digest>, SumsError> {
    let mut entries = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.is_empty() {
            continue;
        }
        if line.starts_with('\\') {
            return Err(SumsError {
                line: number,
                message: "escaped file names are not produced by airgap".to_string(),
            });
        }
        let (hex, path) = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .ok_or_else(|| SumsError {
                line: number,
                message: "expected `<sha256>  <path>`".to_string(),
            })?;
        let digest = Digest::parse(hex).map_err(|error| SumsError {
            line: number,
            message: error.to_string(),
        })?;
        let safe = !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !safe {
            return Err(SumsError {
                line: number,
                message: format!("`{path}` points outside the media tree"),
            });
        }
        if entries.insert(path.to_string(), digest).is_some() {
            return Err(SumsError {
                line: number,
                message: format!("`{path}` is listed twice"),
            });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_escapes() {
        let mut entries = BTreeMap::new();
        entries.insert("files/b".to_string(), Digest::of_bytes(b"b"));
        entries.insert("airgap.lock".to_string(), Digest::of_bytes(b"a"));
        let text = render(&entries);
        assert!(text.starts_with(&Digest::of_bytes(b"a").hex()));
        assert_eq!(parse(&text).unwrap(), entries);
        let evil = format!("{}  ../etc/passwd\n", Digest::of_bytes(b"x").hex());
        assert!(parse(&evil).unwrap_err().message.contains("outside"));
    }
}
