//! Version orderings and requirements that more than one stage needs: the loose dotted
//! comparison Ansible's `version` test makes (Kubespray's tables, rendered variables), and
//! chart version requirements in cargo's or Helm's syntax.
//!
//! A leaf: depends on nothing in the crate.

use std::cmp::Ordering;

/// Compares dotted versions loosely, as Ansible's `version` test does by default: a leading
/// `v` is ignored, numeric parts compare numerically (1.35.10 after 1.35.9), the rest as text,
/// and a missing part counts as zero (3.7 equals 3.7.0).
pub fn compare_loose(left: &str, right: &str) -> Ordering {
    let parts = |text: &str| -> Vec<(u64, String)> {
        text.trim_start_matches('v')
            .split(['.', '-', '+', '_'])
            .map(|part| {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                (
                    digits.parse().unwrap_or(0),
                    part[digits.len()..].to_string(),
                )
            })
            .collect()
    };
    let (mut left, mut right) = (parts(left), parts(right));
    let length = left.len().max(right.len());
    left.resize(length, (0, String::new()));
    right.resize(length, (0, String::new()));
    left.cmp(&right)
}

/// Why a text is not a version or a version range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a version or range: {message}")]
pub struct VersionError {
    pub text: String,
    pub message: String,
}

/// A chart version requirement: an exact version, or a range in cargo's syntax or Helm's
/// (space-separated comparators, `x` wildcards, `v` prefixes), as a `semver::VersionReq`.
pub fn version_requirement(text: &str) -> Result<semver::VersionReq, VersionError> {
    let trimmed = text.trim().trim_start_matches('v');
    if let Ok(exact) = semver::Version::parse(trimmed) {
        return Ok(semver::VersionReq {
            comparators: vec![semver::Comparator {
                op: semver::Op::Exact,
                major: exact.major,
                minor: Some(exact.minor),
                patch: Some(exact.patch),
                pre: exact.pre,
            }],
        });
    }
    // Helm writes `>=1.0 <2.0` for what cargo writes `>=1.0, <2.0`.
    let mut normalized = String::new();
    for (index, part) in trimmed.split_whitespace().enumerate() {
        let starts_comparator = part.starts_with(['<', '>', '=', '~', '^'])
            || part.starts_with(|character: char| character.is_ascii_digit());
        if index > 0
            && starts_comparator
            && !normalized.ends_with(',')
            && !normalized.ends_with(['<', '>', '=', '~', '^'])
        {
            normalized.push(',');
        }
        normalized.push(' ');
        normalized.push_str(part);
    }
    let normalized = normalized.replace(".x", ".*").replace(".X", ".*");
    semver::VersionReq::parse(normalized.trim()).map_err(|error| VersionError {
        text: text.to_string(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_versions_order_numerically() {
        assert_eq!(compare_loose("1.35.10", "1.35.9"), Ordering::Greater);
        assert_eq!(compare_loose("3.5.21", "3.6.0"), Ordering::Less);
        assert_eq!(compare_loose("v3.7", "3.7.0"), Ordering::Equal);
        assert_eq!(compare_loose("1.2.3-rc1", "1.2.3-rc2"), Ordering::Less);
    }

    #[test]
    fn chart_version_requirements() {
        let matches = |requirement: &str, version: &str| {
            version_requirement(requirement)
                .unwrap()
                .matches(&semver::Version::parse(version).unwrap())
        };
        assert!(matches("4.11.3", "4.11.3"));
        assert!(!matches("4.11.3", "4.11.4"));
        assert!(matches("^4.11", "4.12.0"));
        assert!(matches(">=1.0 <2.0", "1.9.9"));
        assert!(!matches(">=1.0 <2.0", "2.0.0"));
        assert!(matches("1.2.x", "1.2.7"));
        assert!(!matches("^1.0", "1.3.0-rc.1"));
        assert!(version_requirement("latest please").is_err());
    }
}
