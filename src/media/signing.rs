//! The bundle signing key (OpenPGP, ed25519): created on first use in the user's config
//! directory (never in the workspace or on the media) or read from `--signing-key FILE`; signs
//! `SHA256SUMS` with a detached signature that `gpg --verify` accepts; checks such signatures
//! against the public key the enclave pins.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use crate::keyring::SignatureError;
use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, KeyType,
    SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};

/// Why signing or checking a signature failed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot read the signing key {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not an OpenPGP secret key: {message}")]
    BadSecretKey { path: PathBuf, message: String },
    #[error("{path} is not an OpenPGP public key: {message}")]
    BadPublicKey { path: PathBuf, message: String },
    #[error("cannot create a signing key at {path}: {message}")]
    Create { path: PathBuf, message: String },
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// A loaded secret key.
pub struct Signer {
    key: SignedSecretKey,
}

impl Signer {
    /// The default key location: `<config dir>/airgap/signing-key.asc`.
    pub fn default_path() -> PathBuf {
        dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("airgap")
            .join("signing-key.asc")
    }

    /// Loads the key at `path`, creating it first when `create` is set and it is missing.
    /// Returns the signer and whether a new key was made.
    pub fn load_or_create(path: &Path, create: bool) -> Result<(Signer, bool), SigningError> {
        if create && !path.exists() {
            let signer = Signer::generate().map_err(|message| SigningError::Create {
                path: path.to_path_buf(),
                message,
            })?;
            let armored = signer
                .key
                .to_armored_string(ArmorOptions::default())
                .map_err(|error| SigningError::Create {
                    path: path.to_path_buf(),
                    message: error.to_string(),
                })?;
            write_private(path, armored.as_bytes()).map_err(|error| SigningError::Create {
                path: path.to_path_buf(),
                message: error.to_string(),
            })?;
            return Ok((signer, true));
        }
        let bytes = std::fs::read(path).map_err(|source| SigningError::Read {
            path: path.to_path_buf(),
            cause: source,
        })?;
        let parsed = if bytes.starts_with(b"-----BEGIN") {
            SignedSecretKey::from_armor_single(Cursor::new(&bytes)).map(|(key, _)| key)
        } else {
            SignedSecretKey::from_bytes(Cursor::new(&bytes))
        };
        let key = parsed.map_err(|error| SigningError::BadSecretKey {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
        Ok((Signer { key }, false))
    }

    fn generate() -> Result<Signer, String> {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let user_id = format!("airgap bundle signing key ({})", host.trim());
        let mut params = SecretKeyParamsBuilder::default();
        // v4 EdDSA ("legacy" ed25519) is what gpg 2.2, apt and dnf on today's nodes verify.
        params
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id);
        let params = params.build().map_err(|error| error.to_string())?;
        let key = params
            .generate(rand::thread_rng())
            .map_err(|error| error.to_string())?;
        Ok(Signer { key })
    }

    /// The public half, armored, for `DIR/keys/airgap.asc`.
    pub fn public_key_armored(&self) -> Result<String, SigningError> {
        SignedPublicKey::from(self.key.clone())
            .to_armored_string(ArmorOptions::default())
            .map_err(|error| SigningError::Sign(error.to_string()))
    }

    /// The key's fingerprint, hex.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint().to_string()
    }

    /// An armored detached signature over `data`.
    pub fn sign_detached(&self, data: &[u8]) -> Result<String, SigningError> {
        let signature = DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &self.key.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .map_err(|error| SigningError::Sign(error.to_string()))?;
        signature
            .to_armored_string(ArmorOptions::default())
            .map_err(|error| SigningError::Sign(error.to_string()))
    }

    /// `text` as an armored cleartext-signed message (an apt `InRelease`).
    pub fn sign_cleartext(&self, text: &str) -> Result<String, SigningError> {
        CleartextSignedMessage::sign(
            rand::thread_rng(),
            text,
            &self.key.primary_key,
            &Password::empty(),
        )
        .and_then(|message| message.to_armored_string(ArmorOptions::default()))
        .map_err(|error| SigningError::Sign(error.to_string()))
    }

    /// Whether `signature` (armored) is a valid signature of `data` by this key.
    pub fn signed(&self, data: &[u8], signature: &[u8]) -> bool {
        let public = SignedPublicKey::from(self.key.clone());
        check_detached(&public, data, signature).is_ok()
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    // tempfile creates the file 0600: the secret key is never readable by others, not even
    // for a moment.
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut temporary = tempfile::Builder::new()
        .prefix(crate::media::tree::TEMPORARY_PREFIX)
        .tempfile_in(directory)?;
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    temporary
        .persist(path)
        .map(|_| ())
        .map_err(|error| error.error)
}

/// Reads a public key (armored or binary) that the enclave trusts.
pub fn read_public_key(path: &Path) -> Result<SignedPublicKey, SigningError> {
    let bytes = std::fs::read(path).map_err(|source| SigningError::Read {
        path: path.to_path_buf(),
        cause: source,
    })?;
    let parsed = if bytes.starts_with(b"-----BEGIN") {
        SignedPublicKey::from_armor_single(Cursor::new(&bytes)).map(|(key, _)| key)
    } else {
        SignedPublicKey::from_bytes(Cursor::new(&bytes))
    };
    parsed.map_err(|error| SigningError::BadPublicKey {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

/// The fingerprint of a public key, hex.
pub fn fingerprint(key: &SignedPublicKey) -> String {
    key.fingerprint().to_string()
}

/// Checks an armored (or binary) detached signature of `data` against `key` and its subkeys.
pub fn check_detached(
    key: &SignedPublicKey,
    data: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    crate::keyring::verify_detached(data, signature, std::slice::from_ref(key))
}

impl crate::hint::Hint for SigningError {
    fn hint(&self) -> Option<String> {
        match self {
            SigningError::BadSecretKey { .. } => Some("pass an armored or binary secret key exported without a passphrase (`gpg --export-secret-keys --armor`)".to_string()),
            SigningError::BadPublicKey { .. } => Some("pass the public key the enclave trusts, e.g. the keys/airgap.asc of media you made yourself".to_string()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
