//! Secrets at rest: the master key, AES-256-GCM for device secrets, hashes for tokens and
//! activation codes, and the random tokens the server hands out.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cloud_otp_core::Secret;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

// Kept here too, where callers found them before they had modules of their own.
pub use crate::data_dir::write_private_file;
pub use crate::ids::{random_bytes, random_digits, random_id, random_token, token_hash};

/// The name of the key file in the data directory.
pub const KEY_FILE: &str = "master.key";

/// The name of the file in the data directory holding the extra master keys (one per line or
/// comma-separated) when CLOUD_OTP_EXTRA_MASTER_KEYS is unset. Unlike the environment, a
/// file can change under a running server, which re-reads both files on SIGHUP.
pub const EXTRA_KEYS_FILE: &str = "extra-master.keys";

/// The environment variable holding the master key as 64 hexadecimal digits.
pub const KEY_ENV: &str = "CLOUD_OTP_MASTER_KEY";

/// The environment variable holding more master keys, comma-separated, that open secrets but
/// never seal them: the other keys of a rotation in progress (docs/security.md).
pub const EXTRA_KEYS_ENV: &str = "CLOUD_OTP_EXTRA_MASTER_KEYS";

/// Why the master key or a stored secret could not be used. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key text is not 64 hexadecimal digits (32 bytes).
    #[error("the master key must be 64 hexadecimal digits (32 bytes)")]
    KeyFormat,
    /// The key file could not be read or created.
    #[error("master key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A key file holds something other than keys of 64 hexadecimal digits. Names the file,
    /// never its content.
    #[error("master key file {path}: each key must be 64 hexadecimal digits (32 bytes)")]
    KeyFileFormat {
        /// The file.
        path: String,
    },
    /// A stored device secret does not decrypt: wrong master key or tampered row.
    #[error("a stored device secret could not be decrypted")]
    Decrypt,
    /// A stored device secret is sealed under a master key this server does not have: a
    /// rotation (docs/security.md) reached this database before this server was given the
    /// new key.
    #[error(
        "a stored device secret is sealed under master key id {0}, which this server does \
         not have: give it the new key (in the key files, then SIGHUP; or in \
         CLOUD_OTP_MASTER_KEY or CLOUD_OTP_EXTRA_MASTER_KEYS, then restart)"
    )]
    UnknownKey(String),
}

/// The server's 32-byte master key; every other key is derived from it (RFC 5869 HKDF).
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

impl MasterKey {
    /// Parses 64 hexadecimal digits (surrounding whitespace ignored).
    ///
    /// ```
    /// use cloud_otp_server::crypto::MasterKey;
    /// assert!(MasterKey::from_hex(&"ab".repeat(32)).is_ok());
    /// assert!(MasterKey::from_hex("abcd").is_err());
    /// ```
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), key.as_mut()).map_err(|_| CryptoError::KeyFormat)?;
        Ok(MasterKey(key))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        MasterKey(key)
    }

    /// The key from `env_value` (CLOUD_OTP_MASTER_KEY) when given, otherwise from the key file
    /// in `data_dir`, which is created with mode 0600 on first start.
    pub fn load_or_create(env_value: Option<&str>, data_dir: &Path) -> Result<Self, CryptoError> {
        if let Some(text) = env_value {
            return Self::from_hex(text);
        }
        let path = data_dir.join(KEY_FILE);
        let file_err = |source| CryptoError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path).map(Zeroizing::new) {
            Ok(text) => Self::from_hex(&text).map_err(|_| CryptoError::KeyFileFormat {
                path: path.display().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let text = Zeroizing::new(hex::encode(key.0.as_ref()));
                write_private_file(&path, text.as_bytes()).map_err(file_err)?;
                Ok(key)
            }
            Err(e) => Err(file_err(e)),
        }
    }
}

impl MasterKey {
    /// Parses a list of keys separated by commas or line breaks (as in
    /// CLOUD_OTP_EXTRA_MASTER_KEYS or its file); empty entries are skipped.
    ///
    /// ```
    /// use cloud_otp_server::crypto::MasterKey;
    /// let two = format!("{}, {}", "ab".repeat(32), "cd".repeat(32));
    /// assert_eq!(MasterKey::parse_list(&two).unwrap().len(), 2);
    /// let lines = format!("{}\n{}\n", "ab".repeat(32), "cd".repeat(32));
    /// assert_eq!(MasterKey::parse_list(&lines).unwrap().len(), 2);
    /// assert!(MasterKey::parse_list("").unwrap().is_empty());
    /// assert!(MasterKey::parse_list("abcd").is_err());
    /// ```
    pub fn parse_list(text: &str) -> Result<Vec<Self>, CryptoError> {
        text.split([',', '\n', '\r'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Self::from_hex)
            .collect()
    }
}

/// Where one of the two key settings came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable, fixed for the life of the process.
    Environment(&'static str),
    /// A file in the data directory (for the extra keys, possibly absent: no extra keys).
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Environment(name) => f.write_str(name),
            KeySource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A key ring as a server resolves it, with where each part came from.
#[derive(Debug)]
pub struct LoadedKeys {
    /// The ring.
    pub crypto: Crypto,
    /// Where the primary key came from.
    pub primary: KeySource,
    /// Where the extra keys came from.
    pub extra: KeySource,
}

impl LoadedKeys {
    /// Whether both parts came from the environment, so reading them again can only give
    /// the same ring: a process cannot see changes to its own environment made outside it.
    pub fn all_from_environment(&self) -> bool {
        matches!(
            (&self.primary, &self.extra),
            (KeySource::Environment(_), KeySource::Environment(_))
        )
    }
}

/// Resolves the key ring the way `serve` does at startup and on SIGHUP, and
/// `rotate-master-key` does: the primary key from `primary_env` (CLOUD_OTP_MASTER_KEY) when
/// set, otherwise from [`KEY_FILE`] in `data_dir`; the extra keys from `extra_env`
/// (CLOUD_OTP_EXTRA_MASTER_KEYS) when set, otherwise from [`EXTRA_KEYS_FILE`] when it exists.
/// A missing key file is created (0600) only when `create` is set; otherwise it is an error,
/// so a reload or a rotation never invents a key.
///
/// ```
/// use cloud_otp_server::crypto::{KeySource, load_key_ring};
/// let dir = tempfile::tempdir().unwrap();
/// let key = "ab".repeat(32);
/// let ring = load_key_ring(Some(&key), None, dir.path(), false).unwrap();
/// assert_eq!(ring.crypto.key_count(), 1);
/// assert!(matches!(ring.extra, KeySource::File(_)));
/// assert!(load_key_ring(None, None, dir.path(), false).is_err());
/// let created = load_key_ring(None, Some(&key), dir.path(), true).unwrap();
/// assert_eq!(created.crypto.key_count(), 2);
/// ```
pub fn load_key_ring(
    primary_env: Option<&str>,
    extra_env: Option<&str>,
    data_dir: &Path,
    create: bool,
) -> Result<LoadedKeys, CryptoError> {
    let (master, primary) = match primary_env {
        Some(text) => (MasterKey::from_hex(text)?, KeySource::Environment(KEY_ENV)),
        None if create => (
            MasterKey::load_or_create(None, data_dir)?,
            KeySource::File(data_dir.join(KEY_FILE)),
        ),
        None => {
            let path = data_dir.join(KEY_FILE);
            let text = std::fs::read_to_string(&path)
                .map(Zeroizing::new)
                .map_err(|source| CryptoError::KeyFile {
                    path: path.display().to_string(),
                    source,
                })?;
            let key = MasterKey::from_hex(&text).map_err(|_| CryptoError::KeyFileFormat {
                path: path.display().to_string(),
            })?;
            (key, KeySource::File(path))
        }
    };
    let (extras, extra) = match extra_env {
        Some(text) => (
            MasterKey::parse_list(text)?,
            KeySource::Environment(EXTRA_KEYS_ENV),
        ),
        None => {
            let path = data_dir.join(EXTRA_KEYS_FILE);
            let keys = match std::fs::read_to_string(&path).map(Zeroizing::new) {
                Ok(text) => {
                    MasterKey::parse_list(&text).map_err(|_| CryptoError::KeyFileFormat {
                        path: path.display().to_string(),
                    })?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(source) => {
                    return Err(CryptoError::KeyFile {
                        path: path.display().to_string(),
                        source,
                    });
                }
            };
            (keys, KeySource::File(path))
        }
    };
    Ok(LoadedKeys {
        crypto: Crypto::with_others(&master, &extras),
        primary,
        extra,
    })
}

/// The keys derived from one master key.
struct KeySet {
    /// Names the master key in each ciphertext it sealed (not secret: an HKDF output).
    id: String,
    cipher: Aes256Gcm,
    pepper: Zeroizing<[u8; 32]>,
    check: String,
}

impl KeySet {
    fn derive(master: &MasterKey) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"cloud-otp"), master.0.as_ref());
        let derive = |info: &[u8]| {
            let mut out = Zeroizing::new([0u8; 32]);
            // 32 bytes is far below HKDF-SHA-256's limit of 255 * 32 (RFC 5869 section 2.3).
            hk.expand(info, out.as_mut()).unwrap_or_default();
            out
        };
        let enc = derive(b"device secrets v1");
        let pepper = derive(b"activation codes v1");
        let check = hex::encode(derive(b"key check v1").as_ref());
        let id = hex::encode(&derive(b"key id v1")[..8]);
        let cipher = Aes256Gcm::new(enc.as_ref().into());
        KeySet {
            id,
            cipher,
            pepper,
            check,
        }
    }

    fn open(&self, device_id: &str, bytes: &[u8]) -> Option<Secret> {
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ct) = bytes.split_at(12);
        let payload = Payload {
            msg: ct,
            aad: device_id.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .ok()?;
        Secret::new(plain).ok()
    }

    fn activation_hash(&self, tenant_id: &str, user_id: &str, code: &str) -> String {
        // Keys of any length are accepted by HMAC (RFC 2104 section 2).
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.pepper.as_ref()) else {
            return String::new();
        };
        for field in [tenant_id, user_id, code] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The keys derived from the master key and the operations that use them.
///
/// During a master-key rotation a server holds a key ring: the primary key seals new secrets
/// and hashes new activation codes; the other keys (the one being retired, or the next one
/// before every server has it) still open secrets and check activation codes. Each sealed
/// secret names its key, so opening one never has to guess.
pub struct Crypto {
    primary: KeySet,
    others: Vec<KeySet>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Crypto(redacted)")
    }
}

impl Crypto {
    /// Derives the device-secret key, the activation-code pepper and the key check value.
    pub fn new(master: &MasterKey) -> Self {
        Self::with_others(master, &[])
    }

    /// A key ring: `primary` seals, every key opens (see the type's documentation).
    ///
    /// ```
    /// use cloud_otp_core::Secret;
    /// use cloud_otp_server::crypto::{Crypto, MasterKey};
    /// let (old, new) = (MasterKey::generate(), MasterKey::generate());
    /// let s = Secret::new(vec![7; 20]).unwrap();
    /// let sealed_old = Crypto::new(&old).seal_secret("d1", &s);
    /// let ring = Crypto::with_others(&new, &[old]);
    /// assert_eq!(ring.open_secret("d1", &sealed_old).unwrap(), s);
    /// assert!(!ring.is_sealed_with_primary(&sealed_old));
    /// assert!(ring.is_sealed_with_primary(&ring.seal_secret("d1", &s)));
    /// assert!(Crypto::new(&new).open_secret("d1", &sealed_old).is_err());
    /// ```
    pub fn with_others(primary: &MasterKey, others: &[MasterKey]) -> Self {
        let primary = KeySet::derive(primary);
        let mut ring: Vec<KeySet> = Vec::new();
        for key in others {
            let set = KeySet::derive(key);
            if set.id != primary.id && ring.iter().all(|k| k.id != set.id) {
                ring.push(set);
            }
        }
        Crypto {
            primary,
            others: ring,
        }
    }

    fn keys(&self) -> impl Iterator<Item = &KeySet> {
        std::iter::once(&self.primary).chain(self.others.iter())
    }

    /// The primary key's id, the non-secret name that prefixes every ciphertext it seals.
    pub fn key_id(&self) -> &str {
        &self.primary.id
    }

    /// How many distinct keys the ring holds, the primary included.
    pub fn key_count(&self) -> usize {
        1 + self.others.len()
    }

    /// A value that identifies the master key without revealing it; stored in the database so
    /// a server started with another key refuses to run instead of failing every verification.
    pub fn key_check(&self) -> &str {
        &self.primary.check
    }

    /// The check values of every key in the ring, the primary first.
    pub fn key_checks(&self) -> Vec<&str> {
        self.keys().map(|k| k.check.as_str()).collect()
    }

    /// Encrypts a device secret with a random 96-bit nonce; the device id is the associated
    /// data, so a ciphertext copied to another device's row does not decrypt.
    /// Returns `KEY_ID:base64(nonce || ciphertext || tag)`, where KEY_ID names the primary key.
    pub fn seal_secret(&self, device_id: &str, secret: &Secret) -> String {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: device_id.as_bytes(),
        };
        // Encryption of a short message with a valid key and nonce cannot fail.
        let ct = self
            .primary
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{}:{}", self.primary.id, STANDARD.encode(out))
    }

    /// Whether `sealed` is sealed under the primary key (what a rotation leaves everywhere).
    pub fn is_sealed_with_primary(&self, sealed: &str) -> bool {
        sealed
            .split_once(':')
            .is_some_and(|(id, _)| id == self.primary.id)
    }

    /// Decrypts what [`Crypto::seal_secret`] produced for the same device id, with the key the
    /// ciphertext names. Ciphertexts from before key ids (bare base64) are tried with each key.
    ///
    /// ```
    /// use cloud_otp_core::Secret;
    /// use cloud_otp_server::crypto::{Crypto, MasterKey};
    /// let c = Crypto::new(&MasterKey::generate());
    /// let s = Secret::new(vec![9; 20]).unwrap();
    /// let sealed = c.seal_secret("dev1", &s);
    /// assert_eq!(c.open_secret("dev1", &sealed).unwrap(), s);
    /// assert!(c.open_secret("dev2", &sealed).is_err());
    /// ```
    pub fn open_secret(&self, device_id: &str, sealed: &str) -> Result<Secret, CryptoError> {
        let (key_id, text) = match sealed.split_once(':') {
            Some((id, text)) => (Some(id), text),
            None => (None, sealed),
        };
        let bytes = STANDARD.decode(text).map_err(|_| CryptoError::Decrypt)?;
        match key_id {
            Some(id) => {
                let key = self
                    .keys()
                    .find(|k| k.id == id)
                    .ok_or_else(|| CryptoError::UnknownKey(id.chars().take(16).collect()))?;
                key.open(device_id, &bytes).ok_or(CryptoError::Decrypt)
            }
            None => self
                .keys()
                .find_map(|k| k.open(device_id, &bytes))
                .ok_or(CryptoError::Decrypt),
        }
    }

    /// A keyed hash of an activation code. Six digits are only a million values, so a plain
    /// hash would be reversed by trying them all; the pepper from the master key prevents that
    /// for anyone holding only the database. Tenant and user are bound in so a code issued to
    /// one user never matches for another.
    pub fn activation_hash(&self, tenant_id: &str, user_id: &str, code: &str) -> String {
        self.primary.activation_hash(tenant_id, user_id, code)
    }

    /// Whether `code` is the activation code whose hash is `stored`, under any key of the
    /// ring (a code issued before a rotation stays usable while the old key is kept).
    /// Compares in constant time.
    pub fn activation_matches(
        &self,
        tenant_id: &str,
        user_id: &str,
        code: &str,
        stored: &str,
    ) -> bool {
        self.keys().fold(false, |found, k| {
            let given = k.activation_hash(tenant_id, user_id, code);
            found | bool::from(given.as_bytes().ct_eq(stored.as_bytes()))
        })
    }
}

/// The key ring of a running server, replaced as a whole when the server reloads its keys
/// (SIGHUP). Each request takes the current ring with one uncontended read lock and an
/// [`Arc`] clone, and keeps that ring to its end, so a reload never changes keys under a
/// request; a writer holds the lock only to swap one pointer.
pub struct SharedCrypto(RwLock<Arc<Crypto>>);

impl std::fmt::Debug for SharedCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCrypto(redacted)")
    }
}

impl SharedCrypto {
    /// Starts with `crypto`.
    pub fn new(crypto: Crypto) -> Self {
        SharedCrypto(RwLock::new(Arc::new(crypto)))
    }

    /// The current ring.
    ///
    /// ```
    /// use cloud_otp_server::crypto::{Crypto, MasterKey, SharedCrypto};
    /// let shared = SharedCrypto::new(Crypto::new(&MasterKey::generate()));
    /// let before = shared.current();
    /// shared.replace(Crypto::new(&MasterKey::generate()));
    /// assert_ne!(before.key_id(), shared.current().key_id());
    /// ```
    pub fn current(&self) -> Arc<Crypto> {
        // Only a pointer swap happens under the write lock, which cannot panic, so the lock
        // is never poisoned in practice; if it were, the pointer inside is still whole.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `crypto` the ring of every request that starts from now on.
    pub fn replace(&self, crypto: Crypto) {
        let new = Arc::new(crypto);
        let old = std::mem::replace(
            &mut *self.0.write().unwrap_or_else(PoisonError::into_inner),
            new,
        );
        // The old ring is dropped outside the lock, so a writer never holds readers up for
        // longer than the swap; requests still using it keep it alive until they finish.
        drop(old);
    }
}
