//! The lock entry of `[[file]]`: a static file by URL or from the workspace, expanded per architecture.

use serde::{Deserialize, Serialize};

use super::entry::{FileKey, PinSource};
use crate::digest::Digest;

/// One pinned static file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    #[serde(deserialize_with = "crate::lock::checked_name")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub url: String,
    /// Path below `files/` on the media.
    pub path: crate::relative_path::RelativePath,
    pub digest: Digest,
    pub size: u64,
    /// How the digest was established.
    pub pinned_by: PinSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_url: Option<String>,
    /// The file's signature (cosign's `.sig` or OpenPGP's `.asc`) and signing certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_url: Option<String>,
    /// The signature that satisfied the policy covering the file, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::policy::Evidence>,
}

impl LockedFile {
    /// Where the file's signature lies beside it, below `files/`: `.asc` for OpenPGP, `.sig`
    /// for cosign.
    pub fn signature_path(&self) -> String {
        let extension = match &self.signature_url {
            Some(url)
                if url
                    .split(['?', '#'])
                    .next()
                    .unwrap_or(url)
                    .ends_with(".asc") =>
            {
                "asc"
            }
            _ => "sig",
        };
        format!("{}.{extension}", self.path)
    }

    /// Where the file's signing certificate lies beside it, below `files/`.
    pub fn certificate_path(&self) -> String {
        format!("{}.cert", self.path)
    }

    /// The signature and certificate that travel with the file: (media path below `files/`,
    /// URL, digest), once the lock holds evidence for them.
    pub fn signature_files(&self) -> Vec<(String, String, Digest)> {
        let mut found = Vec::new();
        if let (Some(evidence), Some(url)) = (&self.signature, &self.signature_url) {
            found.push((self.signature_path(), url.clone(), evidence.signature));
            if let (Some(digest), Some(url)) = (evidence.certificate, &self.certificate_url) {
                found.push((self.certificate_path(), url.clone(), digest));
            }
        }
        found
    }

    pub fn key(&self) -> FileKey {
        FileKey {
            name: self.name.clone(),
            arch: self.arch.clone(),
        }
    }
}
