//! Random identifiers, tokens and codes, and the hash under which tokens are stored. A leaf
//! module, so that storage (which draws audit ids) and crypto (which seals secrets) need not
//! import each other.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// SHA-256 of a high-entropy token (API key, session, pass), as stored in the database.
///
/// ```
/// use cloud_otp_server::ids::token_hash;
/// assert_eq!(token_hash("abc").len(), 64);
/// assert_ne!(token_hash("abc"), token_hash("abd"));
/// ```
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random bearer token: 32 bytes (256 bits) as unpadded base64url, 43 characters.
pub fn random_token() -> String {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    URL_SAFE_NO_PAD.encode(bytes.as_ref())
}

/// A random identifier (not a secret): 16 bytes as unpadded base64url, 22 characters.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Random bytes, for device secrets of authenticator apps.
pub fn random_bytes(n: usize) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(vec![0u8; n]);
    OsRng.fill_bytes(bytes.as_mut());
    bytes
}

/// A uniformly random string of `n` decimal digits (rejection sampling, so no digit is
/// more likely than another).
///
/// ```
/// use cloud_otp_server::ids::random_digits;
/// let code = random_digits(6);
/// assert_eq!(code.len(), 6);
/// assert!(code.bytes().all(|b| b.is_ascii_digit()));
/// ```
pub fn random_digits(n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut byte = [0u8; 1];
        OsRng.fill_bytes(&mut byte);
        // 250 is the largest multiple of 10 not above 256: bytes 250..=255 are dropped.
        if byte[0] < 250 {
            out.push(char::from(b'0' + byte[0] % 10));
        }
    }
    out
}
