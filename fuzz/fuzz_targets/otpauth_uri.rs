//! Fuzz target: parsing an otpauth:// URI never panics, and every key it accepts builds a URI
//! that parses back to the same key (when that URI is within the parser's 4096-byte limit:
//! percent-encoding can make a key's URI longer than the text it was parsed from).
#![no_main]

use cloud_otp_core::otpauth::KeyUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = KeyUri::parse(text) {
        let uri = key.to_uri();
        if uri.len() <= 4096 {
            assert_eq!(KeyUri::parse(&uri).as_ref(), Ok(&key), "{uri}");
        }
    }
});
