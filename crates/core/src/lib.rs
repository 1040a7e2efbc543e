//! cloud-otp-core: one-time passwords (RFC 4226 HOTP, RFC 6238 TOTP), base32, otpauth:// URIs
//! and the verification policy of cloud-otp, as pure functions.
//!
//! Nothing here reads a clock, draws randomness or does I/O: the caller passes the time (Unix
//! seconds) and the secret, so the same code runs on the server, in the browser (wasm32) and in
//! tests.
//!
//! ```
//! use cloud_otp_core::{Algorithm, Digits, Secret, Step, totp};
//!
//! // RFC 6238 Appendix B, SHA-1, T = 59 s, 30-second step, 8 digits.
//! let secret = Secret::new(b"12345678901234567890".to_vec()).unwrap();
//! let code = totp(Algorithm::Sha1, &secret, 59, Step::new(30).unwrap(), Digits::new(8).unwrap());
//! assert_eq!(code.to_string(), "94287082");
//! ```

pub mod base32;
mod error;
mod hotp;
pub mod otpauth;
mod pin;
mod policy;
mod proof;
mod secret;

pub use error::Error;
pub use hotp::{
    Algorithm, Code, Digits, MacValue, Step, counter_at, hotp, mac, remaining_secs, totp, truncate,
};
pub use pin::{PIN_SALT, derive_pin_key};
pub use policy::{Outcome, Policy, State, verify, verify_with_secret};
pub use proof::{PROOF_COUNTER, PROOF_LEN, proof, proof_matches};
pub use secret::Secret;
