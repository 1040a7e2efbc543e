//! The RFC 4226 Appendix D and RFC 6238 Appendix B test vectors, and the registration proof, read
//! from tests/vectors/
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails loudly on unexpected input.

use cloud_otp_core::{
    Algorithm, Digits, Secret, Step, hotp, mac, proof, proof_matches, totp, truncate,
};

const RFC4226: &str = include_str!("../../../tests/vectors/rfc4226.csv");
const RFC6238: &str = include_str!("../../../tests/vectors/rfc6238.csv");
const PROOF: &str = include_str!("../../../tests/vectors/proof.csv");

/// The data rows of a CSV file (header skipped) with their line numbers, split on commas.
fn rows(csv: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    csv.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.split(',').collect()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn rfc4226_appendix_d() {
    let secret = Secret::new(b"12345678901234567890".to_vec()).unwrap();
    let mut checked = 0;
    for (line, f) in rows(RFC4226) {
        let case = format!("rfc4226.csv line {line} (counter {})", f[0]);
        let counter: u64 = f[0].parse().unwrap();
        let m = mac(Algorithm::Sha1, &secret, counter);
        assert_eq!(hex(&m), f[1], "{case}: HMAC");
        // Table 2's "Decimal" column is the 31-bit value before the modulus: 10 digits shows it.
        let wide = truncate(&m, Digits::new(8).unwrap()).unwrap();
        let decimal: u32 = f[2].parse().unwrap();
        assert_eq!(wide.value(), decimal % 100_000_000, "{case}: truncation");
        assert_eq!(
            truncate(&m, Digits::SIX).unwrap().to_string(),
            f[3],
            "{case}: truncate"
        );
        assert_eq!(
            hotp(Algorithm::Sha1, &secret, counter, Digits::SIX).to_string(),
            f[3],
            "{case}: hotp"
        );
        checked += 1;
    }
    assert_eq!(checked, 10, "RFC 4226 Appendix D has ten counters");
}

#[test]
fn rfc6238_appendix_b() {
    let mut checked = 0;
    for (line, f) in rows(RFC6238) {
        let case = format!("rfc6238.csv line {line} ({} at T={})", f[0], f[2]);
        let algorithm: Algorithm = f[0].parse().unwrap();
        let secret = Secret::new(f[1].as_bytes().to_vec()).unwrap();
        let time: u64 = f[2].parse().unwrap();
        let step = Step::new(f[3].parse().unwrap()).unwrap();
        let digits = Digits::new(f[4].parse().unwrap()).unwrap();
        assert_eq!(
            totp(algorithm, &secret, time, step, digits).to_string(),
            f[5],
            "{case}"
        );
        checked += 1;
    }
    assert_eq!(
        checked, 18,
        "RFC 6238 Appendix B has six times for each of three hashes"
    );
}

/// The registration proof (HMAC-SHA-1 at counter 2^64 - 1), computed independently with
/// Python's hmac module; the browser tests check WebCrypto against the same file.
#[test]
fn registration_proofs() {
    let mut checked = 0;
    for (line, f) in rows(PROOF) {
        let case = format!("proof.csv line {line}");
        let secret = Secret::new(unhex(f[0])).unwrap();
        assert_eq!(hex(&proof(&secret)), f[1], "{case}");
        assert!(proof_matches(&secret, &unhex(f[1])), "{case}: matches");
        checked += 1;
    }
    assert_eq!(checked, 2, "proof.csv has two keys");
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
