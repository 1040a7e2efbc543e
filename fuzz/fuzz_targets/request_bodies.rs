//! Fuzz target: the server's request types. The first byte picks a JSON request body (or the
//! audit query string); the rest is parsed by `parse_body`, which runs the request type's own
//! `parse`, the one its handler calls. Nothing panics, and every refusal is a 4xx error with a
//! stable code whose body renders.
#![no_main]

use cloud_otp_server::api::{RequestBody, parse_audit_query, parse_body};
use cloud_otp_server::error::ApiError;
use cloud_otp_server::validate::{
    ActivationCode, CustomerCode, DeviceId, Fingerprint, Label, OtpCode, Purpose, Token, UserId,
    device_secret,
};
use libfuzzer_sys::fuzz_target;

fn refused(e: ApiError) {
    let (code, status) = e.code();
    assert!(status.is_client_error(), "{code} {status}");
    let body = e.body();
    assert_eq!(body["error"], code);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let kinds = RequestBody::ALL;
    let result = match kinds.get(usize::from(pick) % (kinds.len() + 1)) {
        Some(&kind) => parse_body(kind, rest),
        None => match std::str::from_utf8(rest) {
            Ok(query) => parse_audit_query(query),
            Err(_) => Ok(()),
        },
    };
    if let Err(e) = result {
        refused(e);
    }
    // The checked types on their own, as path segments and fields reach them.
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = UserId::parse(text);
        let _ = Purpose::parse(text);
        let _ = Label::parse(text);
        let _ = Fingerprint::parse(text);
        let _ = CustomerCode::parse(text);
        let _ = OtpCode::parse(text);
        let _ = ActivationCode::parse(text);
        let _ = DeviceId::parse(text);
        let _ = Token::parse(text);
        let _ = device_secret(text);
    }
});
