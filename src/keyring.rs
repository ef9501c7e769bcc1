//! Checking OpenPGP signatures: keyrings in binary or armored form, detached and cleartext
//! signatures, any key or subkey of the ring. Third-party archives (apt, yum) and the
//! enclave's trusted key over `SHA256SUMS` go through the same checks.
//! A leaf module: it uses nothing of the crate.

use std::io::Cursor;

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey};

/// Why a keyring or a cleartext-signed message was not accepted (the message follows the
/// file's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("cannot be read: {0}")]
    Read(String),
    #[error("{0}")]
    Unreadable(String),
    #[error("holds no OpenPGP public key")]
    NoKey,
    #[error("is not a signed message: {0}")]
    NotSigned(String),
    #[error("is not signed by any key of the keyring")]
    NoSigner,
}

/// Reads every public key of a keyring file.
pub fn read_keyring(bytes: &[u8]) -> Result<Vec<SignedPublicKey>, KeyringError> {
    let unreadable = |error: pgp::errors::Error| KeyringError::Unreadable(error.to_string());
    let keys: Vec<SignedPublicKey> = if bytes.starts_with(b"-----BEGIN") {
        SignedPublicKey::from_armor_many(Cursor::new(bytes))
            .map_err(unreadable)?
            .0
            .filter_map(Result::ok)
            .collect()
    } else {
        SignedPublicKey::from_bytes_many(Cursor::new(bytes))
            .map_err(unreadable)?
            .filter_map(Result::ok)
            .collect()
    };
    if keys.is_empty() {
        return Err(KeyringError::NoKey);
    }
    Ok(keys)
}

/// Checks an `InRelease` against `keys` and returns the signed text.
pub fn verify_inrelease(text: &str, keys: &[SignedPublicKey]) -> Result<String, KeyringError> {
    let (message, _) = CleartextSignedMessage::from_string(text)
        .map_err(|error| KeyringError::NotSigned(error.to_string()))?;
    for key in keys {
        if message.verify(key).is_ok()
            || key
                .public_subkeys
                .iter()
                .any(|subkey| message.verify(subkey).is_ok())
        {
            return Ok(message.signed_text());
        }
    }
    Err(KeyringError::NoSigner)
}

/// The text of an `InRelease` without checking its signature (`insecure = true` only).
pub fn unverified_inrelease(text: &str) -> Result<String, KeyringError> {
    let (message, _) = CleartextSignedMessage::from_string(text)
        .map_err(|error| KeyringError::NotSigned(error.to_string()))?;
    Ok(message.signed_text())
}

/// Why a detached signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature bytes are not an OpenPGP signature.
    #[error("the signature cannot be read: {0}")]
    Unreadable(String),
    /// No signature in it was made by any of the keys (or their subkeys).
    #[error("the signature does not match these keys")]
    NoMatch,
    /// A signature names one of the keys as its issuer but does not verify over these bytes:
    /// the data changed after signing (as gpg's "BAD signature").
    #[error(
        "the signature does not verify: the list was changed after signing, or signed by another key"
    )]
    Bad,
}

impl SignatureError {
    /// What the rejection says of a third party's signature file (`Release.gpg`).
    pub fn of_file(&self, file: &str) -> String {
        match self {
            SignatureError::NoMatch => format!("{file} holds no signature by a key of the keyring"),
            SignatureError::Bad => {
                format!("{file} is signed by a key of the keyring but does not match the file")
            }
            SignatureError::Unreadable(message) => message.clone(),
        }
    }
}

/// Checks a detached signature (armored or binary, one or several signatures) of `data`
/// against `keys` and their subkeys: accepted when any signature verifies with any of them.
/// The one detached check: third-party archives (`Release.gpg`, `repomd.xml.asc`) and the
/// enclave's trusted key over `SHA256SUMS` both come here.
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    keys: &[SignedPublicKey],
) -> Result<(), SignatureError> {
    verify_detached_with(&mut || Ok(Cursor::new(data)), signature, keys)
}

/// [`verify_detached`] of a file, streamed: it is read once per candidate key, never held.
pub fn verify_detached_file(
    path: &std::path::Path,
    signature: &[u8],
    keys: &[SignedPublicKey],
) -> Result<(), SignatureError> {
    verify_detached_with(
        &mut || std::fs::File::open(path).map(std::io::BufReader::new),
        signature,
        keys,
    )
}

fn verify_detached_with<R: std::io::Read>(
    open: &mut dyn FnMut() -> std::io::Result<R>,
    signature: &[u8],
    keys: &[SignedPublicKey],
) -> Result<(), SignatureError> {
    let unreadable = |error: pgp::errors::Error| SignatureError::Unreadable(error.to_string());
    let signatures: Vec<DetachedSignature> = if signature.starts_with(b"-----BEGIN") {
        DetachedSignature::from_armor_many(Cursor::new(signature))
            .map_err(unreadable)?
            .0
            .filter_map(Result::ok)
            .collect()
    } else {
        DetachedSignature::from_bytes_many(Cursor::new(signature))
            .map_err(unreadable)?
            .filter_map(Result::ok)
            .collect()
    };
    if signatures.is_empty() {
        return Err(SignatureError::Unreadable(
            "it holds no OpenPGP signature".to_string(),
        ));
    }
    let mut claimed = false;
    let unreadable_data = |error: std::io::Error| {
        SignatureError::Unreadable(format!("the data cannot be read: {error}"))
    };
    for signature in &signatures {
        for key in keys {
            if signature
                .signature
                .verify(key, open().map_err(unreadable_data)?)
                .is_ok()
            {
                return Ok(());
            }
            for subkey in &key.public_subkeys {
                if signature
                    .signature
                    .verify(subkey, open().map_err(unreadable_data)?)
                    .is_ok()
                {
                    return Ok(());
                }
            }
            claimed |= names_issuer(signature, key);
        }
    }
    if claimed {
        return Err(SignatureError::Bad);
    }
    Err(SignatureError::NoMatch)
}

/// Reads the keyring file `path` (relative to `workspace`); the error says why, for messages.
pub fn load(workspace: &std::path::Path, path: &str) -> Result<Vec<SignedPublicKey>, KeyringError> {
    let bytes = std::fs::read(workspace.join(path))
        .map_err(|error| KeyringError::Read(error.to_string()))?;
    read_keyring(&bytes)
}

/// Whether `signature` names `key` (or one of its subkeys) as its issuer.
fn names_issuer(signature: &DetachedSignature, key: &SignedPublicKey) -> bool {
    use pgp::types::KeyDetails;
    let signature = &signature.signature;
    let ids: Vec<pgp::types::KeyId> = std::iter::once(key.legacy_key_id())
        .chain(
            key.public_subkeys
                .iter()
                .map(|subkey| subkey.legacy_key_id()),
        )
        .collect();
    let fingerprints: Vec<pgp::types::Fingerprint> = std::iter::once(key.fingerprint())
        .chain(key.public_subkeys.iter().map(|subkey| subkey.fingerprint()))
        .collect();
    signature.issuer_key_id().iter().any(|id| ids.contains(id))
        || signature
            .issuer_fingerprint()
            .iter()
            .any(|fingerprint| fingerprints.contains(fingerprint))
}
