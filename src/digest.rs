//! The one digest type: `sha256:<64 lowercase hex>`, the OCI form, used everywhere
//! (manifests, lockfile, store, SHA256SUMS). Depends on nothing else in the crate.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 content digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestParseError {
    #[error(
        "`{0}` is not a sha256 digest: expected 64 hexadecimal characters, optionally prefixed with `sha256:`"
    )]
    Malformed(String),
    #[error("`{0}` uses an unsupported digest algorithm; only sha256 is supported")]
    Algorithm(String),
}

impl Digest {
    /// Parses `sha256:<hex>` or a bare 64-character hex string (either case).
    pub fn parse(text: &str) -> Result<Self, DigestParseError> {
        let hex_part = match text.split_once(':') {
            Some(("sha256", rest)) => rest,
            Some((algorithm, _)) => return Err(DigestParseError::Algorithm(algorithm.to_string())),
            None => text,
        };
        if hex_part.len() != 64 {
            return Err(DigestParseError::Malformed(text.to_string()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes)
            .map_err(|_| DigestParseError::Malformed(text.to_string()))?;
        Ok(Digest(bytes))
    }

    /// The digest of a byte slice (for small in-memory documents only).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// Streams a reader through SHA-256, returning the digest and the byte count.
    pub fn of_reader(reader: impl Read) -> std::io::Result<(Self, u64)> {
        copy_hashing(reader, std::io::sink())
    }

    /// Streams a file through SHA-256.
    pub fn of_file(path: &std::path::Path) -> std::io::Result<(Self, u64)> {
        Self::of_reader(std::fs::File::open(path)?)
    }

    /// The 32 bytes of the digest.
    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The lowercase hex form without the algorithm prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex characters, for human-facing listings.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

/// An incremental SHA-256 that also counts bytes.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    length: u64,
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.length += bytes.len() as u64;
    }

    pub fn length(&self) -> u64 {
        self.length
    }

    pub fn finish(self) -> (Digest, u64) {
        (Digest(self.inner.finalize().into()), self.length)
    }
}

/// Copies `reader` to `writer` in 1 MiB steps, hashing every byte on the way: the one loop
/// behind every streamed copy of the tool, so memory stays flat whatever the size.
pub fn copy_hashing(
    mut reader: impl Read,
    mut writer: impl Write,
) -> std::io::Result<(Digest, u64)> {
    let mut hasher = Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..read]);
        writer.write_all(&buffer[..read])?;
    }
    writer.flush()?;
    Ok(hasher.finish())
}

impl fmt::Display for Digest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_normalizes_case() {
        let hex = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let bare = Digest::parse(hex).unwrap();
        let prefixed = Digest::parse(&format!("sha256:{}", hex.to_lowercase())).unwrap();
        assert_eq!(bare, prefixed);
        assert_eq!(bare, Digest::of_bytes(b""));
        assert_eq!(bare.to_string(), format!("sha256:{}", hex.to_lowercase()));
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            Digest::parse("abc"),
            Err(DigestParseError::Malformed(_))
        ));
        assert!(matches!(
            Digest::parse(&"z".repeat(64)),
            Err(DigestParseError::Malformed(_))
        ));
        assert!(matches!(
            Digest::parse(&format!("md5:{}", "0".repeat(64))),
            Err(DigestParseError::Algorithm(_))
        ));
    }
}
