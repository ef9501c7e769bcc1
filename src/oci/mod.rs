//! Everything OCI, in one place: image references as Docker reads them, media types and
//! manifest parsing, the image layout on the media, the distribution API client (auth, pull,
//! push), and how upstream names map into an enclave registry.
//!
//! - `reference`: `busybox` is `docker.io/library/busybox:latest`.
//! - `manifest`: media types, descriptors, what a manifest or index names.
//! - `layout`: `DIR/oci/` (`oci-layout`, `index.json`, `blobs/sha256/`).
//! - `registry`: scheme, challenge, credentials, tokens, manifests as raw bytes.
//! - `pull`: references resolved to pins and their manifests and blobs fetched into the store
//!   (images, and OCI charts' layers).
//! - `push`: a media tree's images into an existing registry.
//! - `target`: `HOST[/PREFIX]` and the nested or flat naming that `push` and `render` share.
//!
//! Depends on `digest`, `http`, `store` (through the downloader), `lock` and `manifest` (the
//! image entry and pin); never on `media`, `render` or `serve`.

pub mod layout;
pub mod manifest;
pub mod pin;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod target;
