//! Checking signatures made by third parties (archive and repository keys): keyrings in
//! binary or armored form, detached and cleartext signatures, any key or subkey of the ring.
//! A leaf module: the sources use it, it uses nothing of the crate.

use std::io::Cursor;

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey};

/// Reads every public key of a keyring file.
pub fn read_keyring(bytes: &[u8]) -> Result<Vec<SignedPublicKey>, String> {
    let keys: Vec<SignedPublicKey> = if bytes.starts_with(b"-----BEGIN") {
        SignedPublicKey::from_armor_many(Cursor::new(bytes))
            .map_err(|error| error.to_string())?
            .0
            .filter_map(Result::ok)
            .collect()
    } else {
        SignedPublicKey::from_bytes_many(Cursor::new(bytes))
            .map_err(|error| error.to_string())?
            .filter_map(Result::ok)
            .collect()
    };
    if keys.is_empty() {
        return Err("holds no OpenPGP public key".to_string());
    }
    Ok(keys)
}

/// Checks an `InRelease` against `keys` and returns the signed text.
pub fn verify_inrelease(text: &str, keys: &[SignedPublicKey]) -> Result<String, String> {
    let (message, _) = CleartextSignedMessage::from_string(text)
        .map_err(|error| format!("is not a signed message: {error}"))?;
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
    Err("is not signed by any key of the keyring".to_string())
}

/// The text of an `InRelease` without checking its signature (`insecure = true` only).
pub fn unverified_inrelease(text: &str) -> Result<String, String> {
    let (message, _) = CleartextSignedMessage::from_string(text)
        .map_err(|error| format!("is not a signed message: {error}"))?;
    Ok(message.signed_text())
}

/// Checks a detached `Release.gpg` over `release` against `keys`.
pub fn verify_detached(
    release: &[u8],
    signature: &[u8],
    keys: &[SignedPublicKey],
) -> Result<(), String> {
    let signatures: Vec<DetachedSignature> = if signature.starts_with(b"-----BEGIN") {
        DetachedSignature::from_armor_many(Cursor::new(signature))
            .map_err(|error| error.to_string())?
            .0
            .filter_map(Result::ok)
            .collect()
    } else {
        DetachedSignature::from_bytes_many(Cursor::new(signature))
            .map_err(|error| error.to_string())?
            .filter_map(Result::ok)
            .collect()
    };
    for signature in &signatures {
        for key in keys {
            if signature.verify(key, release).is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|subkey| signature.verify(subkey, release).is_ok())
            {
                return Ok(());
            }
        }
    }
    Err("Release.gpg holds no signature by a key of the keyring".to_string())
}

/// Reads the keyring file `path` (relative to `workspace`); the error says why, for messages.
pub fn load(workspace: &std::path::Path, path: &str) -> Result<Vec<SignedPublicKey>, String> {
    let bytes =
        std::fs::read(workspace.join(path)).map_err(|error| format!("cannot be read: {error}"))?;
    read_keyring(&bytes)
}
