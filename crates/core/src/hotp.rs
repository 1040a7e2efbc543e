//! HOTP (RFC 4226) and TOTP (RFC 6238): the HMAC, dynamic truncation, and time steps.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use hmac::digest::core_api::{Block, BlockSizeUser};
use hmac::digest::crypto_common::KeySizeUser;
use hmac::digest::{Digest, KeyInit};
use hmac::{Hmac, Mac};

use crate::{Error, Secret};

/// The HMAC hash function of a token (RFC 6238 section 1.2 allows SHA-1, SHA-256, SHA-512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1, the default of RFC 4226 and of every authenticator app.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in otpauth:// URIs and in the test vector files.
    ///
    /// ```
    /// assert_eq!(cloud_otp_core::Algorithm::Sha256.as_str(), "SHA256");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Parses `SHA1`, `SHA256` or `SHA512` in any case, with or without a dash (`SHA-256`).
    ///
    /// ```
    /// use cloud_otp_core::Algorithm;
    /// assert_eq!("sha-512".parse::<Algorithm>().unwrap(), Algorithm::Sha512);
    /// assert!("MD5".parse::<Algorithm>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Ok(Algorithm::Sha1),
            "SHA256" => Ok(Algorithm::Sha256),
            "SHA512" => Ok(Algorithm::Sha512),
            _ => Err(Error::UnknownAlgorithm(s.chars().take(32).collect())),
        }
    }
}

/// The number of digits in a code: 6, 7 or 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digits(u8);

impl Digits {
    /// Six digits, what docs/product.md rule 1 requires.
    pub const SIX: Digits = Digits(6);

    /// Checks the count once; RFC 4226 section 5.3 asks for at least 6 and 8 is the most
    /// that 31 bits of truncated HMAC carry without bias worth the name.
    ///
    /// ```
    /// use cloud_otp_core::Digits;
    /// assert_eq!(Digits::new(8).unwrap().get(), 8);
    /// assert!(Digits::new(5).is_err());
    /// assert!(Digits::new(9).is_err());
    /// ```
    pub fn new(n: u64) -> Result<Self, Error> {
        match n {
            6..=8 => Ok(Digits(n as u8)),
            _ => Err(Error::Digits(n)),
        }
    }

    /// The count as a number.
    ///
    /// ```
    /// assert_eq!(cloud_otp_core::Digits::SIX.get(), 6);
    /// ```
    pub fn get(self) -> u8 {
        self.0
    }

    fn modulus(self) -> u32 {
        10u32.pow(u32::from(self.0))
    }
}

impl Default for Digits {
    fn default() -> Self {
        Digits::SIX
    }
}

/// The TOTP time step in seconds (RFC 6238 section 4.1 "X"), never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step(NonZeroU64);

impl Step {
    /// Sixty seconds, what docs/product.md rule 1 requires.
    pub const SIXTY: Step = Step(NonZeroU64::MIN.saturating_add(59));

    /// Checks that the step is at least one second.
    ///
    /// ```
    /// use cloud_otp_core::Step;
    /// assert_eq!(Step::new(30).unwrap().secs(), 30);
    /// assert!(Step::new(0).is_err());
    /// ```
    pub fn new(secs: u64) -> Result<Self, Error> {
        NonZeroU64::new(secs).map(Step).ok_or(Error::ZeroStep)
    }

    /// The step length in seconds.
    ///
    /// ```
    /// assert_eq!(cloud_otp_core::Step::SIXTY.secs(), 60);
    /// ```
    pub fn secs(self) -> u64 {
        self.0.get()
    }
}

impl Default for Step {
    fn default() -> Self {
        Step::SIXTY
    }
}

/// A one-time code: its value and how many digits it is shown with (leading zeros kept).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Code {
    value: u32,
    digits: Digits,
}

impl Code {
    /// The numeric value, below 10^digits.
    ///
    /// ```
    /// use cloud_otp_core::{Code, Digits, truncate};
    /// let code: Code = truncate(&[0u8; 20], Digits::SIX).unwrap();
    /// assert_eq!(code.value(), 0);
    /// assert_eq!(code.to_string(), "000000");
    /// ```
    pub fn value(self) -> u32 {
        self.value
    }

    /// How many digits the code has.
    ///
    /// ```
    /// use cloud_otp_core::{Digits, truncate};
    /// assert_eq!(truncate(&[0u8; 20], Digits::SIX).unwrap().digits(), Digits::SIX);
    /// ```
    pub fn digits(self) -> Digits {
        self.digits
    }

    /// The code as ASCII digits, leading zeros kept, in a fixed-size buffer, and how many of
    /// them there are: for comparisons that must not allocate, and for text without
    /// `core::fmt` (which the browser module leaves out to stay small).
    ///
    /// ```
    /// use cloud_otp_core::{Digits, truncate};
    /// let (ascii, n) = truncate(&[0u8; 20], Digits::SIX).unwrap().ascii();
    /// assert_eq!(&ascii[..n], b"000000");
    /// ```
    pub fn ascii(self) -> ([u8; 8], usize) {
        let mut out = [b'0'; 8];
        let n = usize::from(self.digits.get());
        let mut v = self.value;
        for slot in out[..n].iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        (out, n)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (buf, n) = self.ascii();
        for &b in &buf[..n] {
            fmt::Write::write_char(f, char::from(b))?;
        }
        Ok(())
    }
}

/// Codes are as sensitive as passwords while they are valid: `Debug` does not show them.
impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({} digits, redacted)", self.digits.get())
    }
}

/// An HMAC value of one of the [`Algorithm`]s: 20, 32 or 64 bytes. It is never shorter than
/// the 20 bytes dynamic truncation reads, so [`MacValue::truncate`] cannot fail; it reads as
/// its bytes (`&[u8]`).
#[derive(Clone)]
pub struct MacValue {
    bytes: [u8; 64],
    len: usize,
}

impl MacValue {
    /// Dynamic truncation (RFC 4226 section 5.3) of this value.
    ///
    /// ```
    /// use cloud_otp_core::{Algorithm, Digits, Secret, mac};
    /// let s = Secret::new(b"12345678901234567890".to_vec()).unwrap();
    /// assert_eq!(mac(Algorithm::Sha1, &s, 0).truncate(Digits::SIX).to_string(), "755224");
    /// ```
    pub fn truncate(&self, digits: Digits) -> Code {
        let offset = usize::from(self.bytes[self.len - 1] & 0x0f);
        code_at(&self.bytes, offset, digits)
    }
}

impl std::ops::Deref for MacValue {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A MAC is key material while its code is valid: `Debug` does not show it.
impl fmt::Debug for MacValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacValue({} bytes, redacted)", self.len)
    }
}

/// HMAC(secret, counter) with the counter as 8 big-endian bytes (RFC 4226 section 5.2).
///
/// ```
/// use cloud_otp_core::{Algorithm, Secret, mac};
/// let s = Secret::new(b"12345678901234567890".to_vec()).unwrap();
/// assert_eq!(mac(Algorithm::Sha1, &s, 0).len(), 20);
/// assert_eq!(mac(Algorithm::Sha256, &s, 0).len(), 32);
/// assert_eq!(mac(Algorithm::Sha512, &s, 0).len(), 64);
/// ```
pub fn mac(algorithm: Algorithm, secret: &Secret, counter: u64) -> MacValue {
    let msg = counter.to_be_bytes();
    let key = secret.as_bytes();
    match algorithm {
        Algorithm::Sha1 => hmac::<Hmac<sha1::Sha1>, sha1::Sha1>(key, &msg),
        Algorithm::Sha256 => hmac::<Hmac<sha2::Sha256>, sha2::Sha256>(key, &msg),
        Algorithm::Sha512 => hmac::<Hmac<sha2::Sha512>, sha2::Sha512>(key, &msg),
    }
}

/// The HMAC key as RFC 2104 section 2 prepares it: zero-padded to the hash's block size, or
/// hashed first when longer. HMAC's block-sized key constructor cannot fail, where the
/// slice one returns a `Result` whose error never happens.
fn key_block<D: Digest + BlockSizeUser>(key: &[u8]) -> Block<D> {
    let mut block = Block::<D>::default();
    if key.len() <= block.len() {
        block[..key.len()].copy_from_slice(key);
    } else {
        // Every supported hash's output (20 to 64 bytes) fits in its block (64 or 128).
        let hashed = D::digest(key);
        block[..hashed.len()].copy_from_slice(&hashed);
    }
    block
}

/// HMAC `M` with hash `D` (`Hmac<D>`), from the block-sized key of [`key_block`].
fn hmac<M, D>(key: &[u8], msg: &[u8]) -> MacValue
where
    M: KeyInit + KeySizeUser<KeySize = D::BlockSize> + Mac,
    D: Digest + BlockSizeUser,
{
    let mut m = <M as KeyInit>::new(&key_block::<D>(key));
    Mac::update(&mut m, msg);
    let out = m.finalize().into_bytes();
    let mut bytes = [0; 64];
    bytes[..out.len()].copy_from_slice(&out);
    MacValue {
        bytes,
        len: out.len(),
    }
}

/// The code of the 31 bits at `offset` of `mac`, which holds at least `offset + 4` bytes.
fn code_at(mac: &[u8], offset: usize, digits: Digits) -> Code {
    let bin = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    Code {
        value: bin % digits.modulus(),
        digits,
    }
}

/// Dynamic truncation of an already computed HMAC (RFC 4226 section 5.3), for callers that
/// computed the HMAC elsewhere, such as WebCrypto with a non-extractable key.
///
/// ```
/// use cloud_otp_core::{Digits, truncate};
/// // The HMAC-SHA-1 value of RFC 4226 section 5.4.
/// let mac = [0x1f, 0x86, 0x98, 0x69, 0x0e, 0x02, 0xca, 0x16, 0x61, 0x85, 0x50, 0xef, 0x7f, 0x19,
///            0xda, 0x8e, 0x94, 0x5b, 0x55, 0x5a];
/// assert_eq!(truncate(&mac, Digits::SIX).unwrap().to_string(), "872921");
/// assert!(truncate(&mac[..19], Digits::SIX).is_err());
/// ```
pub fn truncate(mac: &[u8], digits: Digits) -> Result<Code, Error> {
    let len = mac.len();
    if len < 20 {
        return Err(Error::MacLength(len));
    }
    // The low four bits of the last byte pick the offset: at most 15, so offset + 3 <= 18 < len.
    let offset = usize::from(mac[len - 1] & 0x0f);
    Ok(code_at(mac, offset, digits))
}

/// An HOTP code for `counter` (RFC 4226 section 5.3).
///
/// ```
/// use cloud_otp_core::{Algorithm, Digits, Secret, hotp};
/// let s = Secret::new(b"12345678901234567890".to_vec()).unwrap();
/// assert_eq!(hotp(Algorithm::Sha1, &s, 1, Digits::SIX).to_string(), "287082");
/// ```
pub fn hotp(algorithm: Algorithm, secret: &Secret, counter: u64, digits: Digits) -> Code {
    mac(algorithm, secret, counter).truncate(digits)
}

/// The TOTP counter T = floor(unix_secs / step) with T0 = 0 (RFC 6238 section 4.2).
///
/// ```
/// use cloud_otp_core::{Step, counter_at};
/// assert_eq!(counter_at(59, Step::SIXTY), 0);
/// assert_eq!(counter_at(60, Step::SIXTY), 1);
/// ```
pub fn counter_at(unix_secs: u64, step: Step) -> u64 {
    unix_secs / step.secs()
}

/// Seconds left before the code of `unix_secs` changes: from `step` down to 1.
///
/// ```
/// use cloud_otp_core::{Step, remaining_secs};
/// assert_eq!(remaining_secs(0, Step::SIXTY), 60);
/// assert_eq!(remaining_secs(59, Step::SIXTY), 1);
/// ```
pub fn remaining_secs(unix_secs: u64, step: Step) -> u64 {
    step.secs() - unix_secs % step.secs()
}

/// A TOTP code for the time `unix_secs` (RFC 6238 section 4.2).
///
/// ```
/// use cloud_otp_core::{Algorithm, Digits, Secret, Step, totp};
/// let s = Secret::new(b"12345678901234567890".to_vec()).unwrap();
/// let code = totp(Algorithm::Sha1, &s, 1111111109, Step::new(30).unwrap(), Digits::new(8).unwrap());
/// assert_eq!(code.to_string(), "07081804");
/// ```
pub fn totp(
    algorithm: Algorithm,
    secret: &Secret,
    unix_secs: u64,
    step: Step,
    digits: Digits,
) -> Code {
    hotp(algorithm, secret, counter_at(unix_secs, step), digits)
}
