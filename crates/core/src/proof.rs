//! The proof of a stored key: what a browser sends with its registration to show that the key
//! it kept, read back from its storage, is the key it sends to the server.
//!
//! The proof is the HMAC-SHA-1 of the counter [`PROOF_COUNTER`] under the device key, computed
//! in the browser with the key as IndexedDB gave it back. No TOTP step ever reaches that
//! counter (it is 2^64 - 1 minutes after 1970), so a proof is never a code that a verification
//! would accept, and a code shown later is never a used one.

use subtle::ConstantTimeEq;

use crate::{Algorithm, Secret, mac};

/// The counter whose HMAC is the proof.
pub const PROOF_COUNTER: u64 = u64::MAX;

/// Length of a proof in bytes: one HMAC-SHA-1.
pub const PROOF_LEN: usize = 20;

/// The proof for `secret`.
///
/// ```
/// use cloud_otp_core::{PROOF_LEN, Secret, proof};
/// let s = Secret::new(b"12345678901234567890".to_vec()).unwrap();
/// assert_eq!(proof(&s).len(), PROOF_LEN);
/// ```
pub fn proof(secret: &Secret) -> Vec<u8> {
    mac(Algorithm::Sha1, secret, PROOF_COUNTER).to_vec()
}

/// Whether `sent` is the proof for `secret`, compared in constant time.
///
/// ```
/// use cloud_otp_core::{Secret, proof, proof_matches};
/// let s = Secret::new(b"12345678901234567890".to_vec()).unwrap();
/// let other = Secret::new(b"12345678901234567891".to_vec()).unwrap();
/// assert!(proof_matches(&s, &proof(&s)));
/// assert!(!proof_matches(&s, &proof(&other)));
/// assert!(!proof_matches(&s, &proof(&s)[..19]));
/// ```
pub fn proof_matches(secret: &Secret, sent: &[u8]) -> bool {
    let expected = proof(secret);
    expected.len() == sent.len() && bool::from(expected.as_slice().ct_eq(sent))
}
