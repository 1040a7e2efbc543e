//! Numbers and codes as text without `core::fmt`: its machinery (`format!`, `to_string` on a
//! number) would add about 3.5 KB (1.5 KB gzipped) to the module the trainee downloads
//! (docs/benchmarks-history.md), so the browser code builds its strings with these.

use cloud_otp_core::Code;

/// `n` in decimal digits.
///
/// ```
/// use cloud_otp_web::text::decimal;
/// assert_eq!(decimal(0), "0");
/// assert_eq!(decimal(7), "7");
/// assert_eq!(decimal(8192), "8192");
/// assert_eq!(decimal(u64::MAX), u64::MAX.to_string());
/// ```
pub fn decimal(mut n: u64) -> String {
    // Filled from the end; u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut first = digits.len();
    loop {
        first -= 1;
        digits[first] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(digits.len() - first);
    for &b in &digits[first..] {
        out.push(char::from(b));
    }
    out
}

/// The parts one after another: `[..].concat()` without the standard library's generic join,
/// 900 bytes of the module for what these few lines do.
///
/// ```
/// use cloud_otp_web::text::concat;
/// assert_eq!(concat(&["/v1/customers/", "1234"]), "/v1/customers/1234");
/// assert_eq!(concat(&[]), "");
/// ```
pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// The code's digits, leading zeros kept: what its `Display` writes.
///
/// ```
/// use cloud_otp_core::{Digits, truncate};
/// use cloud_otp_web::text::code;
/// let zero = truncate(&[0u8; 20], Digits::SIX).unwrap();
/// assert_eq!(code(zero), "000000");
/// assert_eq!(code(zero), zero.to_string());
/// ```
pub fn code(code: Code) -> String {
    let (ascii, n) = code.ascii();
    let mut out = String::with_capacity(n);
    for &b in &ascii[..n] {
        out.push(char::from(b));
    }
    out
}

/// At most the first 40 bytes of a DOMException's name (ASCII by the specifications), for an
/// error's text; a name whose 40th byte is inside a character is kept whole.
///
/// ```
/// use cloud_otp_web::text::short_name;
/// assert_eq!(short_name("DataCloneError"), "DataCloneError");
/// assert_eq!(short_name(&"x".repeat(50)).len(), 40);
/// ```
pub fn short_name(name: &str) -> String {
    name.get(..40).unwrap_or(name).to_owned()
}

/// Piece `n` of `text` cut at every `sep` (an ASCII byte), or "" when there are fewer pieces:
/// `split(char).nth(n)` with a byte loop, which costs the module less than `str::Split`.
///
/// ```
/// use cloud_otp_web::text::piece;
/// assert_eq!(piece("ko-KR", b'-', 0), "ko");
/// assert_eq!(piece("a\nb\n", b'\n', 1), "b");
/// assert_eq!(piece("a\nb\n", b'\n', 2), "");
/// assert_eq!(piece("a\nb", b'\n', 3), "");
/// ```
pub fn piece(text: &str, sep: u8, n: usize) -> &str {
    let mut start = 0;
    let mut index = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == sep {
            if index == n {
                return &text[start..i];
            }
            index += 1;
            start = i + 1;
        }
    }
    if index == n { &text[start..] } else { "" }
}
