//! The work behind each command, one module per piece of it: commands parse their arguments
//! and call one function here (as cargo's `commands/fetch.rs` calls `ops::fetch`).
//!
//! - `lock`: bring airgap.lock in line with the manifests (also materialize's first step).
//! - `materialize`: fetch, place and describe every kind's pins on the media, then sign.
//! - `render`: the configuration of a tree, rendered into it or beside it.
//! - `push`: a tree's images into an enclave registry.
//! - `verify`: a tree checked offline, with or without the trusted key.
//!
//! Depends on every stage below (`kinds`, `lock`, `media`, `render`, `oci`, `serve`) and on
//! `settings`; never on `commands`.

pub mod apply;
pub mod cache;
pub mod lock;
pub mod materialize;
pub mod policy;
pub mod push;
pub mod render;
pub mod verify;

use anyhow::{Context, Result};

use crate::settings::Settings;
use crate::source::Downloader;

/// The downloader for this invocation's settings.
pub fn downloader(settings: &Settings) -> Result<Downloader> {
    let store = crate::store::Store::open(&settings.cache)
        .with_context(|| format!("cannot open the cache at {}", settings.cache.display()))?;
    let client = crate::http::client(&settings.http)?;
    let workspace = std::path::absolute(&settings.workspace).with_context(|| {
        format!(
            "cannot resolve the workspace {}",
            settings.workspace.display()
        )
    })?;
    Ok(Downloader {
        client,
        store,
        printer: settings.printer.clone(),
        retry: settings.retry,
        pace: settings.pace,
        workspace,
        verified: Default::default(),
    })
}

/// The registry client for this invocation's settings, over `client`.
pub fn registry(settings: &Settings, client: reqwest::Client) -> crate::oci::registry::Registry {
    crate::oci::registry::Registry::new(
        client,
        settings.printer.clone(),
        settings.retry,
        settings.pace,
    )
}

/// The async runtime for network work.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
