//! Every limit on what comes from outside, named once. An upstream, a registry, a token
//! service or a media tree may be hostile: each read has a bound, and a fetch with a pinned
//! size stops one byte past it.
//!
//! A leaf: it uses nothing of the crate.

/// `InRelease` / `Release` of an apt archive (Debian's main archive: about 200 KiB).
pub const RELEASE: u64 = 64 << 20;
/// A detached signature (`Release.gpg`, `repomd.xml.asc`).
pub const SIGNATURE: u64 = 1 << 20;
/// A yum repository's `repomd.xml`.
pub const REPOMD: u64 = 16 << 20;
/// A metadata file a repomd.xml names without its size (primary.xml, compressed).
pub const METADATA: u64 = 1 << 30;
/// A Helm repository's `index.yaml` (large public repositories: tens of MiB).
pub const HELM_INDEX: u64 = 256 << 20;
/// A chart archive fetched before its size is known.
pub const CHART_ARCHIVE: u64 = 256 << 20;
/// A published checksum file (`*.sha256`, `SHA256SUMS`).
pub const CHECKSUM_FILE: u64 = 4 << 20;
/// A file fetched before its size is pinned (lock time, trust on first use or a checksum).
pub const UNPINNED_FILE: u64 = 32 << 30;

/// A signature policy's trust material (a cosign key, Sigstore's `trusted_root.json`, an
/// OpenPGP keyring).
pub const TRUST_MATERIAL: u64 = 4 << 20;
/// One signature object: a cosign payload or signature layer, a Sigstore bundle, a blob's
/// `.sig`, `.cert` or `.asc`.
pub const SIGNATURE_OBJECT: u64 = 1 << 20;
/// Referrers (signatures, SBOMs, attestations) taken per manifest from a referrers list.
pub const REFERRERS: usize = 256;
/// Signatures looked at per image before giving up (a repository full of `.sig` noise).
pub const SIGNATURE_CANDIDATES: usize = 64;

/// A registry token response (a JWT of a few KiB).
pub const TOKEN_BODY: u64 = 1 << 20;
/// The body of an error response, shown in a message.
pub const ERROR_BODY: u64 = 64 << 10;
/// One file read out of a chart archive (`Chart.yaml`, `values.yaml`, `images.lock`),
/// decompressed.
pub const CHART_MEMBER: u64 = 16 << 20;
/// One line of a deb822 document (a `Packages` index, a `Release`, a `.deb`'s control file).
pub const DEB822_LINE: u64 = 1 << 20;
/// One deb822 paragraph (a package's entry: a few KiB).
pub const DEB822_PARAGRAPH: u64 = 16 << 20;

/// One XML event of repository metadata (an element's text, or a tag with its attributes).
pub const XML_EVENT: u64 = 16 << 20;
/// Packages in one `Packages` index or `primary.xml` (Debian's main archive: about 65,000 per
/// architecture; RHEL's AppStream: about 20,000).
pub const INDEX_PACKAGES: usize = 250_000;

/// Reads a local file of at most `limit` bytes; a larger one is refused unread.
pub fn read_bounded(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}

/// The limit of a fetch whose size is pinned: the size itself. The transfer is refused one
/// byte past it.
pub fn pinned(size: u64) -> u64 {
    size
}

/// The pace a fetch from outside must keep: every transfer may take `grace`, plus one second
/// for each `min_rate` bytes it has received. A server that stalls, trickles (a byte a
/// second never trips a read timeout) or keeps a transfer alive with retries is given up when
/// the fetch falls behind: an overall deadline that grows with real progress, so a large
/// file on a slow but honest link is never cut off. `--fetch-grace` and `--min-rate` set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub grace: std::time::Duration,
    /// Bytes per second; at least 1.
    pub min_rate: u64,
}

impl Pace {
    /// Two minutes, then 16 KiB/s on average.
    pub const DEFAULT: Pace = Pace {
        grace: std::time::Duration::from_secs(120),
        min_rate: 16 << 10,
    };

    /// Starts the clock of one fetch.
    pub fn start(self) -> PaceClock {
        PaceClock {
            pace: self,
            started: std::time::Instant::now(),
        }
    }
}

impl Default for Pace {
    fn default() -> Self {
        Pace::DEFAULT
    }
}

/// The clock of one fetch under a [`Pace`].
#[derive(Debug, Clone, Copy)]
pub struct PaceClock {
    pace: Pace,
    started: std::time::Instant,
}

impl PaceClock {
    /// How long the fetch may still take, having received `received` bytes; zero when it is
    /// already behind.
    pub fn remaining(&self, received: u64) -> std::time::Duration {
        let earned =
            std::time::Duration::from_secs_f64(received as f64 / self.pace.min_rate.max(1) as f64);
        (self.pace.grace + earned).saturating_sub(self.started.elapsed())
    }

    /// Time since the fetch began.
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    pub fn pace(&self) -> Pace {
        self.pace
    }
}

/// Parses a rate as `--min-rate` takes it: bytes per second, with an optional `K`, `M` or
/// `G` suffix (KiB, MiB, GiB; `KiB`, `k`, `/s` are accepted too).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let trimmed = text.trim().trim_end_matches("/s");
    let lower = trimmed.to_ascii_lowercase();
    let (number, unit) = match lower.find(|character: char| !character.is_ascii_digit()) {
        Some(at) => lower.split_at(at),
        None => (lower.as_str(), ""),
    };
    let factor: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "`{text}` is not a rate: write bytes per second, like 16K or 1M"
            ));
        }
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a rate: write bytes per second, like 16K or 1M"))?;
    match value.checked_mul(factor) {
        Some(0) => Err("the minimum rate must be at least 1 byte per second".to_string()),
        Some(rate) => Ok(rate),
        None => Err(format!("`{text}` is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_read_as_operators_write_them() {
        assert_eq!(parse_rate("16K"), Ok(16 << 10));
        assert_eq!(parse_rate("1MiB/s"), Ok(1 << 20));
        assert_eq!(parse_rate("100"), Ok(100));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").unwrap_err().contains("16K"));
    }

    #[test]
    fn the_deadline_grows_with_progress() {
        let clock = Pace {
            grace: Duration::from_secs(10),
            min_rate: 1000,
        }
        .start();
        assert!(clock.remaining(0) <= Duration::from_secs(10));
        assert!(clock.remaining(0) > Duration::from_secs(9));
        assert!(clock.remaining(5000) > Duration::from_secs(14));
        let behind = Pace {
            grace: Duration::ZERO,
            min_rate: 1,
        }
        .start();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(behind.remaining(0), Duration::ZERO);
    }
}
