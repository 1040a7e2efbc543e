//! The PIN-in-the-key derivation: the HMAC key of a PIN-protected device is
//! HKDF-SHA-256(seed, salt, info = PIN) (RFC 5869), so a wrong PIN gives wrong codes.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::{Error, Secret};

/// The HKDF salt shared by the browser (WebCrypto deriveKey) and the core.
pub const PIN_SALT: &[u8] = b"cloud-otp pin v1";

/// Derives the 20-byte HMAC-SHA-1 key of a device from its random seed and the trainee's PIN.
///
/// The server only ever stores the result; the browser keeps the seed as a non-extractable
/// HKDF key and derives the same bytes with WebCrypto.
///
/// ```
/// use cloud_otp_core::{Secret, derive_pin_key};
/// let seed = Secret::new(vec![9; 20]).unwrap();
/// let a = derive_pin_key(&seed, "1234").unwrap();
/// let b = derive_pin_key(&seed, "1235").unwrap();
/// assert_eq!(a.as_bytes().len(), 20);
/// assert_ne!(a, b);
/// assert!(derive_pin_key(&seed, "12a4").is_err());
/// ```
pub fn derive_pin_key(seed: &Secret, pin: &str) -> Result<Secret, Error> {
    if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Pin);
    }
    let hk = Hkdf::<Sha256>::new(Some(PIN_SALT), seed.as_bytes());
    let mut okm = vec![0u8; 20];
    // 20 bytes is far below HKDF-SHA-256's limit of 255 * 32 (RFC 5869 section 2.3).
    hk.expand(pin.as_bytes(), &mut okm)
        .map_err(|_| Error::Pin)?;
    Secret::new(okm)
}
