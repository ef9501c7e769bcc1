//! Where images go in an enclave registry, and how upstream names map into it: the
//! `--registry HOST[/PREFIX]` of `push` and `render`, nested or flat.

use crate::oci::reference::Reference;

/// How upstream names map into the target registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `HOST/PREFIX/<upstream registry>/<path>`: every upstream keeps its own namespace.
    #[default]
    Nested,
    /// `HOST/PREFIX/<path>`: Kubespray's `*_image_repo: "{{ registry_host }}"` names.
    Flat,
}

/// Where images go: `[http://]HOST[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default)]
    pub layout: Layout,
    /// Plain HTTP (`http://` given); otherwise HTTPS, or plain HTTP for a loopback registry
    /// that does not speak TLS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain_http: bool,
}

/// Why a `--registry` value is not `HOST[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not HOST[/PREFIX] (e.g. harbor.enclave.internal/mirror); a prefix is lowercase path components"
)]
pub struct TargetError(pub String);

impl Target {
    pub fn parse(text: &str, layout: Layout) -> Result<Target, TargetError> {
        let (plain_http, rest) = match text.strip_prefix("http://") {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix("https://").unwrap_or(text)),
        };
        let rest = rest.trim_end_matches('/');
        let (host, prefix) = match rest.split_once('/') {
            Some((host, prefix)) => (host, Some(prefix.to_string())),
            None => (rest, None),
        };
        let valid_host = !host.is_empty()
            && host.chars().all(|character| {
                character.is_ascii_alphanumeric()
                    || matches!(character, '.' | '-' | ':' | '[' | ']')
            });
        let valid_prefix = prefix.as_ref().is_none_or(|prefix| {
            prefix.split('/').all(|part| {
                !part.is_empty()
                    && part.chars().all(|character| {
                        character.is_ascii_lowercase()
                            || character.is_ascii_digit()
                            || matches!(character, '.' | '-' | '_')
                    })
            })
        });
        if !valid_host || !valid_prefix {
            return Err(TargetError(text.to_string()));
        }
        Ok(Target {
            host: host.to_string(),
            prefix,
            layout,
            plain_http,
        })
    }

    /// `HOST[/PREFIX]`, as image names start.
    pub fn name(&self) -> String {
        match &self.prefix {
            Some(prefix) => format!("{}/{prefix}", self.host),
            None => self.host.clone(),
        }
    }

    /// The repository (below the host) that an upstream repository goes to.
    pub fn repository(&self, upstream: &Reference) -> String {
        let path = match self.layout {
            Layout::Nested => format!(
                "{}/{}",
                path_component(&upstream.registry),
                upstream.repository
            ),
            Layout::Flat => upstream.repository.clone(),
        };
        match &self.prefix {
            Some(prefix) => format!("{prefix}/{path}"),
            None => path,
        }
    }

    /// The base URL containerd's `hosts.toml` uses for an upstream registry's images
    /// (`override_path = true`): `https://HOST/v2/PREFIX[/<registry>]`.
    pub fn mirror_url(&self, registry: &str) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        let mut path = String::from("/v2");
        if let Some(prefix) = &self.prefix {
            path.push('/');
            path.push_str(prefix);
        }
        if self.layout == Layout::Nested {
            path.push('/');
            path.push_str(&path_component(registry));
        }
        format!("{scheme}://{}{path}", self.host)
    }
}

/// A registry host as a repository path component (`host:5000` is `host_5000`: a name
/// component cannot hold `:`).
pub fn path_component(registry: &str) -> String {
    registry.to_ascii_lowercase().replace(':', "_")
}
