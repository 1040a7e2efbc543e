//! The browser module against the real cloud-otp server on loopback, in each engine:
//! register, read the code, verify; wrong codes down to the lock; a second browser is an
//! unapproved device and can take over; activation codes; the JavaScript API end to end.
//!
//! Run through crates/web/run-browser-tests.sh, which starts the server, creates the tenant
//! (origin: this test page) and the sessions, and passes them at compile time:
//! CLOUD_OTP_TEST_SERVER (the server URL), CLOUD_OTP_TEST_SESSIONS (`user_id:session,...`) and
//! CLOUD_OTP_TEST_ACTIVATION (`customer_code:user_id:activation_code`).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests are not part of the module a trainee downloads: formatting costs nothing here
// (crates/web/clippy.toml keeps it out of the module).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use cloud_otp_web::api::Authorization;
use cloud_otp_web::keystore::{self, Keystore};
use cloud_otp_web::pin::Pin;
use cloud_otp_web::{Device, Error, JsCloudOtp, Registration};
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

mod support;
use support::blank_idb_reads;

const HOW: &str = "run crates/web/run-browser-tests.sh, which starts the server and sets it";

fn server() -> &'static str {
    option_env!("CLOUD_OTP_TEST_SERVER")
        .unwrap_or_else(|| panic!("CLOUD_OTP_TEST_SERVER is not set: {HOW}"))
}

/// The `n`th session the test script opened for `user`.
fn session(user: &str, n: usize) -> String {
    let all = option_env!("CLOUD_OTP_TEST_SESSIONS")
        .unwrap_or_else(|| panic!("CLOUD_OTP_TEST_SESSIONS is not set: {HOW}"));
    all.split(',')
        .filter_map(|pair| pair.split_once(':'))
        .filter(|(u, _)| *u == user)
        .map(|(_, token)| token.to_owned())
        .nth(n)
        .unwrap_or_else(|| panic!("CLOUD_OTP_TEST_SESSIONS has no session #{n} for {user}"))
}

/// The label the server keeps for the engine these tests run in (run-browser-tests.sh runs
/// Chromium, Firefox and WebKitGTK), told by its user agent's product token.
fn this_label() -> &'static str {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).unwrap();
    let user_agent = Reflect::get(&navigator, &"userAgent".into())
        .unwrap()
        .as_string()
        .unwrap();
    if user_agent.contains("Firefox/") {
        "Firefox on Linux"
    } else if user_agent.contains("Chrome/") {
        "Chrome on Linux"
    } else {
        "Safari on Linux"
    }
}

async fn fresh_device(name: &str) -> Device {
    let db = format!("cloud-otp-server-test-{name}");
    keystore::delete_database(&db).await.unwrap();
    Device::open(&db).await.unwrap()
}

fn with_session(session: String, replace: bool) -> Registration {
    Registration {
        server: server().to_owned(),
        authorization: Authorization::Session(session),
        user_id: None,
        replace,
        pin: None,
    }
}

/// A well-formed code that is neither the current nor the previous one (both are accepted).
async fn wrong_code(device: &Device, id: &str) -> String {
    let now = device.current_code(id).await.unwrap();
    let device_ms = cloud_otp_web::clock::device_now_ms();
    let before = device
        .current_code_at(id, Some(device_ms - 60_000.0))
        .await
        .unwrap();
    (0..3u32)
        .map(|k| {
            format!(
                "{:06}",
                (now.code.parse::<u32>().unwrap() + 1 + k) % 1_000_000
            )
        })
        .find(|c| *c != now.code && *c != before.code)
        .unwrap()
}

/// A browser whose stored key reads back as nothing (as some iPhone builds give it) registers
/// nothing: the server never hears of the key, so the same session registers later without
/// replacing a device.
#[wasm_bindgen_test]
async fn a_key_that_does_not_read_back_registers_nothing() {
    let device = fresh_device("henry").await;
    let restore = blank_idb_reads();
    let refused = device
        .register(&with_session(session("henry", 0), false))
        .await;
    restore.call0(&JsValue::NULL).unwrap();
    assert_eq!(refused.unwrap_err(), Error::KeyNotStorable);
    assert!(device.accounts().await.unwrap().is_empty());
    let account = device
        .register(&with_session(session("henry", 0), false))
        .await
        .unwrap();
    assert_eq!(account.user_id, "henry");
}

#[wasm_bindgen_test]
async fn register_then_verify_then_the_code_is_spent() {
    let device = fresh_device("alice").await;
    let account = device
        .register(&with_session(session("alice", 0), false))
        .await
        .unwrap();
    assert_eq!(account.user_id, "alice");
    assert_eq!(account.server, server());
    assert_eq!(account.label, this_label());
    assert_eq!(device.accounts().await.unwrap(), vec![account.clone()]);

    // The key the server received is in IndexedDB only as a non-extractable CryptoKey.
    let (_, key) = Keystore::open("cloud-otp-server-test-alice")
        .await
        .unwrap()
        .account(&account.id)
        .await
        .unwrap();
    assert!(!key.extractable());
    let subtle: web_sys::SubtleCrypto = Reflect::get(
        &Reflect::get(&js_sys::global(), &"crypto".into()).unwrap(),
        &"subtle".into(),
    )
    .unwrap()
    .unchecked_into();
    assert!(
        JsFuture::from(subtle.export_key("raw", &key).unwrap())
            .await
            .is_err()
    );

    // The clock offset to a server on the same machine is small.
    let offset = device.sync_clock(server()).await.unwrap();
    assert!(
        offset.millis().abs() < 5_000,
        "offset {} ms",
        offset.millis()
    );

    let now = device.current_code(&account.id).await.unwrap();
    assert_eq!(now.code.len(), 6);
    assert!((1..=60).contains(&now.remaining_secs));
    let pass = device
        .verify(&account.id, &session("alice", 0), &now.code)
        .await
        .unwrap();
    assert!(!pass.pass.is_empty());
    assert!(
        pass.expires_at.contains('T'),
        "ISO 8601: {}",
        pass.expires_at
    );

    // docs/product.md rule 3: an accepted code is never accepted again.
    let again = device
        .verify(&account.id, &session("alice", 1), &now.code)
        .await
        .unwrap_err();
    assert_eq!(again, Error::Replayed);

    // A reload (a new instance on the same IndexedDB) still holds the account and its key.
    drop(device);
    let reloaded = Device::open("cloud-otp-server-test-alice").await.unwrap();
    assert_eq!(reloaded.accounts().await.unwrap(), vec![account.clone()]);
    assert_eq!(
        reloaded.current_code(&account.id).await.unwrap().code.len(),
        6
    );
}

#[wasm_bindgen_test]
async fn wrong_codes_count_down_to_the_lock() {
    let device = fresh_device("bob").await;
    let account = device
        .register(&with_session(session("bob", 0), false))
        .await
        .unwrap();
    for attempts_left in [4, 3, 2, 1] {
        let wrong = wrong_code(&device, &account.id).await;
        let refused = device
            .verify(&account.id, &session("bob", 0), &wrong)
            .await
            .unwrap_err();
        assert_eq!(refused, Error::InvalidCode { attempts_left });
    }
    let wrong = wrong_code(&device, &account.id).await;
    assert_eq!(
        device
            .verify(&account.id, &session("bob", 0), &wrong)
            .await
            .unwrap_err(),
        Error::Locked
    );
    // Suspended: even the right code is refused, until the institution unlocks.
    let right = device.current_code(&account.id).await.unwrap().code;
    let locked = device
        .verify(&account.id, &session("bob", 0), &right)
        .await
        .unwrap_err();
    assert_eq!(locked, Error::Locked);
    assert!(locked.to_string().contains("institution"), "{locked}");
    // Malformed codes never reach the server and are not counted.
    assert_eq!(
        device
            .verify(&account.id, &session("bob", 0), "12 456")
            .await
            .unwrap_err(),
        Error::MalformedCode
    );
}

#[wasm_bindgen_test]
async fn the_right_pin_gives_accepted_codes_and_a_wrong_one_counts_toward_the_lock() {
    let device = fresh_device("grace").await;
    let registration = Registration {
        pin: Some(Pin::new("2580", 4).unwrap()),
        ..with_session(session("grace", 0), false)
    };
    let account = device.register(&registration).await.unwrap();
    assert_eq!(account.pin_digits, 4);
    // Registering gave the PIN for this visit: the code shows and the server accepts it.
    let right = device.current_code(&account.id).await.unwrap().code;
    device
        .verify(&account.id, &session("grace", 0), &right)
        .await
        .unwrap();

    // The next visit asks for the PIN before any code.
    drop(device);
    let visit = Device::open("cloud-otp-server-test-grace").await.unwrap();
    assert_eq!(
        visit.current_code(&account.id).await.unwrap_err(),
        Error::PinRequired
    );
    // A wrong PIN cannot be told apart here; its codes are refused and counted.
    visit
        .unlock(&account.id, &Pin::new("2581", 4).unwrap())
        .await
        .unwrap();
    let mut refused = Vec::new();
    for _ in 0..5 {
        let wrong = visit.current_code(&account.id).await.unwrap().code;
        refused.push(
            visit
                .verify(&account.id, &session("grace", 1), &wrong)
                .await
                .unwrap_err(),
        );
    }
    assert_eq!(
        refused,
        vec![
            Error::InvalidCode { attempts_left: 4 },
            Error::InvalidCode { attempts_left: 3 },
            Error::InvalidCode { attempts_left: 2 },
            Error::InvalidCode { attempts_left: 1 },
            Error::Locked,
        ]
    );
    // Suspended now: even the right PIN's code is refused until the institution unlocks.
    visit
        .unlock(&account.id, &Pin::new("2580", 4).unwrap())
        .await
        .unwrap();
    let right = visit.current_code(&account.id).await.unwrap().code;
    assert_eq!(
        visit
            .verify(&account.id, &session("grace", 1), &right)
            .await
            .unwrap_err(),
        Error::Locked
    );
}

#[wasm_bindgen_test]
async fn another_browser_is_unapproved_until_it_takes_over() {
    let first = fresh_device("carol-1").await;
    let second = fresh_device("carol-2").await;
    let a1 = first
        .register(&with_session(session("carol", 0), false))
        .await
        .unwrap();

    let exists = second
        .register(&with_session(session("carol", 0), false))
        .await
        .unwrap_err();
    let Error::DeviceExists(registered) = &exists else {
        panic!("expected device_exists, got {exists:?}")
    };
    assert_eq!(registered.label, this_label());
    assert!(registered.registered_at.contains('T'), "{registered:?}");
    assert!(
        second.accounts().await.unwrap().is_empty(),
        "a refused registration stores nothing"
    );

    let a2 = second
        .register(&with_session(session("carol", 0), true))
        .await
        .unwrap();
    assert_ne!(a1.id, a2.id);

    let old_code = first.current_code(&a1.id).await.unwrap().code;
    let unapproved = first
        .verify(&a1.id, &session("carol", 0), &old_code)
        .await
        .unwrap_err();
    let Error::UnapprovedDevice(registered) = &unapproved else {
        panic!("expected unapproved_device, got {unapproved:?}")
    };
    assert_eq!(registered.label, this_label());
    assert!(!registered.registered_at.is_empty());

    let code = second.current_code(&a2.id).await.unwrap().code;
    assert!(
        second
            .verify(&a2.id, &session("carol", 0), &code)
            .await
            .is_ok()
    );
}

#[wasm_bindgen_test]
async fn bad_sessions_and_activation_codes() {
    let device = fresh_device("dave").await;
    let bogus = device
        .register(&with_session("not-a-session".into(), false))
        .await
        .unwrap_err();
    assert_eq!(bogus, Error::InvalidSession);
    assert!(device.accounts().await.unwrap().is_empty());

    let activation = option_env!("CLOUD_OTP_TEST_ACTIVATION")
        .unwrap_or_else(|| panic!("CLOUD_OTP_TEST_ACTIVATION is not set: {HOW}"));
    let [customer_code, user_id, activation_code] = activation.split(':').collect::<Vec<_>>()[..]
    else {
        panic!("CLOUD_OTP_TEST_ACTIVATION must be customer_code:user_id:activation_code")
    };
    let activate = |code: &str| Registration {
        server: server().to_owned(),
        authorization: Authorization::Activation {
            customer_code: customer_code.to_owned(),
            user_id: user_id.to_owned(),
            activation_code: code.to_owned(),
        },
        user_id: None,
        replace: false,
        pin: None,
    };
    let wrong = if activation_code == "000000" {
        "000001"
    } else {
        "000000"
    };
    assert!(matches!(
        device.register(&activate(wrong)).await.unwrap_err(),
        Error::InvalidActivation { .. }
    ));
    let unknown = Registration {
        authorization: Authorization::Activation {
            customer_code: if customer_code == "9999" {
                "9998"
            } else {
                "9999"
            }
            .to_owned(),
            user_id: user_id.to_owned(),
            activation_code: activation_code.to_owned(),
        },
        ..activate(activation_code)
    };
    assert_eq!(
        device.register(&unknown).await.unwrap_err(),
        Error::UnknownCustomer
    );
    let account = device.register(&activate(activation_code)).await.unwrap();
    assert_eq!(account.user_id, user_id);
    assert_eq!(account.customer_code.as_deref(), Some(customer_code));
    assert_eq!(
        device.current_code(&account.id).await.unwrap().code.len(),
        6
    );
}

#[wasm_bindgen_test]
async fn the_javascript_api_registers_shows_the_code_and_verifies() {
    let db = "cloud-otp-server-test-erin";
    keystore::delete_database(db).await.unwrap();
    let api = JsCloudOtp::open(Some(db.to_owned())).await.unwrap();
    let get = |v: &JsValue, name: &str| Reflect::get(v, &name.into()).unwrap();
    let options = js_sys::Object::new();
    Reflect::set(&options, &"server".into(), &server().into()).unwrap();
    Reflect::set(&options, &"session".into(), &session("erin", 0).into()).unwrap();
    let account = JsFuture::from(api.register(options.into())).await.unwrap();
    assert_eq!(get(&account, "userId").as_string().unwrap(), "erin");
    let id = get(&account, "id").as_string().unwrap();

    let now = JsFuture::from(api.current_code(id.clone())).await.unwrap();
    let code = get(&now, "code").as_string().unwrap();
    assert_eq!(code.len(), 6);
    let remaining_ms = get(&now, "remainingMs").as_f64().unwrap();
    assert!((1.0..=60_000.0).contains(&remaining_ms));
    assert_eq!(get(&now, "stepSecs").as_f64(), Some(60.0));

    let pass = JsFuture::from(api.verify(id.clone(), session("erin", 0), code.clone()))
        .await
        .unwrap();
    assert!(!get(&pass, "pass").as_string().unwrap().is_empty());

    let replayed = JsFuture::from(api.verify(id.clone(), session("erin", 1), code))
        .await
        .unwrap_err();
    assert_eq!(get(&replayed, "code").as_string().unwrap(), "replayed");
    assert_eq!(get(&replayed, "retryable").as_bool(), Some(false));

    JsFuture::from(api.remove(id.clone())).await.unwrap();
    let gone = JsFuture::from(api.current_code(id)).await.unwrap_err();
    assert_eq!(get(&gone, "code").as_string().unwrap(), "key_missing");
}
