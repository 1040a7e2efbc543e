//! The shared secret of an OTP device: zeroized on drop, never printed.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;

/// Key material shared by a device and the server (the "K" of RFC 4226).
///
/// The bytes are wiped from memory when the value is dropped, and neither `Debug` nor any
/// error message ever shows them.
///
/// ```
/// use cloud_otp_core::Secret;
/// let s = Secret::new(vec![7; 20]).unwrap();
/// assert_eq!(s.as_bytes().len(), 20);
/// assert_eq!(format!("{s:?}"), "Secret(20 bytes, redacted)");
/// assert!(Secret::new(Vec::new()).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The largest secret accepted: 128 bytes, the block size of SHA-512.
    pub const MAX_LEN: usize = 128;

    /// Wraps key bytes; refuses an empty key or one longer than [`Secret::MAX_LEN`].
    ///
    /// ```
    /// use cloud_otp_core::Secret;
    /// assert!(Secret::new(vec![1; 129]).is_err());
    /// ```
    pub fn new(bytes: Vec<u8>) -> Result<Self, Error> {
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            let len = bytes.len();
            let mut bytes = bytes;
            bytes.zeroize();
            return Err(Error::SecretLength(len));
        }
        Ok(Secret(bytes))
    }

    /// Decodes a base32 secret (RFC 4648, padding optional, any case).
    ///
    /// ```
    /// use cloud_otp_core::Secret;
    /// let s = Secret::from_base32("GEZDGNBVGY3TQOJQ").unwrap();
    /// assert_eq!(s.as_bytes(), b"1234567890");
    /// ```
    pub fn from_base32(text: &str) -> Result<Self, Error> {
        Self::new(crate::base32::decode(text)?)
    }

    /// The key bytes, for computing an HMAC or encrypting them at rest.
    ///
    /// ```
    /// use cloud_otp_core::Secret;
    /// assert_eq!(Secret::new(vec![1, 2]).unwrap().as_bytes(), &[1, 2]);
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key as unpadded base32, as authenticator apps expect it in an otpauth:// URI.
    ///
    /// ```
    /// use cloud_otp_core::Secret;
    /// assert_eq!(Secret::new(b"1234567890".to_vec()).unwrap().to_base32(), "GEZDGNBVGY3TQOJQ");
    /// ```
    pub fn to_base32(&self) -> String {
        crate::base32::encode(&self.0, false)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.0.len())
    }
}
