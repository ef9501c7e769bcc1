//! Reading `manifests/*.toml`: parse each file with spans, merge in name order, validate.
//! The tables that are not artifacts (`[enclave]`, `[kubespray]`, `[dns]`) are read here;
//! every kind reads its own table through [`Tables`] (the list of kinds implements it), with
//! the [`Loader`] for diagnostics, defaults and uniqueness.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::{RawDns, RawEnclave, RawKubespray, RawPolicy};
use super::validate::{is_identifier, is_inventory_name, is_platform};
use super::{Diagnostic, DnsForward, Enclave, KubesprayHost, ManifestError, Origin, Policy};

/// The artifact tables of one manifest file.
pub trait Tables: serde::de::DeserializeOwned {
    /// Every kind's validated entries, gathered over all files.
    type Entries: Default;
    /// `[enclave]`, read before any entry (its platforms are the entries' default).
    fn take_enclave(&mut self) -> Option<Spanned<RawEnclave>>;
    /// `[kubespray]` and `[dns]`.
    fn take_rendering(&mut self) -> (Option<Spanned<RawKubespray>>, Option<Spanned<RawDns>>);
    /// `[[policy]]`.
    fn take_policies(&mut self) -> Vec<Spanned<RawPolicy>>;
    /// Validates every entry of this file into `entries`.
    fn add_entries(self, loader: &mut Loader, context: &Context, entries: &mut Self::Entries);
}

/// What the manifests say, validated: the shared tables and every kind's entries.
pub struct Loaded<Entries> {
    pub enclave: Enclave,
    pub kubespray_hosts: Vec<KubesprayHost>,
    pub dns_forwards: Vec<DnsForward>,
    pub policies: Vec<Policy>,
    pub entries: Entries,
}

/// Loads and validates every `*.toml` in `workspace/manifests`, in name order: `[enclave]`
/// first (its defaults apply whichever file it is in), then each file's tables, every kind's
/// entries through `T` (the list of kinds). Every problem of every file is reported at once.
pub fn load<T: Tables>(workspace: &Path) -> Result<Loaded<T::Entries>, ManifestError> {
    let sources = read_sources(workspace)?;
    load_sources::<T>(workspace, &sources)
}

/// The manifest files of `workspace`, in name order: each path as messages show it (relative
/// to the workspace) and its text.
pub fn read_sources(workspace: &Path) -> Result<Vec<(PathBuf, String)>, ManifestError> {
    let directory = workspace.join("manifests");
    let mut paths = Vec::new();
    let entries = std::fs::read_dir(&directory).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ManifestError::NoWorkspace {
                workspace: std::path::absolute(workspace).unwrap_or(workspace.to_path_buf()),
            }
        } else {
            ManifestError::Read {
                path: directory.clone(),
                cause: source,
            }
        }
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ManifestError::Read {
            path: directory.clone(),
            cause: source,
        })?;
        let path = entry.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "toml")
            && path.is_file()
        {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(ManifestError::Empty { dir: directory });
    }
    let mut sources = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            cause: source,
        })?;
        // Messages name the file relative to the workspace, as the user wrote it.
        let shown = path
            .strip_prefix(workspace)
            .map(Path::to_path_buf)
            .unwrap_or(path);
        sources.push((shown, text));
    }
    Ok(sources)
}

/// Validates manifest texts already read (see [`read_sources`]); `workspace` is where
/// relative paths in them point.
pub fn load_sources<T: Tables>(
    workspace: &Path,
    sources: &[(PathBuf, String)],
) -> Result<Loaded<T::Entries>, ManifestError> {
    let mut loader = Loader {
        workspace: workspace.to_path_buf(),
        ..Loader::default()
    };
    let mut entries = T::Entries::default();
    // Two passes: `[enclave]` first, so its defaults apply whichever file it is in.
    let mut parsed = Vec::new();
    for (path, text) in sources {
        if let Some(raw) = loader.parse::<T>(path, text) {
            parsed.push((path, text, raw));
        }
    }
    for (path, text, raw) in &mut parsed {
        let lines = line_starts(text);
        loader.add_enclave(
            &Context {
                file: path,
                text,
                lines: &lines,
            },
            raw.take_enclave(),
        );
    }
    for (path, text, mut raw) in parsed {
        let lines = line_starts(text);
        let context = Context {
            file: path,
            text,
            lines: &lines,
        };
        let (kubespray, dns) = raw.take_rendering();
        if let Some(kubespray) = kubespray {
            loader.add_kubespray(&context, kubespray);
        }
        if let Some(dns) = dns {
            loader.add_dns(&context, dns.into_inner());
        }
        for policy in raw.take_policies() {
            loader.add_policy(&context, policy);
        }
        raw.add_entries(&mut loader, &context, &mut entries);
    }
    if !loader.diagnostics.is_empty() {
        return Err(ManifestError::Invalid(loader.diagnostics));
    }
    Ok(Loaded {
        enclave: loader
            .enclave
            .map(|(enclave, _)| enclave)
            .unwrap_or_default(),
        kubespray_hosts: loader.kubespray_hosts,
        dns_forwards: loader.dns_forwards,
        policies: loader.policies,
        entries,
    })
}

/// A place in one of the loaded files.
#[derive(Clone)]
pub struct Place {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}:{}:{}",
            self.file.display(),
            self.line,
            self.column
        )
    }
}

/// The state of a load: what was found wrong, the shared tables, and the first claim of
/// every unique name.
#[derive(Default)]
pub struct Loader {
    workspace: PathBuf,
    /// Every problem found so far, reported together.
    pub diagnostics: Vec<Diagnostic>,
    enclave: Option<(Enclave, Place)>,
    kubespray: Option<Place>,
    kubespray_hosts: Vec<KubesprayHost>,
    dns_forwards: Vec<DnsForward>,
    policies: Vec<Policy>,
    /// `(space, key)` to the owner and place of its first claim.
    claims: BTreeMap<(&'static str, String), (String, Place)>,
}

impl Loader {
    /// Parses one file. An unknown key does not hide the file's other problems: it is reported,
    /// blanked out (spaces, so every position stays where it was) and the file parsed again,
    /// up to a bound; what the rest says is then validated as usual.
    fn parse<T: Tables>(&mut self, file: &Path, text: &str) -> Option<T> {
        let mut working = text.to_string();
        let mut unknown = 0;
        loop {
            let error = match toml::from_str(&working) {
                Ok(raw) => return Some(raw),
                Err(error) => error,
            };
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim().to_string();
            let is_unknown = message.starts_with("unknown field");
            if unknown > 0 && !is_unknown {
                // What blanking a key left may not parse (a value over several lines): the
                // unknown keys found so far are the report.
                return None;
            }
            let hint = if is_unknown {
                "check the spelling; docs/manifests.md lists every key, and `airgap init` writes a commented example of every kind"
            } else if message.starts_with("missing field") {
                "add the missing key to this entry"
            } else {
                "fix the TOML at this position"
            };
            self.diagnostics
                .push(Diagnostic::new(file, text, span.clone(), message).with_hint(hint));
            if !is_unknown || unknown >= 32 || span.is_empty() {
                return None;
            }
            unknown += 1;
            let end = working[span.start..]
                .find('\n')
                .map_or(working.len(), |offset| span.start + offset);
            let blank = " ".repeat(end - span.start);
            working.replace_range(span.start..end, &blank);
        }
    }

    fn add_enclave(&mut self, context: &Context, enclave: Option<Spanned<RawEnclave>>) {
        if let Some(enclave) = enclave {
            let place = context.place(enclave.span());
            if let Some((_, first)) = &self.enclave {
                let first = format!("{}:{}:{}", first.file.display(), first.line, first.column);
                self.diagnostics.push(
                    context
                        .error(enclave.span(), "`[enclave]` is defined twice")
                        .with_hint(format!("it is first defined at {first}; keep one `[enclave]` across all manifests")),
                );
            } else {
                let enclave = enclave.into_inner();
                let mut resolved = Enclave::default();
                if let Some(url) = enclave.url {
                    match url::Url::parse(url.get_ref()) {
                        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some() => {
                            resolved.url = Some(url.get_ref().trim_end_matches('/').to_string())
                        }
                        _ => self.diagnostics.push(
                            context
                                .error(url.span(), format!("`{}` is not an http(s) URL", url.get_ref()))
                                .with_hint("write where the nodes reach `airgap serve`, e.g. \"https://mirror.enclave.internal:8443\""),
                        ),
                    }
                }
                if let Some(ca) = enclave.ca {
                    let pem = std::fs::read_to_string(self.workspace.join(ca.get_ref())).ok();
                    match pem {
                        Some(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => resolved.ca = Some(ca.get_ref().clone()),
                        Some(_) => self.diagnostics.push(
                            context
                                .error(ca.span(), format!("`{}` holds no PEM certificate", ca.get_ref()))
                                .with_hint("give the CA certificate (-----BEGIN CERTIFICATE-----) that signs the server's TLS certificate"),
                        ),
                        None => self.diagnostics.push(
                            context
                                .error(ca.span(), format!("cannot read `{}`", ca.get_ref()))
                                .with_hint("give a path relative to the workspace (the directory that holds manifests/)"),
                        ),
                    }
                }
                for replica in enclave.replicas.unwrap_or_default() {
                    match crate::render::replica_address(replica.get_ref()) {
                        Ok(address) => resolved.replicas.push(address),
                        Err(problem) => self.diagnostics.push(
                            context
                                .error(replica.span(), format!("replica `{}` {problem}", replica.get_ref().escape_debug()))
                                .with_hint("write where the load balancer reaches each `airgap serve`, e.g. \"10.0.0.11:8080\""),
                        ),
                    }
                }
                if let Some(platforms) = enclave.platforms {
                    let span = platforms.span();
                    let platforms = platforms.into_inner();
                    if platforms.is_empty() {
                        self.diagnostics.push(
                            context
                                .error(span, "`platforms` is empty")
                                .with_hint("list at least one platform, e.g. [\"linux/amd64\"]"),
                        );
                    }
                    let mut list = Vec::new();
                    for platform in platforms {
                        if !is_platform(platform.get_ref()) {
                            self.diagnostics.push(
                                context
                                    .error(platform.span(), format!("`{}` is not a platform", platform.get_ref()))
                                    .with_hint("write os/arch[/variant], e.g. \"linux/amd64\" or \"linux/arm64\""),
                            );
                        } else {
                            list.push(platform.into_inner());
                        }
                    }
                    if !list.is_empty() {
                        resolved.platforms = list;
                    }
                }
                self.enclave = Some((resolved, place));
            }
        }
    }

    fn add_kubespray(&mut self, context: &Context, kubespray: Spanned<RawKubespray>) {
        let place = context.place(kubespray.span());
        if let Some(first) = &self.kubespray {
            let first = format!("{}:{}:{}", first.file.display(), first.line, first.column);
            self.diagnostics.push(
                context
                    .error(kubespray.span(), "`[kubespray]` is defined twice")
                    .with_hint(format!("it is first defined at {first}; keep one `[kubespray]` across all manifests")),
            );
            return;
        }
        self.kubespray = Some(place);
        for host in kubespray.into_inner().host {
            let host = host.into_inner();
            let name = host.name.get_ref().clone();
            if !is_inventory_name(&name) {
                self.diagnostics.push(
                    context
                        .error(
                            host.name.span(),
                            format!("`{name}` is not a usable inventory host name"),
                        )
                        .with_hint("use letters, digits, `-`, `_` and `.`, e.g. \"cp1\""),
                );
            }
            if self.kubespray_hosts.iter().any(|known| known.name == name) {
                self.diagnostics.push(
                    context
                        .error(host.name.span(), format!("host `{name}` is listed twice"))
                        .with_hint("list each host once, with all its groups"),
                );
            }
            for address in std::iter::once(&host.address).chain(host.ip.as_ref()) {
                let text = address.get_ref();
                if text.is_empty()
                    || text.contains(char::is_whitespace)
                    || text.contains(['"', '\'', '='])
                {
                    self.diagnostics.push(
                        context
                            .error(address.span(), format!("`{text}` is not an address"))
                            .with_hint("give an IP address or a DNS name, e.g. \"10.0.0.11\""),
                    );
                }
            }
            let groups_span = host.groups.span();
            let groups: Vec<String> = host.groups.into_inner().into_iter().map(|group| {
                if !is_identifier(group.get_ref()) {
                    self.diagnostics.push(
                        context
                            .error(group.span(), format!("`{}` is not an Ansible group name", group.get_ref()))
                            .with_hint("Kubespray's groups are kube_control_plane, etcd, kube_node (and calico_rr)"),
                    );
                }
                group.into_inner()
            }).collect();
            if groups.is_empty() {
                self.diagnostics.push(
                    context
                        .error(groups_span, format!("host `{name}` has no groups"))
                        .with_hint("give Kubespray groups, e.g. [\"kube_control_plane\", \"etcd\", \"kube_node\"]"),
                );
            }
            self.kubespray_hosts.push(KubesprayHost {
                name,
                address: host.address.into_inner(),
                ip: host.ip.map(Spanned::into_inner),
                groups,
            });
        }
    }

    fn add_dns(&mut self, context: &Context, dns: RawDns) {
        for forward in dns.forward {
            let forward = forward.into_inner();
            let zone = forward.zone.get_ref().trim_end_matches('.').to_string();
            let zone_ok = zone == "."
                || (!zone.is_empty()
                    && zone.split('.').all(|label| {
                        !label.is_empty()
                            && label.chars().all(|character| {
                                character.is_ascii_alphanumeric()
                                    || character == '-'
                                    || character == '_'
                            })
                    }));
            if !zone_ok {
                self.diagnostics.push(
                    context
                        .error(
                            forward.zone.span(),
                            format!("`{}` is not a DNS zone", forward.zone.get_ref()),
                        )
                        .with_hint("write a domain, e.g. \"corp.example.com\""),
                );
            }
            let to_span = forward.to.span();
            let mut to = Vec::new();
            for resolver in forward.to.into_inner() {
                let text = resolver.get_ref();
                let address = text.strip_prefix("tls://").unwrap_or(text);
                let valid = address.parse::<std::net::IpAddr>().is_ok()
                    || address.parse::<std::net::SocketAddr>().is_ok();
                if valid {
                    to.push(text.clone());
                } else {
                    self.diagnostics.push(
                        context
                            .error(resolver.span(), format!("`{text}` is not a resolver address"))
                            .with_hint("give an IP address, optionally with a port, e.g. \"10.0.0.53\" or \"10.0.0.53:5353\""),
                    );
                }
            }
            if to.is_empty() && zone_ok {
                self.diagnostics.push(
                    context
                        .error(to_span, format!("`{zone}` forwards to no resolver"))
                        .with_hint("list at least one resolver, e.g. to = [\"10.0.0.53\"]"),
                );
            }
            self.dns_forwards.push(DnsForward { zone, to });
        }
    }

    fn add_policy(&mut self, context: &Context, policy: Spanned<RawPolicy>) {
        let span = policy.span();
        let policy = policy.into_inner();
        let name = policy.name.get_ref().clone();
        if !super::validate::is_name(&name) {
            self.diagnostics.push(
                context
                    .error(
                        policy.name.span(),
                        format!("`{name}` is not a valid policy name"),
                    )
                    .with_hint("use letters, digits, `.`, `_`, `+` and `-`"),
            );
        } else if let Some((_, first)) = self.claim(
            "policy",
            &name,
            name.clone(),
            context.place(policy.name.span()),
        ) {
            self.diagnostics.push(
                context
                    .error(policy.name.span(), format!("duplicate policy `{name}`"))
                    .with_hint(format!("it is first defined at {first}")),
            );
        }
        if policy.images.is_empty() && policy.files.is_empty() {
            self.diagnostics.push(
                context
                    .error(span.clone(), format!("policy `{name}` covers nothing"))
                    .with_hint("list what it covers: images = [\"registry.k8s.io/*\"] and/or files = [\"https://dl.k8s.io/*\"]"),
            );
        }
        for glob in policy.images.iter().chain(&policy.files) {
            if glob.get_ref().is_empty() || glob.get_ref().chars().any(char::is_whitespace) {
                self.diagnostics.push(
                    context
                        .error(glob.span(), format!("`{}` is not a pattern", glob.get_ref()))
                        .with_hint("write a reference or URL where `*` stands for any text, e.g. \"registry.k8s.io/*\""),
                );
            }
        }
        for image in &policy.images {
            if image.get_ref().contains('@')
                || image
                    .get_ref()
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last.contains(':') && !last.ends_with('*'))
            {
                self.diagnostics.push(
                    context
                        .error(image.span(), format!("`{}` names a tag or digest", image.get_ref()))
                        .with_hint("image patterns match the reference without tag or digest, e.g. \"registry.k8s.io/*\""),
                );
            }
        }
        let keyless =
            policy.identity.is_some() || policy.issuer.is_some() || policy.trusted_root.is_some();
        let chosen: Vec<(&str, &Spanned<String>)> = [
            ("key", policy.key.as_ref()),
            ("trusted_root", policy.trusted_root.as_ref()),
            ("keyring", policy.keyring.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key, value)))
        .collect();
        let (trust, material) = match chosen.as_slice() {
            [("key", material)] if !keyless => ("key", *material),
            [("trusted_root", material)] => ("keyless", *material),
            [("keyring", material)] if !keyless => ("keyring", *material),
            [] if !keyless => {
                self.diagnostics.push(
                    context
                        .error(span, format!("policy `{name}` names no signer"))
                        .with_hint("give `key = \"keys/cosign.pub\"`, or `identity`, `issuer` and `trusted_root` for keyless signatures, or `keyring` for OpenPGP"),
                );
                return;
            }
            _ => {
                self.diagnostics.push(
                    context
                        .error(span, format!("policy `{name}` mixes kinds of signer"))
                        .with_hint("a policy is one of: `key`; `identity` + `issuer` + `trusted_root` (keyless); `keyring`. Write two policies for two signers"),
                );
                return;
            }
        };
        if trust == "keyless" && (policy.identity.is_none() || policy.issuer.is_none()) {
            self.diagnostics.push(
                context
                    .error(span, format!("keyless policy `{name}` needs `identity` and `issuer`"))
                    .with_hint("e.g. identity = \"krel-trust@k8s-releng-prod.iam.gserviceaccount.com\", issuer = \"https://accounts.google.com\""),
            );
            return;
        }
        let path = match super::validate::check_media_path(material.get_ref()) {
            Ok(path) => path,
            Err(error) => {
                self.diagnostics
                    .push(context.error(material.span(), error.to_string()).with_hint(
                        "give the file relative to the workspace, e.g. \"keys/cosign.pub\"",
                    ));
                return;
            }
        };
        let full = self.workspace.join(path.as_str());
        let bytes = match crate::limits::read_bounded(&full, crate::limits::TRUST_MATERIAL) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.diagnostics.push(
                    context
                        .error(material.span(), format!("cannot read {}: {error}", path))
                        .with_hint("put the file in the workspace (keys are not fetched: they are what the signatures are checked against)"),
                );
                return;
            }
        };
        let text =
            |value: &Option<Spanned<String>>| value.as_ref().map(|value| value.get_ref().clone());
        self.policies.push(Policy {
            name,
            images: policy
                .images
                .iter()
                .map(|glob| glob.get_ref().clone())
                .collect(),
            files: policy
                .files
                .iter()
                .map(|glob| glob.get_ref().clone())
                .collect(),
            trust: trust.to_string(),
            identity: text(&policy.identity),
            issuer: text(&policy.issuer),
            material: path,
            sha256: crate::digest::Digest::of_bytes(&bytes),
        });
    }

    /// Records `owner`'s claim of `key` in `space` (names, media paths); when it was claimed
    /// before, returns the earlier owner and where it was claimed, and records nothing.
    pub fn claim(
        &mut self,
        space: &'static str,
        key: &str,
        owner: String,
        place: Place,
    ) -> Option<(String, String)> {
        match self.claims.get(&(space, key.to_string())) {
            Some((first_owner, first)) => Some((first_owner.clone(), first.to_string())),
            None => {
                self.claims.insert((space, key.to_string()), (owner, place));
                None
            }
        }
    }

    /// Reports an invalid or repeated entry name (`label`: what it names, `media`: where it
    /// lands on the media); records the first use of a valid one.
    pub fn check_unique_name(
        &mut self,
        context: &Context,
        name: &Spanned<String>,
        label: &'static str,
        media: &str,
    ) {
        let text = name.get_ref();
        if !super::validate::is_name(text) {
            self.diagnostics.push(
                context
                    .error(name.span(), format!("`{text}` is not a valid name"))
                    .with_hint(format!(
                        "use letters, digits, `.`, `_`, `+` and `-`; it names {media} on the media"
                    )),
            );
            return;
        }
        if let Some((_, first)) = self.claim(label, text, text.clone(), context.place(name.span()))
        {
            self.diagnostics.push(
                context
                    .error(name.span(), format!("duplicate {label} `{text}`"))
                    .with_hint(format!("it is first defined at {first}")),
            );
        }
    }

    /// The workspace the manifests are in.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// `[enclave].platforms`, or its default.
    pub fn default_platforms(&self) -> Vec<String> {
        self.enclave
            .as_ref()
            .map(|(enclave, _)| enclave.platforms.clone())
            .unwrap_or_else(|| Enclave::default().platforms)
    }
}

/// One manifest file being read: its name (as shown) and its text, for located messages.
pub struct Context<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    /// Where each line of `text` starts, so that placing an entry is a binary search, not a
    /// scan of the file (a manifest of thousands of entries would place them in square time).
    pub lines: &'a [usize],
}

/// The offsets at which the lines of `text` start.
pub fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(index, _)| index + 1))
        .collect()
}

impl Context<'_> {
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, self.text, span, message)
    }

    pub fn place(&self, span: Range<usize>) -> Place {
        let start = span.start.min(self.text.len());
        let line = self
            .lines
            .partition_point(|&line_start| line_start <= start)
            .max(1);
        let line_start = self.lines.get(line - 1).copied().unwrap_or(0).min(start);
        Place {
            file: self.file.to_path_buf(),
            line,
            column: self.text[line_start..start].chars().count() + 1,
        }
    }

    /// Where an entry was written, for messages (`manifests/files.toml:12`).
    pub fn origin(&self, span: Range<usize>) -> Origin {
        Origin {
            file: self.file.to_path_buf(),
            line: self.place(span).line,
        }
    }
}
