//! Base32 (RFC 4648 section 6), the alphabet authenticator apps use for secrets.

use crate::Error;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Encodes bytes as upper-case base32, with `=` padding to a multiple of 8 when `pad` is set.
///
/// ```
/// use cloud_otp_core::base32::encode;
/// assert_eq!(encode(b"foobar", true), "MZXW6YTBOI======");
/// assert_eq!(encode(b"foobar", false), "MZXW6YTBOI");
/// ```
pub fn encode(bytes: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        // RFC 4648 section 6: 1, 2, 3, 4 or 5 input bytes give 2, 4, 5, 7 or 8 symbols.
        let symbols = [0, 2, 4, 5, 7, 8][chunk.len()];
        for i in 0..symbols {
            let index = (bits >> (35 - 5 * i)) & 0x1f;
            out.push(char::from(ALPHABET[index as usize]));
        }
        if pad {
            for _ in symbols..8 {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base32 in either case, with or without padding; spaces and dashes, which people
/// type to group a long secret, are ignored.
///
/// ```
/// use cloud_otp_core::base32::decode;
/// assert_eq!(decode("mzxw6ytboi").unwrap(), b"foobar");
/// assert_eq!(decode("MZXW 6YTB OI======").unwrap(), b"foobar");
/// assert!(decode("MZXW1").is_err());
/// ```
pub fn decode(text: &str) -> Result<Vec<u8>, Error> {
    let mut symbols: Vec<u8> = Vec::with_capacity(text.len());
    let mut padding = 0usize;
    for c in text.bytes() {
        match c {
            b' ' | b'-' => {}
            b'=' => padding += 1,
            _ if padding > 0 => return Err(Error::Base32("data after padding")),
            b'A'..=b'Z' => symbols.push(c - b'A'),
            b'a'..=b'z' => symbols.push(c - b'a'),
            b'2'..=b'7' => symbols.push(c - b'2' + 26),
            _ => return Err(Error::Base32("character outside the base32 alphabet")),
        }
    }
    if padding > 0 && !(symbols.len() + padding).is_multiple_of(8) {
        return Err(Error::Base32("wrong amount of padding"));
    }
    // A final group of 1, 3 or 6 symbols cannot come from whole bytes (RFC 4648 section 6).
    if matches!(symbols.len() % 8, 1 | 3 | 6) {
        return Err(Error::Base32("truncated input"));
    }
    let mut out = Vec::with_capacity(symbols.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for s in symbols {
        acc = (acc << 5) | u32::from(s);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Canonical encodings leave the unused low bits zero; anything else is a typo.
    if acc != 0 {
        return Err(Error::Base32("non-zero trailing bits"));
    }
    Ok(out)
}
