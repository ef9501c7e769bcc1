//! Reading `manifests/*.toml`: parse each file with spans, merge in name order, validate, and
//! expand `{arch}`. Problems from every file are collected and reported together.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::Spanned;

use super::model::{
    RawApt, RawChart, RawDns, RawEnclave, RawFile, RawGit, RawImage, RawKubespray, RawManifest,
    RawSha256, RawYum,
};
use super::{
    AptArtifact, ChartArtifact, Diagnostic, DnsForward, Enclave, FileArtifact, FileKey,
    GitArtifact, ImageArtifact, KubesprayHost, Location, Manifest, ManifestError, Origin,
    YumArtifact,
};
use crate::digest::Digest;
use crate::oci::reference::Reference;

/// Loads and validates every `*.toml` in `workspace/manifests`, in name order.
pub fn load(workspace: &Path) -> Result<Manifest, ManifestError> {
    let directory = workspace.join("manifests");
    let mut paths = Vec::new();
    let entries = std::fs::read_dir(&directory).map_err(|source| ManifestError::Read {
        path: directory.clone(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ManifestError::Read {
            path: directory.clone(),
            source,
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
            source,
        })?;
        // Messages name the file relative to the workspace, as the user wrote it.
        let shown = path
            .strip_prefix(workspace)
            .map(Path::to_path_buf)
            .unwrap_or(path);
        sources.push((shown, text));
    }
    let mut merger = Merger {
        workspace: workspace.to_path_buf(),
        ..Merger::default()
    };
    // Two passes: `[enclave]` first, so its defaults apply whichever file it is in.
    let mut parsed = Vec::new();
    for (path, text) in &sources {
        if let Some(raw) = merger.parse(path, text) {
            parsed.push((path, text, raw));
        }
    }
    for (path, text, raw) in &mut parsed {
        merger.add_enclave(&Context { file: path, text }, raw.enclave.take());
    }
    for (path, text, raw) in parsed {
        merger.add_entries(&Context { file: path, text }, raw);
    }
    merger.finish()
}

/// The kinds whose entries are named (and whose names must be unique).
#[derive(Clone, Copy)]
enum NameKind {
    Apt,
    Yum,
    Git,
    Chart,
}

/// A span in one of the loaded files.
#[derive(Clone)]
struct Place {
    file: PathBuf,
    line: usize,
    column: usize,
}

#[derive(Default)]
struct Merger {
    workspace: PathBuf,
    diagnostics: Vec<Diagnostic>,
    enclave: Option<(Enclave, Place)>,
    kubespray: Option<Place>,
    kubespray_hosts: Vec<KubesprayHost>,
    dns_forwards: Vec<DnsForward>,
    files: Vec<FileArtifact>,
    images: Vec<ImageArtifact>,
    images_seen: BTreeMap<String, Place>,
    apts: Vec<AptArtifact>,
    apt_names: BTreeMap<String, Place>,
    yums: Vec<YumArtifact>,
    yum_names: BTreeMap<String, Place>,
    gits: Vec<GitArtifact>,
    git_names: BTreeMap<String, Place>,
    charts: Vec<ChartArtifact>,
    chart_names: BTreeMap<String, Place>,
    names: BTreeMap<String, Place>,
    paths: BTreeMap<String, (FileKey, Place)>,
}

impl Merger {
    fn parse(&mut self, file: &Path, text: &str) -> Option<RawManifest> {
        match toml::from_str(text) {
            Ok(raw) => Some(raw),
            Err(error) => {
                let span = error.span().unwrap_or(0..0);
                let message = error.message().trim().to_string();
                let hint = if message.starts_with("unknown field") {
                    "check the spelling; the manifest reference is in the README, and `airgap init` writes a commented example of every kind"
                } else if message.starts_with("missing field") {
                    "add the missing key to this entry"
                } else {
                    "fix the TOML at this position"
                };
                self.diagnostics
                    .push(Diagnostic::new(file, text, span, message).with_hint(hint));
                None
            }
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

    fn add_entries(&mut self, context: &Context, raw: RawManifest) {
        if let Some(kubespray) = raw.kubespray {
            self.add_kubespray(context, kubespray);
        }
        if let Some(dns) = raw.dns {
            self.add_dns(context, dns.into_inner());
        }
        for file_entry in raw.file {
            self.add_file(context, file_entry);
        }
        for image_entry in raw.image {
            self.add_image(context, image_entry);
        }
        for apt_entry in raw.apt {
            self.add_apt(context, apt_entry);
        }
        for yum_entry in raw.yum {
            self.add_yum(context, yum_entry);
        }
        for git_entry in raw.git {
            self.add_git(context, git_entry);
        }
        for chart_entry in raw.chart {
            self.add_chart(context, chart_entry);
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

    fn add_apt(&mut self, context: &Context, entry: Spanned<RawApt>) {
        let entry_span = entry.span();
        let entry = entry.into_inner();
        let name = entry.name.get_ref().clone();
        self.check_unique_name(context, &entry.name, NameKind::Apt);
        let url = entry.url.get_ref().trim_end_matches('/').to_string();
        if let Err(message) = Location::parse(&url, Path::new(".")) {
            self.diagnostics.push(
                context
                    .error(entry.url.span(), message)
                    .with_hint("give the archive root, e.g. \"http://deb.debian.org/debian\""),
            );
        }
        let suite = entry.suite.get_ref().clone();
        if suite.is_empty() || suite.contains(char::is_whitespace) || suite.contains("..") {
            self.diagnostics.push(
                context
                    .error(entry.suite.span(), format!("`{suite}` is not a suite"))
                    .with_hint("write the suite or codename, e.g. \"bookworm\""),
            );
        }
        for (field, list) in [
            ("components", &entry.components),
            ("architectures", &entry.architectures),
        ] {
            if list.get_ref().is_empty() || list.get_ref().iter().any(|item| !is_deb_word(item)) {
                self.diagnostics.push(
                    context
                        .error(
                            list.span(),
                            format!(
                                "`{field}` must list at least one name of letters, digits and `-`"
                            ),
                        )
                        .with_hint(if field == "components" {
                            "e.g. [\"main\"]"
                        } else {
                            "e.g. [\"amd64\"]"
                        }),
                );
            }
        }
        let insecure = entry.insecure.unwrap_or(false);
        if entry.keyring.is_none() && !insecure {
            self.diagnostics.push(
                context
                    .error(entry_span.clone(), format!("`[[apt]]` `{name}` has no `keyring`: its Release signature could not be checked"))
                    .with_hint("set `keyring` to the archive's keyring (e.g. keys/debian-archive-keyring.gpg); only if the archive is unsigned, say `insecure = true`"),
            );
        }
        if let Some(keyring) = &entry.keyring
            && let Err(message) = check_media_path(keyring.get_ref())
        {
            self.diagnostics.push(
                context
                    .error(
                        keyring.span(),
                        message.replace("the media path", "the keyring path"),
                    )
                    .with_hint("give the keyring relative to the workspace"),
            );
        }
        if entry.packages.get_ref().is_empty() {
            self.diagnostics.push(
                context
                    .error(entry.packages.span(), "`packages` is empty")
                    .with_hint("list the packages the nodes need, e.g. [\"conntrack\", \"socat\"]"),
            );
        }
        for package in entry.packages.get_ref() {
            if !is_package_name(package.get_ref()) {
                self.diagnostics.push(
                    context
                        .error(
                            package.span(),
                            format!("`{}` is not a Debian package name", package.get_ref()),
                        )
                        .with_hint("package names are lowercase letters, digits, `+`, `-` and `.`"),
                );
            }
        }
        self.apts.push(AptArtifact {
            name,
            url,
            suite,
            components: entry.components.into_inner(),
            architectures: entry.architectures.into_inner(),
            keyring: entry.keyring.map(Spanned::into_inner),
            packages: entry
                .packages
                .into_inner()
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            recommends: entry.recommends.unwrap_or(false),
            exclude: entry.exclude.unwrap_or_default(),
            insecure,
            origin: Origin {
                file: context.file.to_path_buf(),
                line: context.place(entry_span).line,
            },
        });
    }

    fn add_yum(&mut self, context: &Context, entry: Spanned<RawYum>) {
        let entry_span = entry.span();
        let entry = entry.into_inner();
        let name = entry.name.get_ref().clone();
        self.check_unique_name(context, &entry.name, NameKind::Yum);
        let url = format!("{}/", entry.url.get_ref().trim_end_matches('/'));
        if let Err(message) = Location::parse(&url, Path::new(".")) {
            self.diagnostics.push(
                context
                    .error(entry.url.span(), message)
                    .with_hint("give the repository root, the directory that holds repodata/"),
            );
        }
        let arch = entry.arch.get_ref().clone();
        if !is_identifier(&arch) {
            self.diagnostics.push(
                context
                    .error(
                        entry.arch.span(),
                        format!("`{arch}` is not an RPM architecture"),
                    )
                    .with_hint("e.g. \"x86_64\" or \"aarch64\""),
            );
        }
        if let Some(gpgkey) = &entry.gpgkey
            && let Err(message) = check_media_path(gpgkey.get_ref())
        {
            self.diagnostics.push(
                context
                    .error(
                        gpgkey.span(),
                        message.replace("the media path", "the key path"),
                    )
                    .with_hint("give the repository key relative to the workspace"),
            );
        }
        if entry.packages.get_ref().is_empty() {
            self.diagnostics.push(
                context
                    .error(entry.packages.span(), "`packages` is empty")
                    .with_hint(
                        "list the packages the nodes need, e.g. [\"conntrack-tools\", \"socat\"]",
                    ),
            );
        }
        for package in entry.packages.get_ref() {
            let valid = !package.get_ref().is_empty()
                && package.get_ref().chars().all(|character| {
                    character.is_ascii_alphanumeric() || matches!(character, '+' | '-' | '.' | '_')
                });
            if !valid {
                self.diagnostics.push(
                    context
                        .error(
                            package.span(),
                            format!("`{}` is not an RPM package name", package.get_ref()),
                        )
                        .with_hint("package names are letters, digits, `+`, `-`, `.` and `_`"),
                );
            }
        }
        self.yums.push(YumArtifact {
            name,
            url,
            gpgkey: entry.gpgkey.map(Spanned::into_inner),
            arch,
            packages: entry
                .packages
                .into_inner()
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            exclude: entry.exclude.unwrap_or_default(),
            insecure: entry.insecure.unwrap_or(false),
            origin: Origin {
                file: context.file.to_path_buf(),
                line: context.place(entry_span).line,
            },
        });
    }

    fn add_git(&mut self, context: &Context, entry: Spanned<RawGit>) {
        let entry_span = entry.span();
        let entry = entry.into_inner();
        let name = entry.name.get_ref().clone();
        self.check_unique_name(context, &entry.name, NameKind::Git);
        let url = entry.url.get_ref().clone();
        let scheme_ok = ["https://", "http://", "ssh://", "file://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
            || (!url.contains("://")
                && !url.is_empty()
                && !url.starts_with('/')
                && !url.starts_with('-'));
        if !scheme_ok {
            self.diagnostics.push(
                context
                    .error(entry.url.span(), format!("`{url}` is not a repository URL airgap can fetch"))
                    .with_hint("use https://, http://, ssh://, file:/// or a path relative to the workspace"),
            );
        }
        let reference = entry.reference.get_ref().clone();
        let reference_ok = !reference.is_empty()
            && !reference.starts_with('-')
            && !reference.contains("..")
            && reference.chars().all(|character| {
                character.is_ascii_alphanumeric()
                    || matches!(character, '.' | '_' | '-' | '/' | '+')
            });
        if !reference_ok {
            self.diagnostics.push(
                context
                    .error(
                        entry.reference.span(),
                        format!("`{reference}` is not a git ref"),
                    )
                    .with_hint(
                        "give a tag (\"v2.31.0\"), a branch (\"master\") or a full commit id",
                    ),
            );
        }
        self.gits.push(GitArtifact {
            name,
            url,
            reference,
            origin: Origin {
                file: context.file.to_path_buf(),
                line: context.place(entry_span).line,
            },
        });
    }

    fn add_chart(&mut self, context: &Context, entry: Spanned<RawChart>) {
        let entry_span = entry.span();
        let entry = entry.into_inner();
        self.check_unique_name(context, &entry.name, NameKind::Chart);
        let repo = entry.repo.get_ref().trim_end_matches('/').to_string();
        if let Some(path) = repo.strip_prefix("oci://") {
            if let Err(message) = Reference::parse(&format!("{path}/{}", entry.name.get_ref())) {
                self.diagnostics.push(
                    context
                        .error(entry.repo.span(), message)
                        .with_hint("write oci://host/namespace, the place the chart was pushed to"),
                );
            }
        } else if let Err(message) = Location::parse(&format!("{repo}/index.yaml"), Path::new("."))
        {
            self.diagnostics.push(
                context
                    .error(entry.repo.span(), message)
                    .with_hint("give the repository root that holds index.yaml, e.g. \"https://kubernetes.github.io/ingress-nginx\""),
            );
        }
        if let Err(message) = crate::version::version_requirement(entry.version.get_ref()) {
            self.diagnostics
                .push(context.error(entry.version.span(), message).with_hint(
                    "write an exact version (\"4.11.3\") or a range (\"^4.11\", \">=1.0 <2.0\")",
                ));
        }
        self.charts.push(ChartArtifact {
            name: entry.name.into_inner(),
            repo,
            version: entry.version.into_inner(),
            images: entry.images.map(Spanned::into_inner).unwrap_or(false),
            origin: Origin {
                file: context.file.to_path_buf(),
                line: context.place(entry_span).line,
            },
        });
    }

    /// Reports an invalid or repeated entry name; records the first use of a valid one.
    fn check_unique_name(&mut self, context: &Context, name: &Spanned<String>, kind: NameKind) {
        let (label, media) = match kind {
            NameKind::Apt => ("apt repository", "DIR/apt/<name>/"),
            NameKind::Yum => ("yum repository", "DIR/yum/<name>/"),
            NameKind::Git => ("git repository", "DIR/git/<name>.git"),
            NameKind::Chart => ("chart", "DIR/charts/<name>-<version>.tgz"),
        };
        let text = name.get_ref();
        if !is_name(text) {
            self.diagnostics.push(
                context
                    .error(name.span(), format!("`{text}` is not a valid name"))
                    .with_hint(format!(
                        "use letters, digits, `.`, `_`, `+` and `-`; it names {media} on the media"
                    )),
            );
            return;
        }
        let names = match kind {
            NameKind::Apt => &mut self.apt_names,
            NameKind::Yum => &mut self.yum_names,
            NameKind::Git => &mut self.git_names,
            NameKind::Chart => &mut self.chart_names,
        };
        if let Some(first) = names.get(text) {
            let first = format!("{}:{}:{}", first.file.display(), first.line, first.column);
            self.diagnostics.push(
                context
                    .error(name.span(), format!("duplicate {label} `{text}`"))
                    .with_hint(format!("it is first defined at {first}")),
            );
        } else {
            names.insert(text.clone(), context.place(name.span()));
        }
    }

    fn default_platforms(&self) -> Vec<String> {
        self.enclave
            .as_ref()
            .map(|(enclave, _)| enclave.platforms.clone())
            .unwrap_or_else(|| Enclave::default().platforms)
    }

    fn add_image(&mut self, context: &Context, entry: Spanned<RawImage>) {
        let entry_span = entry.span();
        let entry = entry.into_inner();
        let reference = match Reference::parse(entry.reference.get_ref()) {
            Ok(reference) => reference,
            Err(message) => {
                self.diagnostics.push(
                    context
                        .error(entry.reference.span(), message)
                        .with_hint("write host/path:tag, host/path@sha256:<hex> or host/path:tag@sha256:<hex>, e.g. \"registry.k8s.io/pause:3.10\""),
                );
                return;
            }
        };
        let key = reference.to_string();
        if let Some(first) = self.images_seen.get(&key) {
            let first = format!("{}:{}:{}", first.file.display(), first.line, first.column);
            self.diagnostics.push(
                context
                    .error(entry.reference.span(), format!("duplicate image `{key}`"))
                    .with_hint(format!(
                        "it is first listed at {first}; list each image once"
                    )),
            );
            return;
        }
        self.images_seen
            .insert(key.clone(), context.place(entry.reference.span()));
        let platforms = match &entry.platforms {
            None => self.default_platforms(),
            Some(list) => {
                let values: Vec<String> = list
                    .get_ref()
                    .iter()
                    .map(|value| value.get_ref().clone())
                    .collect();
                if values.is_empty() {
                    self.diagnostics.push(
                        context
                            .error(list.span(), "`platforms` is empty")
                            .with_hint("list platforms such as [\"linux/amd64\"], or [\"all\"] to keep every platform"),
                    );
                } else if values.iter().any(|value| value == "all") && values.len() > 1 {
                    self.diagnostics.push(
                        context
                            .error(list.span(), "`all` cannot be combined with other platforms")
                            .with_hint("write [\"all\"] alone"),
                    );
                }
                for value in list.get_ref() {
                    if value.get_ref() != "all" && !is_platform(value.get_ref()) {
                        self.diagnostics.push(
                            context
                                .error(
                                    value.span(),
                                    format!("`{}` is not a platform", value.get_ref()),
                                )
                                .with_hint(
                                    "write os/arch[/variant], e.g. \"linux/arm64\", or \"all\"",
                                ),
                        );
                    }
                }
                values
            }
        };
        if let Some(layout) = &entry.layout
            && let Err(message) = check_media_path(layout.get_ref())
        {
            self.diagnostics.push(
                context
                    .error(
                        layout.span(),
                        message.replace("the media path", "the layout path"),
                    )
                    .with_hint("give the OCI layout directory relative to the workspace"),
            );
        }
        let insecure = entry.insecure.unwrap_or(false);
        if insecure && reference.is_loopback() {
            self.diagnostics.push(
                context
                    .error(entry_span.clone(), "`insecure` is not needed for a registry on a loopback address")
                    .with_hint("loopback registries are reached over plain HTTP when they do not speak TLS; remove `insecure`"),
            );
        }
        self.images.push(ImageArtifact {
            reference: key,
            platforms,
            layout: entry.layout.map(Spanned::into_inner),
            referrers: entry.referrers.unwrap_or(false),
            insecure,
            origin: Origin {
                file: context.file.to_path_buf(),
                line: context.place(entry_span).line,
            },
        });
    }

    fn add_file(&mut self, context: &Context, entry: Spanned<RawFile>) {
        let entry_span = entry.span();
        let entry = entry.into_inner();
        let name_span = entry.name.span();
        let name = entry.name.get_ref().clone();

        if !is_name(&name) {
            self.diagnostics.push(
                context
                    .error(name_span.clone(), format!("`{name}` is not a valid name"))
                    .with_hint("use letters, digits, `.`, `_`, `+` and `-`"),
            );
        } else if let Some(first) = self.names.get(&name) {
            let first = format!("{}:{}:{}", first.file.display(), first.line, first.column);
            self.diagnostics.push(
                context
                    .error(name_span.clone(), format!("duplicate name `{name}`"))
                    .with_hint(format!("`{name}` is first defined at {first}; names must be unique across all manifests")),
            );
        } else {
            self.names
                .insert(name.clone(), context.place(name_span.clone()));
        }

        // Placeholders: only {arch} exists.
        let mut templates = vec![&entry.url];
        templates.extend(entry.checksum_url.as_ref());
        templates.extend(entry.path.as_ref());
        for template in &templates {
            if let Some(unknown) = unknown_placeholder(template.get_ref()) {
                self.diagnostics.push(
                    context
                        .error(
                            template.span(),
                            format!("unknown placeholder `{{{unknown}}}`"),
                        )
                        .with_hint("the only placeholder is `{arch}`"),
                );
            }
        }
        let templated = templates
            .iter()
            .any(|template| template.get_ref().contains("{arch}"));

        let default_arches = || -> Vec<String> {
            let platforms = self.default_platforms();
            let mut arches: Vec<String> = platforms
                .iter()
                .filter_map(|platform| platform.split('/').nth(1).map(str::to_string))
                .collect();
            arches.dedup();
            arches
        };
        let arches: Vec<Option<String>> = match &entry.arch {
            Some(list) => {
                if !templated {
                    self.diagnostics.push(
                        context
                            .error(list.span(), "`arch` is set but neither `url`, `checksum_url` nor `path` contains `{arch}`")
                            .with_hint("put `{arch}` where the architecture goes in the URL, or remove `arch`"),
                    );
                }
                if list.get_ref().is_empty() {
                    self.diagnostics.push(
                        context
                            .error(list.span(), "`arch` is empty")
                            .with_hint("list the architectures, e.g. [\"amd64\", \"arm64\"], or remove `arch` to use `[enclave].platforms`"),
                    );
                }
                let mut seen = BTreeSet::new();
                for arch in list.get_ref() {
                    if !is_identifier(arch.get_ref()) {
                        self.diagnostics.push(
                            context
                                .error(
                                    arch.span(),
                                    format!("`{}` is not an architecture name", arch.get_ref()),
                                )
                                .with_hint("use Kubernetes' names, e.g. \"amd64\", \"arm64\""),
                        );
                    } else if !seen.insert(arch.get_ref().clone()) {
                        self.diagnostics.push(
                            context.error(
                                arch.span(),
                                format!("`{}` is listed twice", arch.get_ref()),
                            ),
                        );
                    }
                }
                seen.into_iter().map(Some).collect()
            }
            None if templated => default_arches().into_iter().map(Some).collect(),
            None => vec![None],
        };

        // The sha256 pin, per architecture.
        let mut pins: BTreeMap<Option<String>, Digest> = BTreeMap::new();
        if let Some(sha256) = &entry.sha256 {
            let span = sha256.span();
            match sha256.get_ref() {
                RawSha256::One(text) => {
                    if arches.len() > 1 {
                        self.diagnostics.push(
                            context
                                .error(span.clone(), format!("one `sha256` for {} architectures", arches.len()))
                                .with_hint("give one digest per architecture: sha256 = { amd64 = \"…\", arm64 = \"…\" }"),
                        );
                    } else {
                        match Digest::parse(text) {
                            Ok(digest) => {
                                pins.insert(arches[0].clone(), digest);
                            }
                            Err(error) => self.diagnostics.push(
                                context
                                    .error(span.clone(), error.to_string())
                                    .with_hint("copy the digest from the upstream's release page or checksum file"),
                            ),
                        }
                    }
                }
                RawSha256::PerArch(map) => {
                    for (arch, text) in map {
                        if !arches.contains(&Some(arch.clone())) {
                            self.diagnostics.push(
                                context
                                    .error(span.clone(), format!("`sha256` names architecture `{arch}`, which this entry does not fetch"))
                                    .with_hint(format!(
                                        "this entry fetches: {}",
                                        arches.iter().flatten().cloned().collect::<Vec<_>>().join(", ")
                                    )),
                            );
                            continue;
                        }
                        match Digest::parse(text) {
                            Ok(digest) => {
                                pins.insert(Some(arch.clone()), digest);
                            }
                            Err(error) => self.diagnostics.push(
                                context
                                    .error(span.clone(), format!("sha256 for `{arch}`: {error}"))
                                    .with_hint("copy the digest from the upstream's release page or checksum file"),
                            ),
                        }
                    }
                }
            }
        }

        let origin = Origin {
            file: context.file.to_path_buf(),
            line: context.place(entry_span).line,
        };
        for arch in arches {
            let expand = |template: &str| match &arch {
                Some(arch) => template.replace("{arch}", arch),
                None => template.to_string(),
            };
            let url = expand(entry.url.get_ref());
            if let Err(message) = Location::parse(&url, Path::new(".")) {
                self.diagnostics.push(
                    context.error(entry.url.span(), message).with_hint(
                        "use http(s)://…, file:///…, or a path relative to the workspace",
                    ),
                );
                continue;
            }
            let checksum_url = entry
                .checksum_url
                .as_ref()
                .map(|template| expand(template.get_ref()));
            if let Some(checksum_url) = &checksum_url
                && let Err(message) = Location::parse(checksum_url, Path::new("."))
            {
                self.diagnostics.push(
                    context
                        .error(
                            entry.checksum_url.as_ref().map_or(0..0, Spanned::span),
                            message,
                        )
                        .with_hint(
                            "use http(s)://…, file:///…, or a path relative to the workspace",
                        ),
                );
            }
            let (path, path_span) = match &entry.path {
                Some(path) => (expand(path.get_ref()), path.span()),
                None => (default_path(&url), entry.url.span()),
            };
            if let Err(message) = check_media_path(&path) {
                self.diagnostics
                    .push(context.error(path_span.clone(), message).with_hint(
                        "set `path` to a relative path without `..`, e.g. \"tools/{arch}/tool\"",
                    ));
                continue;
            }
            let key = FileKey {
                name: name.clone(),
                arch: arch.clone(),
            };
            if let Some((other, place)) = self.paths.get(&path) {
                let first = format!("{}:{}:{}", place.file.display(), place.line, place.column);
                self.diagnostics.push(
                    context
                        .error(
                            path_span,
                            format!("`{key}` and `{other}` would both be written to files/{path}"),
                        )
                        .with_hint(format!(
                            "`{other}` is defined at {first}; give one of them a different `path`"
                        )),
                );
                continue;
            }
            self.paths
                .insert(path.clone(), (key.clone(), context.place(path_span)));
            self.files.push(FileArtifact {
                sha256: pins.get(&arch).copied(),
                key,
                url,
                path,
                checksum_url,
                origin: origin.clone(),
            });
        }
    }

    fn finish(mut self) -> Result<Manifest, ManifestError> {
        if !self.diagnostics.is_empty() {
            return Err(ManifestError::Invalid(self.diagnostics));
        }
        self.files.sort_by(|left, right| left.key.cmp(&right.key));
        self.images
            .sort_by(|left, right| left.reference.cmp(&right.reference));
        self.apts.sort_by(|left, right| left.name.cmp(&right.name));
        self.yums.sort_by(|left, right| left.name.cmp(&right.name));
        self.gits.sort_by(|left, right| left.name.cmp(&right.name));
        self.charts
            .sort_by(|left, right| left.name.cmp(&right.name));
        let enclave = self.enclave.map(|(enclave, _)| enclave).unwrap_or_default();
        #[derive(Serialize)]
        struct Inputs<'a> {
            format: &'static str,
            files: &'a [FileArtifact],
            images: &'a [ImageArtifact],
            apts: &'a [AptArtifact],
            yums: &'a [YumArtifact],
            gits: &'a [GitArtifact],
            charts: &'a [ChartArtifact],
        }
        // Only what the pins depend on: `[enclave].url` is rendering, not locking, and the
        // platforms are already expanded into the file entries.
        let inputs = Inputs {
            format: "airgap-inputs-1",
            files: &self.files,
            images: &self.images,
            apts: &self.apts,
            yums: &self.yums,
            gits: &self.gits,
            charts: &self.charts,
        };
        let canonical = serde_json::to_vec(&inputs).unwrap_or_default();
        Ok(Manifest {
            enclave,
            files: self.files,
            images: self.images,
            apts: self.apts,
            yums: self.yums,
            gits: self.gits,
            charts: self.charts,
            kubespray_hosts: self.kubespray_hosts,
            dns_forwards: self.dns_forwards,
            inputs_digest: Digest::of_bytes(&canonical),
        })
    }
}

struct Context<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Context<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, self.text, span, message)
    }

    fn place(&self, span: Range<usize>) -> Place {
        let diagnostic = Diagnostic::new(self.file, self.text, span, "");
        Place {
            file: self.file.to_path_buf(),
            line: diagnostic.line,
            column: diagnostic.column,
        }
    }
}

pub(crate) fn is_inventory_name(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('-')
        && text.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.')
        })
}

pub(crate) fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_')
}

fn is_platform(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    (2..=3).contains(&parts.len()) && parts.iter().all(|part| is_identifier(part))
}

fn is_deb_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '-')
}

fn is_package_name(text: &str) -> bool {
    text.len() >= 2
        && text.starts_with(|character: char| {
            character.is_ascii_lowercase() || character.is_ascii_digit()
        })
        && text.chars().all(|character| {
            character.is_ascii_lowercase()
                || character.is_ascii_digit()
                || matches!(character, '+' | '-' | '.')
        })
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '+' | '-')
        })
}

fn unknown_placeholder(template: &str) -> Option<String> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        let name = &after[..end];
        if name != "arch" {
            return Some(name.to_string());
        }
        rest = &after[end + 1..];
    }
    None
}

/// Kubespray's `files_repo` layout: `<host>/<url path>`; local files go below `local/`.
fn default_path(url: &str) -> String {
    match Location::parse(url, Path::new("")) {
        Ok(Location::Http(parsed)) => {
            let decoded = percent_encoding::percent_decode_str(parsed.path()).decode_utf8_lossy();
            format!("{}{}", parsed.host_str().unwrap_or("unknown-host"), decoded)
        }
        Ok(Location::Local(path)) if url.contains("://") => format!(
            "local/{}",
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        _ => format!("local/{url}"),
    }
}

/// A media path must stay inside `files/` and be writable on any file system.
fn check_media_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        return Err(format!("the media path `{path}` is absolute"));
    }
    if path.ends_with('/') {
        return Err(format!(
            "the media path `{path}` names a directory, not a file"
        ));
    }
    if path.contains(['\\', '\n', '\r', '\0']) {
        return Err(format!(
            "the media path `{path}` contains a backslash or control character"
        ));
    }
    for component in path.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(format!(
                "the media path `{path}` has an empty, `.` or `..` component"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_follow_kubespray_layout() {
        assert_eq!(
            default_path("https://dl.k8s.io/release/v1.33.4/bin/linux/amd64/kubeadm"),
            "dl.k8s.io/release/v1.33.4/bin/linux/amd64/kubeadm"
        );
        assert_eq!(
            default_path("artifacts/tool.tar.gz"),
            "local/artifacts/tool.tar.gz"
        );
        assert_eq!(default_path("file:///srv/build/tool"), "local/tool");
        assert_eq!(default_path("http://h:8080/a%20b"), "h/a b");
    }

    #[test]
    fn media_paths_stay_inside() {
        assert!(check_media_path("a/b").is_ok());
        assert!(check_media_path("../b").is_err());
        assert!(check_media_path("/b").is_err());
        assert!(check_media_path("a//b").is_err());
    }

    #[test]
    fn placeholders() {
        assert_eq!(unknown_placeholder("x/{arch}/y"), None);
        assert_eq!(unknown_placeholder("x/{os}/y"), Some("os".to_string()));
    }
}
