//! The core's error type: every way an input to the core can be unacceptable.

/// Why the core refused an input. Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A secret must hold between 1 and [`crate::Secret::MAX_LEN`] bytes.
    #[error("secret must be 1 to 128 bytes long, got {0}")]
    SecretLength(usize),
    /// Codes have 6, 7 or 8 digits (RFC 4226 section 5.3 requires at least 6).
    #[error("digits must be 6, 7 or 8, got {0}")]
    Digits(u64),
    /// A time step of zero seconds has no meaning.
    #[error("time step must be at least 1 second")]
    ZeroStep,
    /// Dynamic truncation needs at least 20 bytes of HMAC output (RFC 4226 section 5.3).
    #[error("HMAC output must be at least 20 bytes, got {0}")]
    MacLength(usize),
    /// Text that is not RFC 4648 base32.
    #[error("invalid base32: {0}")]
    Base32(&'static str),
    /// An algorithm name other than SHA1, SHA256 or SHA512.
    #[error("unknown algorithm {0:?} (expected SHA1, SHA256 or SHA512)")]
    UnknownAlgorithm(String),
    /// An otpauth:// URI that does not follow the Key URI Format.
    #[error("invalid otpauth URI: {0}")]
    Uri(&'static str),
    /// An otpauth:// URI without the required `secret` parameter.
    #[error("otpauth URI has no secret parameter")]
    MissingSecret,
    /// A PIN must be 4 to 8 ASCII digits.
    #[error("PIN must be 4 to 8 digits")]
    Pin,
}
