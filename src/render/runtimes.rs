//! The container runtimes' own mirror configuration, from the same list of upstream registries:
//! containerd's `hosts.toml` (in `mod.rs`, with Kubespray's variables), containers-registries.conf
//! for CRI-O, podman, buildah and skopeo, and `registries.yaml` for RKE2 and k3s. Each says, per
//! upstream registry of the lock, where pulls by the original names go: `airgap serve` (which
//! tells the upstreams apart by a path prefix or containerd's `?ns=`), or the registry the
//! images were pushed into after `render --registry`.

use serde::{Deserialize, Serialize};

use crate::oci::target::{Layout, Target, path_component};

/// A runtime whose configuration `render` writes (`--runtime`; all when none is chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// `config/containerd/certs.d/*/hosts.toml`, Kubespray's `containerd_registries_mirrors`.
    Containerd,
    /// `config/containers/`, Kubespray's `crio_registries` (also podman, buildah, skopeo).
    Crio,
    /// `config/rke2/registries.yaml`.
    Rke2,
    /// `config/k3s/registries.yaml`.
    K3s,
}

impl Runtime {
    pub const ALL: [Runtime; 4] = [
        Runtime::Containerd,
        Runtime::Crio,
        Runtime::Rke2,
        Runtime::K3s,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::Crio => "crio",
            Runtime::Rke2 => "rke2",
            Runtime::K3s => "k3s",
        }
    }

    /// Parses `containerd,crio,...` (repeatable flags are joined before).
    pub fn parse_list(text: &str) -> Result<Vec<Runtime>, String> {
        let mut chosen = Vec::new();
        for name in text
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let runtime = Runtime::ALL
                .into_iter()
                .find(|runtime| {
                    runtime.name() == name || (name == "cri-o" && *runtime == Runtime::Crio)
                })
                .ok_or_else(|| {
                    format!(
                        "`{}` is not a runtime airgap configures; choose among {}",
                        name.escape_debug(),
                        Runtime::ALL.map(Runtime::name).join(", ")
                    )
                })?;
            if !chosen.contains(&runtime) {
                chosen.push(runtime);
            }
        }
        chosen.sort();
        Ok(chosen)
    }
}

/// Where pulls of one upstream registry go, in the forms the runtimes write it.
#[derive(Debug, Clone, Serialize)]
pub struct Upstream {
    /// The upstream registry (`registry.k8s.io`, `docker.io`, `host:5000`).
    pub registry: String,
    /// containers-registries.conf `location` of the mirror: `HOST:PORT/<registry>` for
    /// `airgap serve`, `HOST/PREFIX[/<registry>]` for a pushed-into registry.
    pub location: String,
    /// RKE2/k3s `endpoint`: the mirror's URL (scheme and host only).
    pub endpoint: String,
    /// RKE2/k3s `rewrite` of the repository, when the pushed names need a prefix.
    pub rewrite: Option<String>,
    /// Plain HTTP to the mirror.
    pub insecure: bool,
}

/// Where the nodes pull from: `airgap serve` at `url`, or `registry` after a push.
pub struct Pull<'a> {
    pub url: &'a str,
    /// `host:port` of the URL (or the pushed registry's host).
    pub host: String,
    pub registry: Option<&'a Target>,
}

impl Pull<'_> {
    /// Plain HTTP to where the nodes pull from.
    pub fn insecure(&self) -> bool {
        match self.registry {
            Some(target) => target.plain_http,
            None => self.url.starts_with("http://"),
        }
    }

    /// The mirror of one upstream registry.
    pub fn upstream(&self, registry: &str) -> Upstream {
        let insecure = self.insecure();
        let scheme = if insecure { "http" } else { "https" };
        match self.registry {
            None => Upstream {
                registry: registry.to_string(),
                location: format!("{}/{}", self.host, path_component(registry)),
                endpoint: format!("{scheme}://{}", self.host),
                rewrite: None,
                insecure,
            },
            Some(target) => {
                let mut path = target.prefix.clone().unwrap_or_default();
                if target.layout == Layout::Nested {
                    if !path.is_empty() {
                        path.push('/');
                    }
                    path.push_str(&path_component(registry));
                }
                Upstream {
                    registry: registry.to_string(),
                    location: if path.is_empty() {
                        target.host.clone()
                    } else {
                        format!("{}/{path}", target.host)
                    },
                    endpoint: format!("{scheme}://{}", target.host),
                    rewrite: (!path.is_empty()).then(|| format!("{path}/$1")),
                    insecure,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_parse_and_refuse_unknown_names() {
        assert_eq!(
            Runtime::parse_list("rke2, containerd,cri-o,crio").unwrap(),
            vec![Runtime::Containerd, Runtime::Crio, Runtime::Rke2]
        );
        assert!(
            Runtime::parse_list("docker")
                .unwrap_err()
                .contains("containerd, crio, rke2, k3s")
        );
    }

    #[test]
    fn mirrors_of_serve_and_of_a_pushed_registry() {
        let served = Pull {
            url: "http://mirror.enclave:8080",
            host: "mirror.enclave:8080".to_string(),
            registry: None,
        };
        let upstream = served.upstream("registry.k8s.io");
        assert_eq!(upstream.location, "mirror.enclave:8080/registry.k8s.io");
        assert_eq!(upstream.endpoint, "http://mirror.enclave:8080");
        assert!(upstream.insecure && upstream.rewrite.is_none());
        assert_eq!(
            served.upstream("host:5000").location,
            "mirror.enclave:8080/host_5000"
        );

        let nested = Target::parse("harbor.enclave/mirror", Layout::Nested).unwrap();
        let pushed = Pull {
            url: "http://mirror.enclave:8080",
            host: "harbor.enclave".to_string(),
            registry: Some(&nested),
        };
        let upstream = pushed.upstream("docker.io");
        assert_eq!(upstream.location, "harbor.enclave/mirror/docker.io");
        assert_eq!(upstream.endpoint, "https://harbor.enclave");
        assert_eq!(upstream.rewrite.as_deref(), Some("mirror/docker.io/$1"));
        assert!(!upstream.insecure);

        let flat = Target::parse("http://harbor.enclave", Layout::Flat).unwrap();
        let pushed = Pull {
            url: "http://mirror.enclave:8080",
            host: "harbor.enclave".to_string(),
            registry: Some(&flat),
        };
        let upstream = pushed.upstream("quay.io");
        assert_eq!(upstream.location, "harbor.enclave");
        assert!(upstream.rewrite.is_none() && upstream.insecure);
    }
}
