//! Verifying signatures against a policy's trust material, with the Sigstore project's
//! verifier for keyless bundles (certificate chain to the trusted root, SCT, identity and
//! issuer, signature, log entry consistency) and established primitives for the rest:
//! cosign keys through sigstore's `CosignVerificationKey`, streamed blob signatures through
//! `p256` (a blob is hashed once, never held), certificate chains through `rustls-webpki`,
//! OpenPGP through the keyring module.
//!
//! Every function takes bytes already bounded by the caller and answers with the signer (for
//! the lock's evidence) or why the signature was refused (for the message).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::pkcs8::DecodePublicKey;
use sigstore::bundle::verify::VerificationPolicy;
use sigstore::crypto::{CosignVerificationKey, Signature};
use sigstore::trust::TrustRoot;
use x509_cert::der::{Decode, Encode};

use super::{LockedPolicy, Trust};
use crate::digest::Digest;

/// The media type of a cosign simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a cosign layer's base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The annotations of cosign's keyless tag signatures: the signing certificate (PEM) and the
/// transparency log's bundle (signed entry timestamp and entry).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The media type prefix of a Sigstore bundle (`…bundle.v0.3+json`).
pub const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// `codeSigning` (1.3.6.1.5.5.7.3.3), as DER value bytes: the usage Fulcio certificates carry.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// A policy's trust material, read and ready.
pub enum Trusted {
    Key {
        key: CosignVerificationKey,
        blob_key: Option<p256::ecdsa::VerifyingKey>,
        digest: Digest,
    },
    Keyless {
        root: Box<sigstore::trust::sigstore::SigstoreTrustRoot>,
        verifier: Box<sigstore::bundle::verify::Verifier>,
        identity: String,
        issuer: String,
    },
    Keyring {
        keys: Vec<pgp::composed::SignedPublicKey>,
        digest: Digest,
    },
}

impl Trusted {
    /// Reads `bytes` as `policy`'s material, after checking them against its digest.
    pub fn load(policy: &LockedPolicy, bytes: &[u8]) -> Result<Trusted, String> {
        let actual = Digest::of_bytes(bytes);
        if actual != policy.sha256 {
            return Err(format!(
                "{} has digest {actual}, but the lock pins {}",
                policy.material, policy.sha256
            ));
        }
        match policy.trust {
            Trust::Key => {
                let key = CosignVerificationKey::try_from_pem(bytes).map_err(|error| {
                    format!("{} is not a cosign public key: {error}", policy.material)
                })?;
                let blob_key = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|text| p256::ecdsa::VerifyingKey::from_public_key_pem(text).ok());
                Ok(Trusted::Key {
                    key,
                    blob_key,
                    digest: actual,
                })
            }
            Trust::Keyless => {
                let read = || {
                    sigstore::trust::sigstore::SigstoreTrustRoot::from_trusted_root_json_unchecked(
                        bytes,
                    )
                    .map_err(|error| {
                        format!(
                            "{} is not a Sigstore trusted root: {error}",
                            policy.material
                        )
                    })
                };
                let verifier = sigstore::bundle::verify::Verifier::new(Default::default(), read()?)
                    .map_err(|error| {
                        format!(
                            "{} cannot be used as a trusted root: {error}",
                            policy.material
                        )
                    })?;
                Ok(Trusted::Keyless {
                    root: Box::new(read()?),
                    verifier: Box::new(verifier),
                    identity: policy.identity.clone().unwrap_or_default(),
                    issuer: policy.issuer.clone().unwrap_or_default(),
                })
            }
            Trust::Keyring => crate::keyring::read_keyring(bytes)
                .map(|keys| Trusted::Keyring {
                    keys,
                    digest: actual,
                })
                .map_err(|error| format!("{} {error}", policy.material)),
        }
    }

    fn key_signer(digest: &Digest) -> String {
        format!("key {digest}")
    }

    fn identity_signer(identity: &str, issuer: &str) -> String {
        super::identity_signer(identity, issuer)
    }
}

/// The critical part of cosign's simple-signing payload that binds it to an image.
#[derive(serde::Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(serde::Deserialize)]
struct Critical {
    image: SignedImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(serde::Deserialize)]
struct SignedImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// Checks a cosign signature layer: the payload names `subject`, and `signature` (base64, from
/// the layer's annotation) is the policy key's signature over the payload, or (keyless) the
/// certificate and log entry in the layer's annotations verify as a Sigstore bundle over the
/// payload.
pub fn simple_signing(
    trusted: &Trusted,
    payload: &[u8],
    signature: &str,
    annotations: &BTreeMap<String, String>,
    subject: &Digest,
) -> Result<String, String> {
    let parsed: SimpleSigning = serde_json::from_slice(payload)
        .map_err(|error| format!("the payload is not cosign's simple signing: {error}"))?;
    if parsed.critical.kind != "cosign container image signature" {
        return Err(format!(
            "the payload's type is `{}`, not a cosign container image signature",
            parsed.critical.kind
        ));
    }
    if parsed.critical.image.digest != subject.to_string() {
        return Err(format!(
            "it signs {}, not {subject}",
            parsed.critical.image.digest
        ));
    }
    match trusted {
        Trusted::Key { key, digest, .. } => key
            .verify_signature(
                Signature::Base64Encoded(signature.trim().as_bytes()),
                payload,
            )
            .map(|()| Trusted::key_signer(digest))
            .map_err(|_| "it is not signed by the policy's key".to_string()),
        Trusted::Keyless { .. } => {
            let bundle = legacy_bundle(payload, signature, annotations)?;
            self::bundle(trusted, &bundle, &Digest::of_bytes(payload))
        }
        Trusted::Keyring { .. } => {
            Err("an OpenPGP keyring does not check cosign signatures".to_string())
        }
    }
}

/// The Sigstore bundle (v0.1) that a cosign keyless tag signature amounts to: its certificate
/// (and chain), its signature over the payload's digest, and the log entry with its signed
/// entry timestamp from the `dev.sigstore.cosign/bundle` annotation.
fn legacy_bundle(
    payload: &[u8],
    signature: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct RekorBundle {
        signed_entry_timestamp: String,
        payload: RekorPayload,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RekorPayload {
        body: String,
        integrated_time: i64,
        log_index: i64,
        #[serde(rename = "logID")]
        log_id: String,
    }
    let certificate = annotations.get(CERTIFICATE_ANNOTATION).ok_or(
        "a keyless policy needs the signer's certificate; this signature has none (signed with a key?)",
    )?;
    let rekor = annotations
        .get(REKOR_BUNDLE_ANNOTATION)
        .ok_or("the keyless signature carries no transparency-log bundle")?;
    let rekor: RekorBundle = serde_json::from_str(rekor)
        .map_err(|error| format!("its transparency-log bundle cannot be read: {error}"))?;
    // The leaf alone: the trusted root holds the authorities (a bundle must not carry them).
    let chain = [certificate_der(certificate.as_bytes())?];
    let log_id = hex::decode(&rekor.payload.log_id)
        .map_err(|_| "its transparency-log bundle names no valid log ID".to_string())?;
    let document = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {
                "certificates": chain
                    .iter()
                    .map(|der| serde_json::json!({"rawBytes": BASE64.encode(der)}))
                    .collect::<Vec<_>>(),
            },
            "tlogEntries": [{
                "logIndex": rekor.payload.log_index.to_string(),
                "logId": {"keyId": BASE64.encode(log_id)},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": rekor.payload.integrated_time.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": rekor.signed_entry_timestamp},
                "canonicalizedBody": rekor.payload.body,
            }],
        },
        "messageSignature": {
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": BASE64.encode(Digest::of_bytes(payload).bytes()),
            },
            "signature": signature.trim(),
        },
    });
    serde_json::to_vec(&document).map_err(|error| error.to_string())
}

/// Checks a Sigstore bundle over `subject` (an image's manifest digest or a file's digest).
/// Keyless: the library checks the certificate against the trusted root at signing time, its
/// SCT, the identity and issuer, the signature and the log entry's agreement with them; the
/// log's signed promise of inclusion (SET) is checked here against the root's log keys.
pub fn bundle(trusted: &Trusted, bytes: &[u8], subject: &Digest) -> Result<String, String> {
    let Trusted::Keyless {
        root,
        verifier,
        identity,
        issuer,
    } = trusted
    else {
        return Err(
            "a Sigstore bundle is checked by a keyless policy (identity, issuer, trusted_root)"
                .to_string(),
        );
    };
    let parsed: sigstore::bundle::Bundle = serde_json::from_slice(bytes)
        .map_err(|error| format!("it is not a Sigstore bundle: {error}"))?;
    check_inclusion_promise(root.as_ref(), &parsed)?;
    let policy = sigstore::bundle::verify::policy::Identity::new(identity, issuer);
    let digest: sigstore::bundle::verify::ArtifactDigest = subject.bytes().into();
    let outcome = futures_util::FutureExt::now_or_never(
        verifier.verify_digest_with(digest, parsed, &policy, true),
    )
    .ok_or_else(|| "the bundle verifier did not finish offline".to_string())?;
    outcome
        .map(|()| Trusted::identity_signer(identity, issuer))
        .map_err(|error| format!("the bundle does not verify: {error}"))
}

/// The log's signed entry timestamp over the bundle's one log entry, against the trusted
/// root's transparency-log keys (sigstore-rs leaves it to the caller).
fn check_inclusion_promise(
    root: &sigstore::trust::sigstore::SigstoreTrustRoot,
    bundle: &sigstore::bundle::Bundle,
) -> Result<(), String> {
    let entry = bundle
        .verification_material
        .as_ref()
        .and_then(|material| material.tlog_entries.first())
        .ok_or("the bundle holds no transparency-log entry")?;
    let promise = entry
        .inclusion_promise
        .as_ref()
        .ok_or("the bundle's log entry carries no signed inclusion promise")?;
    let log_id = entry
        .log_id
        .as_ref()
        .map(|id| hex::encode(&id.key_id))
        .ok_or("the bundle's log entry names no log")?;
    let keys = root
        .rekor_keys()
        .map_err(|error| format!("the trusted root's log keys: {error}"))?;
    let key = keys
        .get(&log_id)
        .ok_or_else(|| format!("the log {log_id} is not in the trusted root"))?;
    // Rekor signs the canonical JSON of the entry's body, time, log ID and index (keys in
    // code-point order).
    let payload = serde_json::to_string(&BTreeMap::from([
        (
            "body",
            serde_json::Value::from(BASE64.encode(&entry.canonicalized_body)),
        ),
        ("integratedTime", entry.integrated_time.into()),
        ("logID", log_id.clone().into()),
        ("logIndex", entry.log_index.into()),
    ]))
    .map_err(|error| error.to_string())?;
    CosignVerificationKey::try_from_der(key)
        .map_err(|error| format!("the log key of {log_id}: {error}"))?
        .verify_signature(
            Signature::Raw(&promise.signed_entry_timestamp),
            payload.as_bytes(),
        )
        .map_err(|_| format!("the log entry's inclusion promise is not signed by the log {log_id}"))
}

/// Checks a cosign blob signature of the file at `path` (hashed once, streamed): with the
/// policy's key, or with `certificate` chained to the trusted root and naming the policy's
/// identity and issuer. Returns the signer.
pub fn blob(
    trusted: &Trusted,
    path: &Path,
    signature: &[u8],
    certificate: Option<&[u8]>,
) -> Result<String, String> {
    let signature = decode_signature(signature)?;
    let (digest, _) = Digest::of_file(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let verify = |key: &p256::ecdsa::VerifyingKey| {
        key.verify_prehash(&digest.bytes(), &signature)
            .map_err(|_| "the signature does not match the file".to_string())
    };
    match trusted {
        Trusted::Key {
            blob_key, digest, ..
        } => {
            let key = blob_key
                .as_ref()
                .ok_or("blob signatures are checked with ECDSA P-256 keys (cosign's default)")?;
            verify(key).map(|()| Trusted::key_signer(digest))
        }
        Trusted::Keyless {
            root,
            identity,
            issuer,
            ..
        } => {
            let certificate = certificate
                .ok_or("a keyless policy needs the signer's certificate: set `certificate_url`")?;
            let der = certificate_der(certificate)?;
            let parsed = x509_cert::Certificate::from_der(&der)
                .map_err(|error| format!("the certificate cannot be read: {error}"))?;
            chain(root.as_ref(), &der, &parsed)?;
            sigstore::bundle::verify::policy::Identity::new(identity, issuer)
                .verify(&parsed)
                .map_err(|error| format!("the certificate is not the policy's signer: {error}"))?;
            let spki = parsed
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .map_err(|error| error.to_string())?;
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki)
                .map_err(|_| "the certificate's key is not ECDSA P-256".to_string())?;
            verify(&key).map(|()| Trusted::identity_signer(identity, issuer))
        }
        Trusted::Keyring { .. } => {
            Err("an OpenPGP keyring checks `.asc` signatures, not cosign's".to_string())
        }
    }
}

/// Checks an OpenPGP detached signature of the file at `path` against the keyring.
pub fn openpgp(trusted: &Trusted, path: &Path, signature: &[u8]) -> Result<String, String> {
    let Trusted::Keyring { keys, digest } = trusted else {
        return Err("an `.asc` signature is checked by a policy with a `keyring`".to_string());
    };
    crate::keyring::verify_detached_file(path, signature, keys)
        .map(|()| format!("keyring {digest}"))
        .map_err(|error| error.of_file("the signature"))
}

/// A cosign signature: base64 of DER (what `cosign sign-blob` writes), or DER itself.
pub fn decode_signature(bytes: &[u8]) -> Result<p256::ecdsa::Signature, String> {
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    let der = BASE64.decode(&text).unwrap_or_else(|_| bytes.to_vec());
    p256::ecdsa::Signature::from_der(&der)
        .map_err(|_| "the signature is not an ECDSA signature (base64 DER)".to_string())
}

/// A certificate as cosign writes it (base64 of PEM), as PEM, or as DER.
pub fn certificate_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    let pem_bytes = match BASE64.decode(&text) {
        Ok(decoded) if decoded.starts_with(b"-----BEGIN") => decoded,
        Ok(decoded) if !bytes.starts_with(b"-----BEGIN") => return Ok(decoded),
        _ => bytes.to_vec(),
    };
    if !pem_bytes.starts_with(b"-----BEGIN") {
        return Ok(pem_bytes);
    }
    let text = String::from_utf8_lossy(&pem_bytes);
    let body: String = text
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .collect();
    BASE64
        .decode(body.trim())
        .map_err(|_| "the certificate is not PEM, base64 PEM or DER".to_string())
}

/// The certificate chains to a certificate authority of the trusted root, for code signing,
/// at the time it was issued (Fulcio's certificates live minutes; the signature was made
/// while it was valid).
fn chain(
    root: &sigstore::trust::sigstore::SigstoreTrustRoot,
    der: &[u8],
    parsed: &x509_cert::Certificate,
) -> Result<(), String> {
    let authorities = root
        .fulcio_certs()
        .map_err(|error| format!("the trusted root's certificate authorities: {error}"))?;
    let anchors: Vec<_> = authorities
        .iter()
        .filter_map(|authority| webpki::anchor_from_trusted_cert(authority).ok())
        .collect();
    let leaf = rustls_pki_types::CertificateDer::from(der);
    let end_entity = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|error| format!("the certificate cannot be read: {error}"))?;
    let issued = parsed
        .tbs_certificate()
        .validity()
        .not_before
        .to_unix_duration();
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &authorities,
            rustls_pki_types::UnixTime::since_unix_epoch(issued),
            webpki::KeyUsage::required(CODE_SIGNING),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|error| {
            format!("the certificate does not chain to the trusted root's authorities: {error}")
        })
}

/// How a signature is carried, as the lock's evidence names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A cosign simple-signing payload with its signature in an annotation.
    Cosign,
    /// A Sigstore bundle.
    Bundle,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Cosign => "cosign",
            Format::Bundle => "bundle",
        }
    }

    /// The format of a signature manifest's layer, by its media type, the manifest's artifact
    /// type and whether it carries cosign's signature annotation.
    pub fn of_layer(
        media_type: &str,
        artifact_type: Option<&str>,
        annotations: &BTreeMap<String, String>,
    ) -> Option<Format> {
        if media_type == SIMPLE_SIGNING && annotations.contains_key(SIGNATURE_ANNOTATION) {
            Some(Format::Cosign)
        } else if media_type.starts_with(BUNDLE_PREFIX)
            || artifact_type.is_some_and(|kind| kind.starts_with(BUNDLE_PREFIX))
        {
            Some(Format::Bundle)
        } else {
            None
        }
    }
}

/// Checks one signature layer (its bytes and annotations) over the image manifest `subject`.
pub fn layer(
    trusted: &Trusted,
    format: Format,
    annotations: &BTreeMap<String, String>,
    bytes: &[u8],
    subject: &Digest,
) -> Result<String, String> {
    match format {
        Format::Cosign => simple_signing(
            trusted,
            bytes,
            annotations
                .get(SIGNATURE_ANNOTATION)
                .map_or("", String::as_str),
            annotations,
            subject,
        ),
        Format::Bundle => bundle(trusted, bytes, subject),
    }
}
