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

/// The limit of a fetch whose size is pinned: the size itself. The transfer is refused one
/// byte past it.
pub fn pinned(size: u64) -> u64 {
    size
}
