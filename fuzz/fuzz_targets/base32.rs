//! Fuzz target: base32 decoding never panics and inverts encoding: text it accepts
//! re-encodes (with and without padding) to text that decodes to the same bytes, and any
//! bytes survive an encode-decode round trip.
#![no_main]

use cloud_otp_core::base32::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for pad in [false, true] {
        assert_eq!(decode(&encode(data, pad)).as_deref(), Ok(data));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = decode(text) {
        for pad in [false, true] {
            assert_eq!(decode(&encode(&bytes, pad)), Ok(bytes.clone()));
        }
    }
});
