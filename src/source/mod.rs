//! The transfer seam that every kind fetches through: [`download::Downloader`] streams bytes
//! over `http` (or from the workspace) into the store, hashing them as they arrive, resuming
//! after a drop, and retrying by the one retry policy.
//!
//! Depends on `http`, `store`, `digest`, `printer`, `manifest` (locations); never on a kind,
//! `media`, `render` or `serve`.

pub mod download;

pub use download::{Downloader, FetchError, Fetched};
