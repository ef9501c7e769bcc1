//! `airgap serve DIR`: start the read-only server over a media tree.

use std::time::Duration;

use anyhow::Result;

use crate::cli::ServeArgs;
use crate::hint::Hinted;
use crate::serve::{self, ServeSettings};
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &ServeArgs) -> Result<()> {
    if !serve::is_media(&args.dir) {
        return Err(Hinted::new(
            format!(
                "{} is not a media tree (no SHA256SUMS or airgap.lock)",
                args.dir.display()
            ),
            "pass the directory that `airgap materialize --to` wrote, and check it with `airgap verify` first",
        )
        .into());
    }
    let serve_settings = ServeSettings {
        root: args.dir.clone(),
        listen: args.listen.clone(),
        tls: args
            .tls_cert
            .clone()
            .zip(args.tls_key.clone())
            .map(|(certificate, key)| serve::tls::TlsFiles {
                certificate,
                key,
                client_ca: args.client_ca.clone(),
            }),
        access: match &args.htpasswd {
            Some(path) => Some(serve::access::Access::load(path, args.access.as_deref())?),
            None => None,
        },
        max_connections: args.max_connections.max(1),
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        send_timeout: Duration::from_secs(args.send_timeout.max(1)),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        max_header_bytes: 64 * 1024,
        served: crate::kinds::served_roots(),
        log_format: match args.log_format {
            crate::cli::LogFormat::Combined => serve::LogFormat::Combined,
            crate::cli::LogFormat::Common => serve::LogFormat::Common,
            crate::cli::LogFormat::Json => serve::LogFormat::Json,
        },
    };
    let runtime = crate::ops::runtime()?;
    runtime
        .block_on(serve::run(serve_settings, settings.printer.clone()))
        .map_err(Into::into)
}
