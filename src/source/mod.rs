//! Sources: one module per artifact kind. Each resolves a manifest entry into a lock pin (at
//! `lock` time) and makes a pin's bytes available in the store (at `materialize` time).
//! All transfers go through [`download::Downloader`], and through it through `http`.
//!
//! Depends on `manifest`, `lock`, `store`, `http`; kinds never import each other.

pub mod apt;
pub mod charts;
pub mod checksum;
pub mod download;
pub mod files;
pub mod git;
pub mod yum;

pub use download::{Downloader, FetchError, Fetched};
