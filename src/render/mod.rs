//! Rendered configuration that points the enclave at the media, from minijinja templates kept
//! in `templates/` and compiled into the binary (`--templates DIR` overrides them by name):
//! containerd `hosts.toml` for every upstream registry of the lock, apt `.sources` and yum
//! `.repo` files, helm's `repositories.yaml`, `nginx.conf`, a CoreDNS forward stanza, and the
//! Kubespray inventory with its `offline.yml`.
//!
//! What the configuration is rendered from (the URL the nodes use, the hosts, DNS forwards,
//! a private CA) is kept in the tree (`config/airgap-render.toml`, `config/enclave-ca.pem`),
//! so that `airgap render DIR --url ...` can change one input and re-render the rest.
//!
//! Depends on `lock`, `manifest` (host and forward types) and `reference`; `commands` call it.

pub mod kubespray;
pub mod relocate;
pub mod runtimes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use minijinja::{AutoEscape, Environment, context};
use serde::{Deserialize, Serialize};

use crate::kinds::Lockfile;
use crate::kinds::apt::LockedApt;
use crate::kinds::yum::LockedYum;
use crate::manifest::{DnsForward, KubesprayHost};
use crate::media::tree::{CONFIG, KUBESPRAY};
use crate::oci::reference::Reference;

/// The inputs of the rendered configuration, kept in the tree.
pub const INPUTS: &str = "config/airgap-render.toml";
/// The private CA behind the server's TLS, when there is one.
pub const CA: &str = "config/enclave-ca.pem";
/// Where nodes reach the media when `[enclave].url` is not given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// Where the rendered files live in the tree (pruned of what a render no longer writes).
pub const ROOTS: [&str; 2] = [CONFIG, KUBESPRAY];

/// The built-in templates, by the name an override in `--templates DIR` must have.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "containerd/hosts.toml.j2",
        include_str!("../../templates/containerd/hosts.toml.j2"),
    ),
    (
        "nginx/nginx.conf.j2",
        include_str!("../../templates/nginx/nginx.conf.j2"),
    ),
    (
        "nginx/balancer.conf.j2",
        include_str!("../../templates/nginx/balancer.conf.j2"),
    ),
    (
        "containers/registries.conf.j2",
        include_str!("../../templates/containers/registries.conf.j2"),
    ),
    (
        "rancher/registries.yaml.j2",
        include_str!("../../templates/rancher/registries.yaml.j2"),
    ),
    (
        "apt/sources.j2",
        include_str!("../../templates/apt/sources.j2"),
    ),
    (
        "apt/client.conf.j2",
        include_str!("../../templates/apt/client.conf.j2"),
    ),
    (
        "apt/auth.conf.j2",
        include_str!("../../templates/apt/auth.conf.j2"),
    ),
    ("yum/repo.j2", include_str!("../../templates/yum/repo.j2")),
    (
        "git/gitconfig.j2",
        include_str!("../../templates/git/gitconfig.j2"),
    ),
    (
        "helm/repositories.yaml.j2",
        include_str!("../../templates/helm/repositories.yaml.j2"),
    ),
    (
        "coredns/forward.conf.j2",
        include_str!("../../templates/coredns/forward.conf.j2"),
    ),
    (
        "kubespray/inventory.ini.j2",
        include_str!("../../templates/kubespray/inventory.ini.j2"),
    ),
    (
        "kubespray/offline.yml.j2",
        include_str!("../../templates/kubespray/offline.yml.j2"),
    ),
];

/// What the configuration is rendered from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// Where the nodes reach the media (`airgap serve`, or nginx).
    pub url: String,
    #[serde(default, skip_serializing_if = "Kubespray::is_empty")]
    pub kubespray: Kubespray,
    /// The registry the images were pushed into (`airgap push`), which nodes then pull from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<crate::oci::target::Target>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
    /// `host:port` of each `airgap serve` replica behind the rendered nginx load balancer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<String>,
    /// The runtimes whose configuration is written; all of them when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtimes: Vec<runtimes::Runtime>,
    /// What the nodes present to a server that asks (`serve --client-ca`, `--htpasswd`).
    #[serde(default, skip_serializing_if = "Client::is_empty")]
    pub client: Client,
    /// PEM of the private CA behind `url`'s TLS (kept in [`CA`], not in the inputs file).
    #[serde(skip)]
    pub ca: Option<String>,
}

/// `[kubespray]` of the inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubespray {
    #[serde(default)]
    pub host: Vec<KubesprayHost>,
}

impl Kubespray {
    fn is_empty(&self) -> bool {
        self.host.is_empty()
    }
}

/// What the nodes present to a server that asks for it: paths on the node, and the names of
/// the environment variables that hold the credentials. Never a secret itself: the rendered
/// files name the paths, or carry `${VARIABLE}` placeholders the operator fills in on the node
/// (`envsubst`), or Ansible `lookup('env', ...)` for Kubespray.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// The client certificate (PEM) on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// Its private key on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `PREFIX` of the variables `PREFIX_USERNAME` and `PREFIX_PASSWORD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// Where the enclave CA is on the node, for clients that take a path (default
    /// [`NODE_CA`] when the tree has a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_path: Option<String>,
}

/// Where the nodes keep the enclave CA, unless `--ca-on-node` says otherwise.
pub const NODE_CA: &str = "/etc/airgap/enclave-ca.pem";

impl Client {
    fn is_empty(&self) -> bool {
        *self == Client::default()
    }

    /// Checks a path on the node before it goes into configuration files of several syntaxes.
    pub fn node_path(text: &str) -> Result<String, String> {
        if !text.starts_with('/')
            || text.chars().any(|character| {
                character.is_control() || matches!(character, '"' | '\\' | '\'' | '$' | '`')
            })
        {
            return Err(format!(
                "`{}` is not an absolute path on the node without quotes or control characters",
                text.escape_debug()
            ));
        }
        Ok(text.to_string())
    }

    /// Checks the prefix of the credential variables (`AIRGAP` for `AIRGAP_USERNAME`).
    pub fn variable_prefix(text: &str) -> Result<String, String> {
        let valid = text
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_uppercase() || first == '_')
            && text.chars().all(|character| {
                character.is_ascii_uppercase() || character.is_ascii_digit() || character == '_'
            });
        if valid {
            Ok(text.to_string())
        } else {
            Err(format!(
                "`{}` is not an environment variable prefix (A-Z, 0-9, _), e.g. AIRGAP for AIRGAP_USERNAME and AIRGAP_PASSWORD",
                text.escape_debug()
            ))
        }
    }

    /// What the templates see as `client`.
    fn context(&self, ca: bool) -> minijinja::Value {
        let variable = |suffix: &str| {
            self.credentials
                .as_ref()
                .map(|prefix| format!("{prefix}_{suffix}"))
        };
        context! {
            cert => &self.cert,
            key => &self.key,
            credentials => self.credentials.is_some(),
            username_variable => variable("USERNAME"),
            password_variable => variable("PASSWORD"),
            basic_variable => variable("BASIC_AUTH"),
            username => variable("USERNAME").map(|name| format!("${{{name}}}")),
            password => variable("PASSWORD").map(|name| format!("${{{name}}}")),
            basic => variable("BASIC_AUTH").map(|name| format!("${{{name}}}")),
            ca_path => self.ca_path.clone().or_else(|| ca.then(|| NODE_CA.to_string())),
        }
    }
}

/// `[dns]` of the inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    #[serde(default)]
    pub forward: Vec<DnsForward>,
}

impl Dns {
    fn is_empty(&self) -> bool {
        self.forward.is_empty()
    }
}

impl Inputs {
    /// The inputs file's text.
    pub fn to_toml(&self) -> String {
        format!(
            "# What airgap rendered config/ and kubespray/ of this tree from; `airgap render DIR`\n# re-renders them, with --url, --host, --ca to change an input.\n{}",
            toml::to_string(self).unwrap_or_default()
        )
    }

    /// Reads the inputs kept in a tree.
    pub fn read(root: &Path) -> Result<Inputs, RenderError> {
        let path = root.join(INPUTS);
        let text = std::fs::read_to_string(&path).map_err(|error| RenderError {
            template: path.display().to_string(),
            message: format!(
                "{error}; materialize this tree again with a current airgap, or pass --url"
            ),
        })?;
        let mut inputs: Inputs = toml::from_str(&text).map_err(|error| RenderError {
            template: path.display().to_string(),
            message: error.to_string(),
        })?;
        inputs.ca = std::fs::read_to_string(root.join(CA)).ok();
        Ok(inputs)
    }

    /// Whether `runtime`'s configuration is written.
    pub fn renders(&self, runtime: runtimes::Runtime) -> bool {
        self.runtimes.is_empty() || self.runtimes.contains(&runtime)
    }

    /// Where images are pulled from: the pushed-into registry, or `host:port` of the URL.
    pub fn registry_host(&self) -> String {
        if let Some(target) = &self.registry {
            return target.host.clone();
        }
        url::Url::parse(&self.url)
            .ok()
            .and_then(|url| {
                let host = url.host_str()?.to_string();
                Some(match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                })
            })
            .unwrap_or_else(|| self.url.clone())
    }
}

/// Checks a replica's `host:port` (an IP address or a DNS name, and a port) before it goes
/// into nginx's configuration, where any other character could end or add a directive.
pub fn replica_address(text: &str) -> Result<String, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or("has no port (write host:port)")?;
    if port.parse::<u16>().ok().filter(|port| *port > 0).is_none() {
        return Err(format!("has no valid port (`{}`)", port.escape_debug()));
    }
    let bracketed = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'));
    let valid = match bracketed {
        Some(inner) => inner.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        }
    };
    if !valid {
        return Err(
            "is not a host name or IP address with a port (IPv6 in brackets: [fd00::1]:8080)"
                .to_string(),
        );
    }
    Ok(text.to_string())
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot render {template}: {message}")]
pub struct RenderError {
    pub template: String,
    pub message: String,
}

/// The templates in use: the built-in ones, each possibly replaced from `--templates DIR`.
pub struct Templates {
    environment: Environment<'static>,
    origins: BTreeMap<&'static str, String>,
}

impl Templates {
    /// The built-in templates, with those of `overrides` (same relative names) in their place.
    pub fn new(overrides: Option<&Path>) -> Result<Templates, RenderError> {
        let mut environment = Environment::new();
        environment.set_keep_trailing_newline(true);
        environment.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        environment.set_auto_escape_callback(|_| AutoEscape::None);
        let mut origins = BTreeMap::new();
        for (name, source) in TEMPLATES {
            origins.insert(*name, format!("templates/{name} (built in)"));
            environment
                .add_template(name, source)
                .map_err(|error| RenderError {
                    template: format!("templates/{name}"),
                    message: error.to_string(),
                })?;
        }
        if let Some(directory) = overrides {
            if !directory.is_dir() {
                return Err(RenderError {
                    template: directory.display().to_string(),
                    message: "is not a directory; give the directory that holds the templates to override (e.g. kubespray/offline.yml.j2)".to_string(),
                });
            }
            for entry in walkdir::WalkDir::new(directory).into_iter().flatten() {
                if !entry.file_type().is_file() {
                    continue;
                }
                let relative = entry
                    .path()
                    .strip_prefix(directory)
                    .unwrap_or(entry.path())
                    .to_string_lossy()
                    .replace('\\', "/");
                let Some((name, _)) = TEMPLATES.iter().find(|(name, _)| *name == relative) else {
                    return Err(RenderError {
                        template: entry.path().display().to_string(),
                        message: format!(
                            "is not one of airgap's templates; the names are: {}",
                            TEMPLATES
                                .iter()
                                .map(|(name, _)| *name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                };
                let source =
                    std::fs::read_to_string(entry.path()).map_err(|error| RenderError {
                        template: entry.path().display().to_string(),
                        message: error.to_string(),
                    })?;
                environment
                    .add_template_owned(*name, source)
                    .map_err(|error| RenderError {
                        template: entry.path().display().to_string(),
                        message: error.to_string(),
                    })?;
                origins.insert(name, entry.path().display().to_string());
            }
        }
        Ok(Templates {
            environment,
            origins,
        })
    }

    fn render(&self, name: &str, context: minijinja::Value) -> Result<String, RenderError> {
        let origin = self
            .origins
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string());
        let failed = |error: minijinja::Error| {
            let message = crate::http::error_chain(&error);
            RenderError {
                template: origin.clone(),
                message,
            }
        };
        self.environment
            .get_template(name)
            .map_err(failed)?
            .render(context)
            .map_err(failed)
    }
}

/// The rendered files (path below the tree, content) and what the operator should know.
#[derive(Debug, Default)]
pub struct Rendered {
    pub files: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// Renders every configuration file of a tree at `root` from its lock and the inputs.
/// `upstream_keys` are the tree paths of upstream yum keys (for `gpgkey`).
pub fn render(
    lock: &Lockfile,
    inputs: &Inputs,
    root: &Path,
    public_key: &str,
    templates: &Templates,
) -> Result<Rendered, RenderError> {
    let mut rendered = Rendered::default();
    let url = inputs.url.trim_end_matches('/');
    rendered.files.insert(INPUTS.to_string(), inputs.to_toml());
    if let Some(ca) = &inputs.ca {
        rendered.files.insert(CA.to_string(), ca.clone());
    }

    let parsed = url::Url::parse(url).ok();
    let port = parsed
        .as_ref()
        .and_then(url::Url::port_or_known_default)
        .unwrap_or(8080);
    let host_name = parsed
        .as_ref()
        .and_then(|url| url.host_str().map(str::to_string))
        .unwrap_or_default();
    let client = inputs.client.context(inputs.ca.is_some());
    rendered.files.insert(
        format!("{CONFIG}/nginx.conf"),
        templates.render(
            "nginx/nginx.conf.j2",
            context! {
                root => root.to_string_lossy(),
                listen => port,
                prefixes => crate::kinds::served_roots(),
                top_files => [crate::media::sums::SUMS, crate::media::sums::SIGNATURE, crate::media::tree::LOCK],
            },
        )?,
    );

    if !inputs.replicas.is_empty() {
        rendered.files.insert(
            format!("{CONFIG}/nginx/balancer.conf"),
            templates.render(
                "nginx/balancer.conf.j2",
                context! {
                    root => root.to_string_lossy(),
                    listen => port,
                    replicas => &inputs.replicas,
                },
            )?,
        );
    }

    // containerd: a mirror for each upstream registry, and the pull host's own name (so that
    // Kubespray's `registry_host/...` names resolve, over plain HTTP when the URL says so).
    // The mirror is the media's server, or the registry the images were pushed into.
    let registry_host = inputs.registry_host();
    let mut servers: Vec<Mirror> = registries(lock)
        .into_iter()
        .map(|registry| {
            let server = if registry == "docker.io" {
                "https://registry-1.docker.io".to_string()
            } else {
                format!("https://{registry}")
            };
            let (host, override_path) = match &inputs.registry {
                Some(target) => (target.mirror_url(&registry), true),
                None => (url.to_string(), false),
            };
            Mirror {
                registry,
                server,
                host,
                override_path,
            }
        })
        .collect();
    if !lock.images.is_empty()
        && !servers
            .iter()
            .any(|mirror| mirror.registry == registry_host)
    {
        let own = match &inputs.registry {
            Some(target) => format!(
                "{}://{}",
                if target.plain_http { "http" } else { "https" },
                target.host
            ),
            None => url.to_string(),
        };
        servers.push(Mirror {
            registry: registry_host.clone(),
            server: own.clone(),
            host: own,
            override_path: false,
        });
    }
    for mirror in servers
        .iter()
        .filter(|_| inputs.renders(runtimes::Runtime::Containerd))
    {
        let directory = format!(
            "{CONFIG}/containerd/certs.d/{}",
            containerd_directory(&mirror.registry)
        );
        rendered.files.insert(
            format!("{directory}/hosts.toml"),
            templates.render(
                "containerd/hosts.toml.j2",
                context! {
                    registry => &mirror.registry,
                    server => &mirror.server,
                    mirror => &mirror.host,
                    override_path => mirror.override_path,
                    pushed => inputs.registry.is_some(),
                    ca => inputs.ca.as_ref().map(|_| "ca.crt"),
                    client => &client,
                },
            )?,
        );
        if let Some(ca) = &inputs.ca {
            rendered
                .files
                .insert(format!("{directory}/ca.crt"), ca.clone());
        }
    }

    // The other runtimes: the same upstreams, each in its runtime's own terms.
    let pull = runtimes::Pull {
        url,
        host: registry_host.clone(),
        registry: inputs.registry.as_ref(),
    };
    let upstreams: Vec<runtimes::Upstream> = registries(lock)
        .iter()
        .map(|registry| pull.upstream(registry))
        .collect();
    let own = (!lock.images.is_empty()
        && !upstreams
            .iter()
            .any(|upstream| upstream.registry == registry_host))
    .then(|| {
        context! {
            location => &registry_host,
            insecure => pull.insecure(),
        }
    });
    if !upstreams.is_empty() && inputs.renders(runtimes::Runtime::Crio) {
        rendered.files.insert(
            format!("{CONFIG}/containers/registries.conf.d/50-airgap.conf"),
            templates.render(
                "containers/registries.conf.j2",
                context! {
                    upstreams => &upstreams,
                    own => &own,
                    pushed => inputs.registry.is_some(),
                    host => &registry_host,
                    ca => inputs.ca.is_some(),
                    client => &client,
                },
            )?,
        );
        if let Some(ca) = &inputs.ca {
            rendered.files.insert(
                format!("{CONFIG}/containers/certs.d/{registry_host}/ca.crt"),
                ca.clone(),
            );
        }
    }
    for (runtime, product, directory) in [
        (runtimes::Runtime::Rke2, "RKE2", "rke2"),
        (runtimes::Runtime::K3s, "k3s", "k3s"),
    ] {
        if upstreams.is_empty() || !inputs.renders(runtime) {
            continue;
        }
        let mut listed = upstreams.clone();
        if own.is_some() {
            listed.push(runtimes::Upstream {
                registry: registry_host.clone(),
                location: registry_host.clone(),
                endpoint: format!(
                    "{}://{registry_host}",
                    if pull.insecure() { "http" } else { "https" }
                ),
                rewrite: None,
                insecure: pull.insecure(),
            });
        }
        rendered.files.insert(
            format!("{CONFIG}/{directory}/registries.yaml"),
            templates.render(
                "rancher/registries.yaml.j2",
                context! {
                    product => product,
                    directory => directory,
                    upstreams => &listed,
                    pushed => inputs.registry.is_some(),
                    host => &registry_host,
                    ca => inputs.ca.is_some(),
                    client => &client,
                },
            )?,
        );
    }

    let signed_by: Vec<String> = public_key
        .lines()
        .map(|line| {
            if line.is_empty() {
                ".".to_string()
            } else {
                line.to_string()
            }
        })
        .collect();
    for apt in &lock.apts {
        rendered.files.insert(
            format!("{CONFIG}/apt/{}.sources", apt.name),
            templates.render(
                "apt/sources.j2",
                context! { apt => apt_context(apt), url => url, signed_by => &signed_by },
            )?,
        );
    }
    // What apt presents to the server: its certificate, the CA, credentials.
    let https = url.starts_with("https://");
    if !lock.apts.is_empty() && https && (inputs.client.cert.is_some() || inputs.ca.is_some()) {
        rendered.files.insert(
            format!("{CONFIG}/apt/apt.conf.d/80airgap-client.conf"),
            templates.render(
                "apt/client.conf.j2",
                context! { host => &host_name, url => url, client => &client },
            )?,
        );
    }
    if !lock.apts.is_empty() && inputs.client.credentials.is_some() {
        rendered.files.insert(
            format!("{CONFIG}/apt/auth.conf.d/airgap.conf"),
            templates.render(
                "apt/auth.conf.j2",
                // apt uses credentials over plain HTTP only when the entry names the scheme.
                context! { machine => format!("{url}/apt/"), url => url, client => &client },
            )?,
        );
    }
    for yum in &lock.yums {
        rendered.files.insert(
            format!("{CONFIG}/yum/{}.repo", yum.name),
            templates.render(
                "yum/repo.j2",
                context! { yum => yum_context(yum), url => url, client => &client },
            )?,
        );
    }
    if !lock.charts.is_empty() {
        rendered.files.insert(
            format!("{CONFIG}/helm/repositories.yaml"),
            templates.render(
                "helm/repositories.yaml.j2",
                context! { url => url, client => &client },
            )?,
        );
    }
    if !lock.gits.is_empty()
        && (inputs.client.cert.is_some()
            || inputs.client.credentials.is_some()
            || inputs.ca.is_some())
    {
        rendered.files.insert(
            format!("{CONFIG}/git/gitconfig"),
            templates.render(
                "git/gitconfig.j2",
                context! { url => url, client => &client },
            )?,
        );
    }
    // After a push: values overrides that relocate each chart's images.
    if let Some(target) = &inputs.registry {
        for chart in &lock.charts {
            let images: Vec<&crate::oci::pin::LockedImage> = lock
                .images
                .iter()
                .filter(|image| image.chart.as_deref() == Some(chart.name.as_str()))
                .collect();
            if images.is_empty() {
                continue;
            }
            let archive = root.join(crate::kinds::chart::repository::archive_path(chart));
            match relocate::relocate(&archive, &images, target) {
                Ok(relocation) => {
                    let mut text = format!(
                        "# Values for the chart {} {} that point its images at {}, where `airgap push`\n# put them; by digest where the chart has a digest field.\n#   helm install ... -f config/helm/values/{}.yaml\n",
                        chart.name,
                        chart.version,
                        target.name(),
                        chart.name
                    );
                    for reference in &relocation.unplaced {
                        text.push_str(&format!(
                            "# Not placed (named outside values.yaml, or inside a list): {reference}\n"
                        ));
                    }
                    if relocation
                        .values
                        .as_mapping()
                        .is_some_and(|map| !map.is_empty())
                    {
                        text.push_str(&yaml_serde::to_string(&relocation.values).map_err(
                            |error| RenderError {
                                template: format!("{CONFIG}/helm/values/{}.yaml", chart.name),
                                message: error.to_string(),
                            },
                        )?);
                    }
                    rendered
                        .files
                        .insert(format!("{CONFIG}/helm/values/{}.yaml", chart.name), text);
                }
                Err(problem) => rendered.warnings.push(format!(
                    "no values override for the chart {}: {problem}",
                    chart.name
                )),
            }
        }
    }
    // What each kind renders for its own clients (pip's configuration).
    for kind in crate::kinds::ALL {
        rendered.files.extend(kind.client_files(lock, url));
    }
    if !inputs.dns.forward.is_empty() {
        rendered.files.insert(
            format!("{CONFIG}/coredns/forward.conf"),
            templates.render(
                "coredns/forward.conf.j2",
                context! { forwards => &inputs.dns.forward },
            )?,
        );
    }

    // Kubespray: the inventory when there are hosts, offline.yml always (it is what makes a
    // Kubespray checkout use the media).
    let files = kubespray::files(&lock.files);
    rendered.warnings.extend(files.warnings.iter().cloned());
    let hosts = &inputs.kubespray.host;
    let mut groups: Vec<String> = ["kube_control_plane", "etcd", "kube_node"]
        .iter()
        .map(|group| group.to_string())
        .collect();
    for host in hosts {
        for group in &host.groups {
            if !groups.contains(group) {
                groups.push(group.clone());
            }
        }
    }
    let members: Vec<(String, Vec<String>)> = groups
        .iter()
        .map(|group| {
            let names = hosts
                .iter()
                .filter(|host| host.groups.contains(group))
                .map(|host| host.name.clone())
                .collect();
            (group.clone(), names)
        })
        .collect();
    if !hosts.is_empty() {
        for (group, names) in &members[..2] {
            if names.is_empty() {
                rendered.warnings.push(format!(
                    "no [[kubespray.host]] is in the group {group}; Kubespray needs at least one"
                ));
            }
        }
        rendered.files.insert(
            format!("{KUBESPRAY}/inventory/airgap/inventory.ini"),
            templates.render(
                "kubespray/inventory.ini.j2",
                context! { hosts => hosts, groups => &members, url => url },
            )?,
        );
    }
    let image_repos: Vec<(&str, String)> = [
        ("kube_image_repo", "registry.k8s.io"),
        ("gcr_image_repo", "gcr.io"),
        ("docker_image_repo", "docker.io"),
        ("quay_image_repo", "quay.io"),
        ("github_image_repo", "ghcr.io"),
    ]
    .iter()
    .map(|(variable, upstream)| {
        let value = match &inputs.registry {
            None => format!("{{{{ registry_host }}}}/{upstream}"),
            Some(target) => {
                let mut value = String::from("{{ registry_host }}");
                if let Some(prefix) = &target.prefix {
                    value.push('/');
                    value.push_str(prefix);
                }
                if target.layout == crate::oci::target::Layout::Nested {
                    value.push('/');
                    value.push_str(upstream);
                }
                value
            }
        };
        (*variable, value)
    })
    .collect();
    let mirrors: Vec<minijinja::Value> = servers
        .iter()
        .map(|mirror| {
            context! {
                prefix => &mirror.registry,
                server => &mirror.server,
                host => &mirror.host,
                override_path => mirror.override_path,
                ca => inputs.ca.as_ref().map(|_| "/etc/containerd/certs.d/airgap-enclave-ca.crt"),
            }
        })
        .collect();
    let mirrors: Vec<minijinja::Value> = if inputs.renders(runtimes::Runtime::Containerd) {
        mirrors
    } else {
        Vec::new()
    };
    // CRI-O: Kubespray renders one registries.conf drop-in per `crio_registries` item.
    let mut crio: Vec<minijinja::Value> = Vec::new();
    if inputs.renders(runtimes::Runtime::Crio) {
        for upstream in &upstreams {
            crio.push(context! {
                prefix => &upstream.registry,
                location => &upstream.registry,
                insecure => false,
                mirrors => [context! { location => &upstream.location, insecure => upstream.insecure }],
            });
        }
        if own.is_some() {
            crio.push(context! {
                prefix => &registry_host,
                location => &registry_host,
                insecure => pull.insecure(),
                mirrors => Vec::<minijinja::Value>::new(),
            });
        }
    }
    // Kubespray's own way of forwarding zones: CoreDNS and nodelocaldns server blocks.
    let external_zones: Vec<minijinja::Value> = inputs
        .dns
        .forward
        .iter()
        .map(|forward| {
            context! {
                zones => [format!("{}:53", forward.zone)],
                nameservers => &forward.to,
                cache => 30,
            }
        })
        .collect();
    let only_crio =
        inputs.renders(runtimes::Runtime::Crio) && !inputs.renders(runtimes::Runtime::Containerd);
    let os_repos = os_repositories(lock, url);
    rendered.files.insert(
        format!("{KUBESPRAY}/inventory/airgap/group_vars/all/offline.yml"),
        templates.render(
            "kubespray/offline.yml.j2",
            context! {
                url => url,
                files_repo => format!("{url}/files"),
                files_repo_with_credentials => match url.split_once("://") {
                    Some((scheme, rest)) => format!(
                        "{scheme}://{{{{ airgap_username | urlencode }}}}:{{{{ airgap_password | urlencode }}}}@{rest}/files"
                    ),
                    None => format!("{url}/files"),
                },
                registry_host => &registry_host,
                image_repos => image_repos,
                downloads => &files.downloads,
                versions => &files.versions,
                unknown => &files.unknown,
                os_repos => os_repos,
                mirrors => mirrors,
                crio => crio,
                crio_ca_path => format!("/etc/containers/certs.d/{registry_host}/ca.crt"),
                container_manager => only_crio.then_some("crio"),
                external_zones => external_zones,
                ca => inputs.ca.is_some(),
                client => &client,
                registry_auth => inputs.client.credentials.is_some().then_some(&registry_host),
            },
        )?,
    );
    Ok(rendered)
}

/// The upstream registries of the lock's images.
pub fn registries(lock: &Lockfile) -> BTreeSet<String> {
    lock.images
        .iter()
        .filter_map(|image| Reference::parse(&image.reference).ok())
        .map(|reference| reference.registry)
        .collect()
}

/// One `hosts.toml`: pulls from `registry` go to `host` (with `override_path`, `host` is the
/// whole API path, as a registry holding several upstreams under prefixes needs).
struct Mirror {
    registry: String,
    server: String,
    host: String,
    override_path: bool,
}

/// containerd's directory name for a registry: `host:port` is looked up as `host_port_` first,
/// a name that FAT and exFAT media can hold.
fn containerd_directory(registry: &str) -> String {
    match registry.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => format!("{host}_{port}_"),
        _ => registry.to_string(),
    }
}

fn apt_context(apt: &LockedApt) -> minijinja::Value {
    context! {
        name => &apt.name,
        upstream => &apt.url,
        suite => apt.media_suite(),
        components => apt.media_components(),
        architectures => &apt.architectures,
    }
}

fn yum_context(yum: &LockedYum) -> minijinja::Value {
    context! {
        name => &yum.name,
        upstream => &yum.url,
        upstream_key => yum.gpgkey.as_ref().map(|_| crate::kinds::yum::repository::upstream_key_path(yum)),
        gpgcheck => yum.gpgcheck && yum.gpgkey.is_some(),
    }
}

/// Kubespray's OS repository variables for the lock's apt and yum repositories: the bases
/// (`debian_repo`, `ubuntu_repo`, `yum_repo`) and, for Docker's repositories (which also
/// carry containerd.io), the variables its container engine roles read.
fn os_repositories(lock: &Lockfile, url: &str) -> Vec<(String, String)> {
    let mut variables: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: String| {
        if !variables.iter().any(|(known, _)| known == name) {
            variables.push((name.to_string(), value));
        }
    };
    for apt in &lock.apts {
        let distribution = if apt.url.contains("ubuntu") {
            "ubuntu"
        } else {
            "debian"
        };
        set(&format!("{distribution}_repo"), format!("{url}/apt"));
        if apt.url.contains("download.docker.com") {
            let base = format!("{url}/apt/{}", apt.name);
            let key = format!("{url}/keys/airgap.asc");
            set(
                &format!("docker_{distribution}_repo_base_url"),
                base.clone(),
            );
            set(&format!("docker_{distribution}_repo_gpgkey"), key.clone());
            set(&format!("containerd_{distribution}_repo_base_url"), base);
            set(&format!("containerd_{distribution}_repo_gpgkey"), key);
        }
    }
    for yum in &lock.yums {
        set("yum_repo", format!("{url}/yum"));
        if yum.url.contains("download.docker.com") {
            let base = format!("{url}/yum/{}", yum.name);
            let key = match &yum.gpgkey {
                Some(_) => format!(
                    "{url}/{}",
                    crate::kinds::yum::repository::upstream_key_path(yum)
                ),
                None => format!("{url}/keys/airgap.asc"),
            };
            let family = if yum.url.contains("fedora") {
                "fedora"
            } else {
                "rh"
            };
            set(&format!("docker_{family}_repo_base_url"), base.clone());
            set(&format!("docker_{family}_repo_gpgkey"), key.clone());
            if family == "fedora" {
                set("containerd_fedora_repo_base_url", base);
                set("containerd_fedora_repo_gpgkey", key);
            }
        }
    }
    variables
}
