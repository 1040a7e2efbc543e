//! Property tests: encodings round-trip, codes are well-formed, the policy never panics and
//! never accepts a code twice.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails loudly on unexpected input.

use cloud_otp_core::otpauth::{KeyUri, Kind};
use cloud_otp_core::{
    Algorithm, Digits, Outcome, Policy, Secret, State, Step, base32, hotp, mac, totp, truncate,
    verify_with_secret,
};
use hmac::{Hmac, Mac};
use proptest::prelude::*;

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Sha1),
        Just(Algorithm::Sha256),
        Just(Algorithm::Sha512)
    ]
}

/// The HMAC crate's own slice-keyed HMAC, which the core's block-keyed one must equal.
fn reference_mac(algorithm: Algorithm, key: &[u8], counter: u64) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], counter: u64) -> Vec<u8> {
        let mut m = <M as Mac>::new_from_slice(key).unwrap();
        m.update(&counter.to_be_bytes());
        m.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, counter),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, counter),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, counter),
    }
}

proptest! {
    // Every key length a secret may have, below, at and above each hash's block size (64 bytes
    // for SHA-1 and SHA-256, 128 for SHA-512; longer keys are hashed first, RFC 2104).
    #[test]
    fn mac_equals_the_hmac_crates_for_every_key_length(key in proptest::collection::vec(any::<u8>(), 1..=Secret::MAX_LEN),
                                                        alg in algorithm(), counter: u64) {
        let secret = Secret::new(key.clone()).unwrap();
        prop_assert_eq!(mac(alg, &secret, counter).to_vec(), reference_mac(alg, &key, counter));
    }

    #[test]
    fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100), pad: bool) {
        let text = base32::encode(&bytes, pad);
        prop_assert_eq!(base32::decode(&text).unwrap(), bytes);
    }

    #[test]
    fn base32_decode_never_panics(text in "\\PC{0,64}") {
        let _ = base32::decode(&text);
    }

    #[test]
    fn otpauth_parse_never_panics(text in "otpauth://(totp|hotp)/\\PC{0,40}\\?\\PC{0,80}") {
        let _ = KeyUri::parse(&text);
    }

    #[test]
    fn otpauth_round_trips(key in proptest::collection::vec(any::<u8>(), 1..64), account in "[^:]{1,30}",
                           issuer in proptest::option::of("[^:]{1,30}"), alg in algorithm(), digits in 6u64..=8, period in 1u64..=300) {
        let uri = KeyUri {
            kind: Kind::Totp { period: Step::new(period).unwrap() },
            issuer: issuer.map(|i| i.trim().to_string()).filter(|i| !i.is_empty()),
            account: account.trim().to_string(),
            secret: Secret::new(key).unwrap(),
            algorithm: alg,
            digits: Digits::new(digits).unwrap(),
        };
        prop_assume!(!uri.account.is_empty());
        prop_assert_eq!(KeyUri::parse(&uri.to_uri()).unwrap(), uri);
    }

    #[test]
    fn codes_have_the_requested_digits(mac in proptest::collection::vec(any::<u8>(), 20..=64), digits in 6u64..=8) {
        let d = Digits::new(digits).unwrap();
        let code = truncate(&mac, d).unwrap();
        prop_assert_eq!(code.to_string().len(), digits as usize);
        prop_assert!(code.value() < 10u32.pow(digits as u32));
    }

    #[test]
    fn totp_is_hotp_of_the_time_step(key in proptest::collection::vec(any::<u8>(), 1..64), alg in algorithm(), now: u64, step in 1u64..=600) {
        let s = Secret::new(key).unwrap();
        let st = Step::new(step).unwrap();
        prop_assert_eq!(totp(alg, &s, now, st, Digits::SIX), hotp(alg, &s, now / step, Digits::SIX));
    }

    /// Whatever is typed, in whatever state, verification never panics, never accepts a spent
    /// step, and only accepts within the window.
    #[test]
    fn policy_invariants(key in proptest::collection::vec(any::<u8>(), 1..32), now: u64, last in proptest::option::of(any::<u64>()),
                         failures in 0u32..6, code in "[0-9]{6}|\\PC{0,8}") {
        let s = Secret::new(key).unwrap();
        let p = Policy::PRODUCT;
        let state = State { last_step: last, failures, locked: failures >= p.max_failures };
        let (out, next) = verify_with_secret(&p, &state, &s, &code, now);
        match out {
            Outcome::Accepted { step } => {
                prop_assert!(last.is_none_or(|l| step > l));
                prop_assert!(step <= now / 60 && step + 1 >= now / 60);
                prop_assert_eq!(next, State { last_step: Some(step), failures: 0, locked: false });
                let (again, _) = verify_with_secret(&p, &next, &s, &code, now);
                prop_assert_eq!(again, Outcome::Replayed);
            }
            Outcome::Rejected { attempts_left } => {
                prop_assert_eq!(next.failures, failures + 1);
                prop_assert_eq!(attempts_left, p.max_failures - next.failures);
            }
            Outcome::Locked => prop_assert!(next.locked),
            Outcome::Replayed | Outcome::Malformed => prop_assert_eq!(next, state),
        }
    }
}
