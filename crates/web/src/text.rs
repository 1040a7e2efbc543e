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
    let mut digits = Vec::new();
    loop {
        digits.push(char::from(b'0' + (n % 10) as u8));
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
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
    ascii[..n].iter().map(|&b| char::from(b)).collect()
}
