//! The serde model of the tables that are not artifact kinds (`[enclave]`, `[kubespray]`,
//! `[dns]`), exactly as written: unknown keys rejected, spans kept so that later checks can
//! point at the offending value. Each kind's raw table is in its folder; the whole file's
//! model is `kinds::RawManifest`, made from the list of kinds.

use serde::Deserialize;
use toml::Spanned;

/// `[enclave]`: where the nodes reach the media and which platforms they run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnclave {
    pub url: Option<Spanned<String>>,
    pub platforms: Option<Spanned<Vec<Spanned<String>>>>,
    /// PEM file (workspace path) of the CA that signs the server's TLS certificate.
    pub ca: Option<Spanned<String>>,
    /// `host:port` of each `airgap serve` replica behind the rendered nginx load balancer.
    pub replicas: Option<Vec<Spanned<String>>>,
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

/// `[[policy]]`: which signatures the images and files it covers must carry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: Spanned<String>,
    #[serde(default)]
    pub images: Vec<Spanned<String>>,
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
    /// A cosign public key (PEM), workspace path.
    pub key: Option<Spanned<String>>,
    /// Keyless: the certificate's subject (email or URI) and OIDC issuer, and Sigstore's
    /// `trusted_root.json` (workspace path).
    pub identity: Option<Spanned<String>>,
    pub issuer: Option<Spanned<String>>,
    pub trusted_root: Option<Spanned<String>>,
    /// An OpenPGP keyring (binary or armored), workspace path: for `.asc` file signatures.
    pub keyring: Option<Spanned<String>>,
}
