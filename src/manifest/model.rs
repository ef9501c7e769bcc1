//! The serde model of one `manifests/*.toml` file, exactly as written: every kind of SPEC.md,
//! unknown keys rejected, spans kept so that later checks can point at the offending value.
//! Nothing here validates meaning; `load.rs` does.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One manifest file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    pub enclave: Option<Spanned<RawEnclave>>,
    #[serde(default)]
    pub file: Vec<Spanned<RawFile>>,
    #[serde(default)]
    pub image: Vec<Spanned<RawImage>>,
    #[serde(default)]
    pub chart: Vec<Spanned<RawChart>>,
    #[serde(default)]
    pub apt: Vec<Spanned<RawApt>>,
    #[serde(default)]
    pub yum: Vec<Spanned<RawYum>>,
    #[serde(default)]
    pub git: Vec<Spanned<RawGit>>,
    pub kubespray: Option<Spanned<RawKubespray>>,
    pub dns: Option<Spanned<RawDns>>,
}

/// `[enclave]`: where the nodes reach the media and which platforms they run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnclave {
    pub url: Option<Spanned<String>>,
    pub platforms: Option<Spanned<Vec<Spanned<String>>>>,
    /// PEM file (workspace path) of the CA that signs the server's TLS certificate.
    pub ca: Option<Spanned<String>>,
}

/// `[[file]]`: a static file (binary, archive), fetched by URL or from the workspace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    pub arch: Option<Spanned<Vec<Spanned<String>>>>,
    pub sha256: Option<Spanned<RawSha256>>,
    pub checksum_url: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
}

/// A `sha256` pin: one digest, or one per architecture.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSha256 {
    One(String),
    PerArch(BTreeMap<String, String>),
}

/// `[[image]]`: a container image reference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    #[serde(rename = "ref")]
    pub reference: Spanned<String>,
    pub platforms: Option<Spanned<Vec<Spanned<String>>>>,
    pub layout: Option<Spanned<String>>,
    pub referrers: Option<bool>,
    pub insecure: Option<bool>,
}

/// `[[chart]]`: a Helm chart from an HTTP or OCI repository.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChart {
    pub name: Spanned<String>,
    pub repo: Spanned<String>,
    pub version: Spanned<String>,
    pub images: Option<Spanned<bool>>,
}

/// `[[apt]]`: a Debian/Ubuntu archive and the packages to take from it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApt {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    pub suite: Spanned<String>,
    pub components: Spanned<Vec<String>>,
    pub architectures: Spanned<Vec<String>>,
    pub keyring: Option<Spanned<String>>,
    pub packages: Spanned<Vec<Spanned<String>>>,
    pub recommends: Option<bool>,
    pub exclude: Option<Vec<String>>,
    pub insecure: Option<bool>,
}

/// `[[yum]]`: an RPM repository and the packages to take from it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawYum {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    pub gpgkey: Option<Spanned<String>>,
    pub arch: Spanned<String>,
    pub packages: Spanned<Vec<Spanned<String>>>,
    pub exclude: Option<Vec<String>>,
    pub insecure: Option<bool>,
}

/// `[[git]]`: a git repository pinned to one commit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGit {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    #[serde(rename = "ref")]
    pub reference: Spanned<String>,
}

/// `[kubespray]`: hosts for the rendered inventory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubespray {
    #[serde(default)]
    pub host: Vec<Spanned<RawKubesprayHost>>,
}

/// `[[kubespray.host]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubesprayHost {
    pub name: Spanned<String>,
    pub address: Spanned<String>,
    pub ip: Option<Spanned<String>>,
    pub groups: Spanned<Vec<Spanned<String>>>,
}

/// `[dns]`: names the enclave may still resolve outside.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    #[serde(default)]
    pub forward: Vec<Spanned<RawDnsForward>>,
}

/// `[[dns.forward]]`: a zone and the resolvers that answer for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDnsForward {
    pub zone: Spanned<String>,
    pub to: Spanned<Vec<Spanned<String>>>,
}
