//! Signature policies: which images and files must be signed, by whom, and the evidence that
//! they were. The manifest's `[[policy]]` (read by `manifest`) becomes a [`LockedPolicy`] in
//! the lock, with the digest of its trust material; each covered pin records the
//! [`Evidence`] that satisfied it. [`check`] verifies signatures over bytes it is given:
//! cosign's simple-signing payloads with a key, Sigstore bundles against a trusted root
//! (keyless), cosign blob signatures (key or certificate) and OpenPGP detached signatures.
//!
//! Never the network: `ops` finds the signatures (at lock time through the registry and the
//! downloader, in the enclave on the media) and hands the bytes here.

pub mod check;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::relative_path::RelativePath;

/// Where the policies' trust material lies on the media: `policies/<name>/<file>`.
pub const ROOT: &str = "policies";

/// What a policy trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// A cosign public key (PEM).
    Key,
    /// Certificates from a Sigstore trusted root, for one identity and OIDC issuer.
    Keyless,
    /// An OpenPGP keyring.
    Keyring,
}

/// A policy as the lock records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPolicy {
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    pub trust: Trust,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The trust material: its workspace path and digest.
    pub material: RelativePath,
    pub sha256: Digest,
}

impl LockedPolicy {
    /// The lock's record of a manifest policy.
    pub fn new(policy: &crate::manifest::Policy) -> LockedPolicy {
        LockedPolicy {
            name: policy.name.clone(),
            images: policy.images.clone(),
            files: policy.files.clone(),
            trust: match policy.trust.as_str() {
                "key" => Trust::Key,
                "keyless" => Trust::Keyless,
                _ => Trust::Keyring,
            },
            identity: policy.identity.clone(),
            issuer: policy.issuer.clone(),
            material: policy.material.clone(),
            sha256: policy.sha256,
        }
    }

    /// The trust material's path on the media.
    pub fn media_path(&self) -> String {
        let file = self
            .material
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or("material");
        format!("{ROOT}/{}/{file}", self.name)
    }

    /// Who the policy accepts, for messages.
    pub fn signer(&self) -> String {
        match self.trust {
            Trust::Key => format!("the key {} ({})", self.material, self.sha256.short()),
            Trust::Keyless => format!(
                "{} from {} (certificates of {})",
                self.identity.as_deref().unwrap_or("?"),
                self.issuer.as_deref().unwrap_or("?"),
                self.material
            ),
            Trust::Keyring => format!("a key of the keyring {}", self.material),
        }
    }
}

/// The first policy covering the image `reference` (matched without its tag and digest).
pub fn for_image<'a>(policies: &'a [LockedPolicy], reference: &str) -> Option<&'a LockedPolicy> {
    let name = without_tag(reference);
    policies
        .iter()
        .find(|policy| policy.images.iter().any(|glob| matches(glob, name)))
}

/// The first policy covering the file at `url`.
pub fn for_file<'a>(policies: &'a [LockedPolicy], url: &str) -> Option<&'a LockedPolicy> {
    policies
        .iter()
        .find(|policy| policy.files.iter().any(|glob| matches(glob, url)))
}

/// `registry/repo` of `registry/repo:tag@sha256:…`.
fn without_tag(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (slashes
/// included) and everything else for itself.
pub fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The evidence's `signer` for a certificate's identity and issuer.
pub fn identity_signer(identity: &str, issuer: &str) -> String {
    format!("{identity} ({issuer})")
}

/// How a pin satisfied its policy, recorded in the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The policy's name.
    pub policy: String,
    /// The digest of the policy's trust material it was checked against.
    pub material: Digest,
    /// What was verified: the signature's manifest (images) or signature file (files).
    pub signature: Digest,
    /// The certificate file next to a blob signature, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Digest>,
    /// `cosign` (simple signing), `bundle` (Sigstore bundle), `blob` (cosign blob signature)
    /// or `openpgp`.
    pub format: String,
    /// Who signed: the key's digest, the certificate's identity and issuer, or the OpenPGP
    /// key's fingerprint.
    pub signer: String,
}

impl Evidence {
    /// Whether this evidence was made under `policy` as it is now.
    pub fn satisfies(&self, policy: &LockedPolicy) -> bool {
        let signer_agrees = match (policy.trust, &policy.identity, &policy.issuer) {
            (Trust::Keyless, Some(identity), Some(issuer)) => {
                self.signer == identity_signer(identity, issuer)
            }
            _ => true,
        };
        self.policy == policy.name && self.material == policy.sha256 && signer_agrees
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("registry.k8s.io/*", "registry.k8s.io/pause"));
        assert!(matches("registry.k8s.io/*", "registry.k8s.io/a/b"));
        assert!(!matches("registry.k8s.io/*", "registry.k8s.io.evil/pause"));
        assert!(matches("*/vendor/*", "127.0.0.1:5000/vendor/app"));
        assert!(matches("exact/name", "exact/name"));
        assert!(!matches("exact/name", "exact/name2"));
        assert!(matches("a*a", "aa"));
        assert!(!matches("a*a", "a"));
        assert!(matches(
            "https://dl.k8s.io/*/kubeadm",
            "https://dl.k8s.io/v1/kubeadm"
        ));
    }

    #[test]
    fn names_without_tags() {
        assert_eq!(without_tag("127.0.0.1:5000/a/b:1.0"), "127.0.0.1:5000/a/b");
        assert_eq!(
            without_tag("127.0.0.1:5000/a/b:1.0@sha256:00"),
            "127.0.0.1:5000/a/b"
        );
        assert_eq!(without_tag("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b");
    }
}
