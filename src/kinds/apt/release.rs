//! An archive's `Release`: its signature checked against the entry's keyring (binary or
//! armored, as Debian and Ubuntu ship them), its `Valid-Until`, and the SHA256 list that every
//! index is checked against.

use std::collections::BTreeMap;

use crate::deb822;
use crate::digest::Digest;

/// A parsed, trusted `Release`.
#[derive(Debug, Clone)]
pub struct Release {
    pub date: String,
    pub valid_until: Option<String>,
    pub acquire_by_hash: bool,
    /// Whether `binary-<arch>` indexes already list `Architecture: all` packages.
    pub all_in_arch_indexes: bool,
    /// Path below `dists/<suite>/` to (digest, size).
    pub sha256: BTreeMap<String, (Digest, u64)>,
}

/// Why a Release is refused (the message follows the file's URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Syntax(#[from] deb822::Deb822Error),
    #[error("is empty")]
    Empty,
    #[error("SHA256 entry for {path}: {message}")]
    Entry { path: String, message: String },
    #[error("SHA256 entry for {0} has a bad size")]
    Size(String),
    #[error("has no SHA256 list (only SHA256 is trusted)")]
    NoSha256,
    #[error("has an unreadable Valid-Until `{0}`")]
    ValidUntil(String),
    #[error("expired: its Valid-Until is {0}")]
    Expired(String),
}

/// Parses the Release text.
pub fn parse(text: &str) -> Result<Release, ReleaseError> {
    let paragraphs = deb822::parse_all(text)?;
    let paragraph = paragraphs.first().ok_or(ReleaseError::Empty)?;
    let mut sha256 = BTreeMap::new();
    for line in paragraph.get("SHA256").unwrap_or_default().lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [hex, size, path] = parts[..] {
            let digest = Digest::parse(hex).map_err(|error| ReleaseError::Entry {
                path: path.to_string(),
                message: error.to_string(),
            })?;
            let size = size
                .parse()
                .map_err(|_| ReleaseError::Size(path.to_string()))?;
            sha256.insert(path.to_string(), (digest, size));
        }
    }
    if sha256.is_empty() {
        return Err(ReleaseError::NoSha256);
    }
    Ok(Release {
        date: paragraph.get("Date").unwrap_or_default().to_string(),
        valid_until: paragraph.get("Valid-Until").map(str::to_string),
        acquire_by_hash: paragraph
            .get("Acquire-By-Hash")
            .is_some_and(|value| value.eq_ignore_ascii_case("yes")),
        all_in_arch_indexes: paragraph.get("No-Support-for-Architecture-all").is_some(),
        sha256,
    })
}

/// Fails when `Valid-Until` is in the past.
pub fn check_valid_until(release: &Release, now: u64) -> Result<(), ReleaseError> {
    let Some(until) = &release.valid_until else {
        return Ok(());
    };
    let seconds = parse_date(until).ok_or_else(|| ReleaseError::ValidUntil(until.clone()))?;
    if seconds < now {
        return Err(ReleaseError::Expired(until.clone()));
    }
    Ok(())
}

/// Parses the RFC 2822 dates of Release files (`Sat, 05 Dec 2026 08:22:03 UTC`) into Unix time.
pub fn parse_date(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let parts = if parts.first()?.ends_with(',') {
        &parts[1..]
    } else {
        &parts[..]
    };
    let [day, month, year, time, ..] = parts else {
        return None;
    };
    let day: i64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|name| name.eq_ignore_ascii_case(month))? as i64
        + 1;
    let year: i64 = year.parse().ok()?;
    let clock: Vec<i64> = time
        .split(':')
        .map(|part| part.parse().ok())
        .collect::<Option<_>>()?;
    let [hour, minute, second] = clock[..] else {
        return None;
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let shifted = if month <= 2 { year - 1 } else { year };
    let era = shifted.div_euclid(400);
    let year_of_era = shifted - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        assert_eq!(
            parse_date("Sat, 10 Jun 2023 08:52:42 UTC"),
            Some(1_686_387_162)
        );
        assert_eq!(parse_date("nonsense"), None);
    }

    #[test]
    fn release_fields() {
        let text = format!(
            "Origin: Debian\nDate: Sat, 10 Jun 2023 08:52:42 UTC\nValid-Until: Thu, 01 Jan 1970 00:00:00 UTC\nAcquire-By-Hash: yes\nSHA256:\n {} 12 main/binary-amd64/Packages.xz\n",
            "a".repeat(64)
        );
        let release = parse(&text).unwrap();
        assert!(release.acquire_by_hash);
        assert_eq!(release.sha256["main/binary-amd64/Packages.xz"].1, 12);
        assert!(matches!(
            check_valid_until(&release, 10),
            Err(ReleaseError::Expired(_))
        ));
    }
}
