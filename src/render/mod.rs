//! Rendered configuration that points the enclave at the media, from minijinja templates kept
//! in `templates/` and compiled into the binary. So far: containerd `hosts.toml` for every
//! upstream registry in the lock.
//!
//! Depends on `lock` and `reference`; `media` and `commands` call it.

use std::collections::BTreeSet;

use minijinja::{Environment, context};

use crate::lock::Lockfile;
use crate::reference::Reference;

const CONTAINERD_HOSTS: &str = include_str!("../../templates/containerd/hosts.toml.j2");
const NGINX: &str = include_str!("../../templates/nginx/nginx.conf.j2");

/// `config/nginx.conf`: nginx serving the static parts of the tree at `root`, listening where
/// `[enclave].url` says (its port; 80 or 443 by scheme otherwise).
pub fn nginx_conf(root: &std::path::Path, enclave_url: &str) -> Result<String, RenderError> {
    let port = url::Url::parse(enclave_url)
        .ok()
        .and_then(|url| url.port_or_known_default())
        .unwrap_or(8080);
    let mut environment = Environment::new();
    environment.set_keep_trailing_newline(true);
    let failed = |error: minijinja::Error| RenderError {
        template: "templates/nginx/nginx.conf.j2".to_string(),
        message: error.to_string(),
    };
    environment
        .add_template("nginx.conf", NGINX)
        .map_err(failed)?;
    environment
        .get_template("nginx.conf")
        .map_err(failed)?
        .render(context! {
            root => root.to_string_lossy(),
            listen => port,
            prefixes => ["files", "apt", "yum", "charts", "git", "keys", "config"],
        })
        .map_err(failed)
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot render {template}: {message}")]
pub struct RenderError {
    pub template: String,
    pub message: String,
}

/// The upstream registries of the lock's images.
pub fn registries(lock: &Lockfile) -> BTreeSet<String> {
    lock.images
        .iter()
        .filter_map(|image| Reference::parse(&image.reference).ok())
        .map(|reference| reference.registry)
        .collect()
}

/// `config/containerd/certs.d/<registry>/hosts.toml` for every upstream registry: the path
/// below the tree and the content. `mirror` is where nodes reach `airgap serve`.
pub fn containerd_hosts(
    lock: &Lockfile,
    mirror: &str,
) -> Result<Vec<(String, String)>, RenderError> {
    let mut environment = Environment::new();
    environment.set_keep_trailing_newline(true);
    environment
        .add_template("hosts.toml", CONTAINERD_HOSTS)
        .map_err(|error| RenderError {
            template: "templates/containerd/hosts.toml.j2".to_string(),
            message: error.to_string(),
        })?;
    let template = environment
        .get_template("hosts.toml")
        .map_err(|error| RenderError {
            template: "templates/containerd/hosts.toml.j2".to_string(),
            message: error.to_string(),
        })?;
    let mut files = Vec::new();
    for registry in registries(lock) {
        let server = if registry == "docker.io" {
            "https://registry-1.docker.io".to_string()
        } else {
            format!("https://{registry}")
        };
        let text = template
            .render(context! { registry => &registry, server => server, mirror => mirror, ca => Option::<String>::None })
            .map_err(|error| RenderError {
                template: "templates/containerd/hosts.toml.j2".to_string(),
                message: error.to_string(),
            })?;
        files.push((
            format!("config/containerd/certs.d/{registry}/hosts.toml"),
            text,
        ));
    }
    Ok(files)
}
