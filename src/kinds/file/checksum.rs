//! Reading the checksum files upstreams publish: a bare hex digest (`kubeadm.sha256`),
//! `hex  filename` lines (`sha256sum` output, text or `*binary` mode), BSD-style
//! `SHA256 (filename) = hex`, and SHA256SUMS lists in which the file's own name is looked up.

use crate::digest::Digest;

/// Why a checksum file gives no digest for the file (the message follows its URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    #[error("is empty")]
    Empty,
    #[error("has a malformed digest: {0}")]
    Malformed(String),
    #[error("lists no entry for `{file_name}` (it lists {listed})")]
    NotListed { file_name: String, listed: String },
}

/// Finds the digest of `file_name` in the text of a checksum file.
pub fn find(text: &str, file_name: &str) -> Result<Digest, ChecksumError> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    if lines.is_empty() {
        return Err(ChecksumError::Empty);
    }
    let mut listed = Vec::new();
    for line in &lines {
        if let Some(rest) = line.strip_prefix("SHA256 (") {
            if let Some((name, digest)) = rest.split_once(") = ") {
                if same_file(name, file_name) {
                    return parse(digest);
                }
                listed.push(name.to_string());
            }
            continue;
        }
        let mut parts = line.splitn(2, char::is_whitespace);
        let digest = parts.next().unwrap_or_default();
        match parts.next().map(str::trim) {
            Some(name) if !name.is_empty() => {
                let name = name.trim_start_matches('*');
                if same_file(name, file_name) {
                    return parse(digest);
                }
                listed.push(name.to_string());
            }
            _ if lines.len() == 1 => return parse(digest),
            _ => {}
        }
    }
    Err(ChecksumError::NotListed {
        file_name: file_name.to_string(),
        listed: if listed.is_empty() {
            "nothing usable".to_string()
        } else {
            listed
                .iter()
                .take(5)
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    })
}

fn same_file(listed: &str, file_name: &str) -> bool {
    let listed = listed.trim_start_matches("./");
    listed == file_name || listed.rsplit('/').next() == Some(file_name)
}

fn parse(digest: &str) -> Result<Digest, ChecksumError> {
    Digest::parse(digest.trim()).map_err(|error| ChecksumError::Malformed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn reads_every_published_form() {
        let expected = Digest::parse(HEX).unwrap();
        assert_eq!(find(&format!("{HEX}\n"), "kubeadm"), Ok(expected));
        assert_eq!(find(&format!("{HEX}  kubeadm\n"), "kubeadm"), Ok(expected));
        assert_eq!(find(&format!("{HEX} *kubeadm\n"), "kubeadm"), Ok(expected));
        let list = format!("{}  other.tar.gz\n{HEX}  ./dist/kubeadm\n", "0".repeat(64));
        assert_eq!(find(&list, "kubeadm"), Ok(expected));
        assert_eq!(
            find(&format!("SHA256 (kubeadm) = {HEX}\n"), "kubeadm"),
            Ok(expected)
        );
    }

    #[test]
    fn refuses_lists_without_the_file() {
        let list = format!("{HEX}  a\n{HEX}  b\n");
        let error = find(&list, "kubeadm").unwrap_err();
        assert!(
            error.to_string().contains("no entry for `kubeadm`"),
            "{error}"
        );
        assert!(find("not-a-digest\n", "x").is_err());
    }
}
