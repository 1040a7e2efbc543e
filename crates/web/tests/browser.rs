//! The browser module in a real browser (Chromium, Firefox and WebKitGTK), without a server: WebCrypto codes against
//! the RFC 6238 vectors and the core, the key store in IndexedDB (non-extractable, survives a
//! reload, gone after the browser's data is cleared), clock correction, the fingerprint, the
//! 10-account limit, and the mapping of server answers and storage failures to errors.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests are not part of the module a trainee downloads: formatting costs nothing here
// (crates/web/clippy.toml keeps it out of the module).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use cloud_otp_core::{Algorithm, Digits, Secret, Step, derive_pin_key, hotp, totp};
use cloud_otp_web::accounts::{Account, MAX_ACCOUNTS};
use cloud_otp_web::api::{Authorization, Client, ErrorBody, refusal};
use cloud_otp_web::clock::{Offset, Sample, server_time_ms, step_time};
use cloud_otp_web::fingerprint::{self, Components, Fingerprint};
use cloud_otp_web::keystore::{self, Keystore};
use cloud_otp_web::pin::{self, Pin};
use cloud_otp_web::{
    Device, Error, JsCloudOtp, RegisteredDevice, Registration, Warning, device, error_to_js,
};
use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::CryptoKey;

wasm_bindgen_test_configure!(run_in_browser);

mod support;
use support::blank_idb_reads;

const RFC6238: &str = include_str!("../../../tests/vectors/rfc6238.csv");
const PROOF: &str = include_str!("../../../tests/vectors/proof.csv");
const RFC_SHA1_SEED: &[u8] = b"12345678901234567890";
/// A server nobody listens on (the discard port): anything sent there is a network failure.
const DEAD_SERVER: &str = "http://127.0.0.1:9";
/// 2023-11-14T22:13:20Z: a server time for tests that inject the clock.
const SERVER_MS: f64 = 1_700_000_000_000.0;

/// A database of its own for each test, emptied first: tests never see each other's accounts.
async fn fresh_database(test: &str) -> String {
    let name = format!("cloud-otp-test-{test}");
    keystore::delete_database(&name).await.unwrap();
    name
}

fn account(i: usize) -> Account {
    Account {
        id: format!("device-{i}"),
        server: DEAD_SERVER.to_owned(),
        customer_code: Some("1234".to_owned()),
        user_id: format!("trainee-{i}"),
        label: "Chrome on Linux".to_owned(),
        registered_at_ms: SERVER_MS + i as f64,
        pin_digits: 0,
    }
}

/// Stores an account whose key is the RFC 6238 SHA-1 seed, as a registration would.
async fn store_rfc_account(store: &Keystore, i: usize) -> Account {
    let key = keystore::import_hmac_key(RFC_SHA1_SEED, Algorithm::Sha1)
        .await
        .unwrap();
    let a = account(i);
    store.save(&a, &key, None).await.unwrap();
    a
}

/// A fresh database holding account `i` with the RFC 6238 key, and that account; the store is
/// closed again, so the test opens the database the way a page would.
async fn database_with_rfc_account(test: &str, i: usize) -> (String, Account) {
    let db = fresh_database(test).await;
    let store = Keystore::open(&db).await.unwrap();
    let a = store_rfc_account(&store, i).await;
    drop(store);
    (db, a)
}

fn core_code(server_ms: f64) -> String {
    let secret = Secret::new(RFC_SHA1_SEED.to_vec()).unwrap();
    totp(
        Algorithm::Sha1,
        &secret,
        (server_ms / 1000.0) as u64,
        Step::SIXTY,
        Digits::SIX,
    )
    .to_string()
}

fn subtle() -> web_sys::SubtleCrypto {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).unwrap();
    Reflect::get(&crypto, &"subtle".into())
        .unwrap()
        .unchecked_into()
}

/// The DOMException name a rejected WebCrypto promise carries.
async fn export_error(key: &CryptoKey, format: &str) -> String {
    let promise = subtle().export_key(format, key).unwrap();
    match JsFuture::from(promise).await {
        Ok(_) => "exported".to_owned(),
        Err(e) => Reflect::get(&e, &"name".into())
            .unwrap()
            .as_string()
            .unwrap(),
    }
}

#[wasm_bindgen_test]
async fn webcrypto_codes_equal_the_rfc6238_vectors_and_the_core() {
    let mut rows = 0;
    for (line, row) in RFC6238.lines().enumerate().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        let [alg, seed, time, step, digits, expected] = f[..] else {
            panic!("rfc6238.csv line {}: 6 fields", line + 1)
        };
        let algorithm: Algorithm = alg.parse().unwrap();
        let (time, step, digits): (u64, u64, u64) = (
            time.parse().unwrap(),
            step.parse().unwrap(),
            digits.parse().unwrap(),
        );
        let key = keystore::import_hmac_key(seed.as_bytes(), algorithm)
            .await
            .unwrap();
        let browser = keystore::code(&key, time / step, Digits::new(digits).unwrap())
            .await
            .unwrap()
            .to_string();
        let secret = Secret::new(seed.as_bytes().to_vec()).unwrap();
        let core = totp(
            algorithm,
            &secret,
            time,
            Step::new(step).unwrap(),
            Digits::new(digits).unwrap(),
        )
        .to_string();
        assert_eq!(
            browser,
            expected,
            "rfc6238.csv line {}: {alg} at T={time}: WebCrypto code",
            line + 1
        );
        assert_eq!(
            core,
            expected,
            "rfc6238.csv line {}: {alg} at T={time}: core code",
            line + 1
        );
        rows += 1;
    }
    assert_eq!(
        rows, 18,
        "rfc6238.csv should hold the 18 rows of RFC 6238 Appendix B"
    );
}

#[wasm_bindgen_test]
async fn the_pin_is_part_of_the_key_and_matches_the_core() {
    let seed = [7u8; 20];
    let right = Pin::new("4821", 4).unwrap();
    let wrong = Pin::new("4822", 4).unwrap();
    let native = derive_pin_key(&Secret::new(seed.to_vec()).unwrap(), "4821").unwrap();
    // What registration sends to the server is the core's derivation, byte for byte.
    assert_eq!(
        pin::derive_bits(&seed, &right).await.unwrap().as_slice(),
        native.as_bytes()
    );
    // The kept seed can neither be exported nor derive raw bits: only non-extractable keys.
    let kept = pin::import_seed(&seed, "deriveKey").await.unwrap();
    assert!(!kept.extractable());
    // WebCrypto cannot export HKDF keys at all (NotSupportedError), extractable or not.
    assert_ne!(export_error(&kept, "raw").await, "exported");
    let algorithm = js_sys::Object::new();
    Reflect::set(&algorithm, &"name".into(), &"HKDF".into()).unwrap();
    Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into()).unwrap();
    Reflect::set(
        &algorithm,
        &"salt".into(),
        &js_sys::Uint8Array::new_with_length(0),
    )
    .unwrap();
    Reflect::set(
        &algorithm,
        &"info".into(),
        &js_sys::Uint8Array::new_with_length(0),
    )
    .unwrap();
    let bits = subtle()
        .derive_bits_with_object(&algorithm, &kept, 160)
        .unwrap();
    let refused = JsFuture::from(bits).await.unwrap_err();
    assert_eq!(
        Reflect::get(&refused, &"name".into())
            .unwrap()
            .as_string()
            .unwrap(),
        "InvalidAccessError"
    );
    let key = pin::derive_key(&kept, &right).await.unwrap();
    assert!(!key.extractable());
    assert_eq!(export_error(&key, "raw").await, "InvalidAccessError");
    let other = pin::derive_key(&kept, &wrong).await.unwrap();
    let mut differ = 0;
    for counter in [0, 1, 28_333_333, u64::from(u32::MAX)] {
        let browser = keystore::code(&key, counter, Digits::SIX).await.unwrap();
        let core = hotp(Algorithm::Sha1, &native, counter, Digits::SIX);
        assert_eq!(browser.to_string(), core.to_string(), "counter {counter}");
        let wrong_code = keystore::code(&other, counter, Digits::SIX).await.unwrap();
        differ += usize::from(wrong_code.to_string() != core.to_string());
    }
    assert!(
        differ >= 3,
        "a wrong PIN must give other codes ({differ} of 4 differ)"
    );

    // Stored like a registration stores it: the seed in IndexedDB, codes only after the PIN.
    let db = fresh_database("pin").await;
    let store = Keystore::open(&db).await.unwrap();
    let a = Account {
        pin_digits: 4,
        ..account(0)
    };
    store.save(&a, &kept, None).await.unwrap();
    drop(store);
    let device = Device::open(&db).await.unwrap();
    let sample = Sample {
        sent_ms: 0.0,
        received_ms: 0.0,
        server_ms: 0.0,
    };
    device.use_sample(DEAD_SERVER, &sample).await.unwrap();
    assert_eq!(
        device
            .current_code_at(&a.id, Some(SERVER_MS))
            .await
            .unwrap_err(),
        Error::PinRequired
    );
    assert_eq!(
        device
            .unlock(&a.id, &Pin::new("482100", 6).unwrap())
            .await
            .unwrap_err(),
        Error::InvalidInput("pin")
    );
    device.unlock(&a.id, &right).await.unwrap();
    let shown = device
        .current_code_at(&a.id, Some(SERVER_MS))
        .await
        .unwrap();
    let expected = totp(
        Algorithm::Sha1,
        &native,
        (SERVER_MS / 1000.0) as u64,
        Step::SIXTY,
        Digits::SIX,
    );
    assert_eq!(shown.code, expected.to_string());
    device.lock(&a.id);
    assert_eq!(
        device
            .current_code_at(&a.id, Some(SERVER_MS))
            .await
            .unwrap_err(),
        Error::PinRequired
    );
}

#[wasm_bindgen_test]
async fn the_stored_key_cannot_be_exported() {
    let (db, a) = database_with_rfc_account("export", 0).await;
    let (_, key) = Keystore::open(&db)
        .await
        .unwrap()
        .account(&a.id)
        .await
        .unwrap();
    assert!(!key.extractable(), "the stored key must be non-extractable");
    for format in ["raw", "jwk"] {
        assert_eq!(
            export_error(&key, format).await,
            "InvalidAccessError",
            "exportKey({format}) must fail"
        );
    }
    // The key still signs: it is the device key, only sealed.
    assert_eq!(
        device::code_at(&key, SERVER_MS as u64).await.unwrap().code,
        core_code(SERVER_MS)
    );
}

#[wasm_bindgen_test]
async fn a_reload_still_produces_the_same_codes() {
    let db = fresh_database("reload").await;
    let sample = Sample {
        sent_ms: SERVER_MS,
        received_ms: SERVER_MS,
        server_ms: SERVER_MS,
    };
    let first = Device::open(&db).await.unwrap();
    let store = Keystore::open(&db).await.unwrap();
    let a = store_rfc_account(&store, 1).await;
    drop(store);
    first.use_sample(DEAD_SERVER, &sample).await.unwrap();
    let before: Vec<String> = {
        let mut codes = Vec::new();
        for minute in 0..3 {
            let t = SERVER_MS + f64::from(minute) * 60_000.0;
            codes.push(first.current_code_at(&a.id, Some(t)).await.unwrap().code);
        }
        codes
    };
    // Drop every in-memory handle (the Device, its connection, its cached offset) and start over.
    drop(first);
    let second = Device::open(&db).await.unwrap();
    // The server is unreachable, so the offset comes from the one stored on the last visit.
    let mut after = Vec::new();
    for minute in 0..3 {
        let t = SERVER_MS + f64::from(minute) * 60_000.0;
        after.push(second.current_code_at(&a.id, Some(t)).await.unwrap().code);
    }
    assert_eq!(before, after);
    let expected: Vec<String> = (0..3)
        .map(|m| core_code(SERVER_MS + f64::from(m) * 60_000.0))
        .collect();
    assert_eq!(
        after, expected,
        "codes after the reload must be the core's codes for the same key"
    );
}

/// Loads this test module a second time from another URL (a new module record: new glue, new
/// wasm instance, new memory), as a page reload would, and asks that instance for the code.
async fn code_from_a_new_module_instance(db: &str, id: &str) -> JsValue {
    let run = js_sys::Function::new_with_args(
        "db, id",
        "return (async () => {
            const url = new URL('wasm-bindgen-test?second-instance', location.href);
            const module = await import(url.href);
            await module.default({ module_or_path: new URL('wasm-bindgen-test_bg.wasm', location.href) });
            const otp = await module.CloudOtp.open(db);
            const now = await otp.currentCode(id);
            otp.free();
            return now;
        })();",
    );
    let promise: js_sys::Promise = run
        .call2(&JsValue::NULL, &db.into(), &id.into())
        .unwrap()
        .unchecked_into();
    JsFuture::from(promise).await.unwrap()
}

#[wasm_bindgen_test]
async fn a_new_module_instance_produces_the_same_codes() {
    let (db, a) = database_with_rfc_account("new-instance", 3).await;
    // The first instance measured the server 2 hours ahead of this device and stored that.
    let device = Device::open(&db).await.unwrap();
    let now = js_sys::Date::now();
    let two_hours = 7_200_000.0;
    let sample = Sample {
        sent_ms: now,
        received_ms: now,
        server_ms: now + two_hours,
    };
    device.use_sample(DEAD_SERVER, &sample).await.unwrap();
    drop(device);

    let other = code_from_a_new_module_instance(&db, &a.id).await;
    let field = |name: &str| Reflect::get(&other, &name.into()).unwrap();
    let server_ms = field("serverTimeMs").as_f64().unwrap();
    let code = field("code").as_string().unwrap();
    assert_eq!(
        code,
        core_code(server_ms),
        "the new instance's code at server time {server_ms}"
    );
    let drift = (server_ms - (js_sys::Date::now() + two_hours)).abs();
    assert!(
        drift < 60_000.0,
        "the new instance used the stored offset (off by {drift} ms)"
    );
}

#[wasm_bindgen_test]
async fn a_quick_code_uses_the_last_visits_offset_clear_of_step_edges() {
    let (db, a) = database_with_rfc_account("quick", 6).await;
    let device = Device::open(&db).await.unwrap();
    // No visit has measured the server's clock yet: nothing to show before it answers.
    assert_eq!(
        device.quick_code_at(&a.id, Some(SERVER_MS)).await.unwrap(),
        None
    );
    // The last visit measured the server 3 hours ahead of this device.
    let skew = 10_800_000.0;
    let sample = Sample {
        sent_ms: SERVER_MS - skew,
        received_ms: SERVER_MS - skew,
        server_ms: SERVER_MS,
    };
    device.use_sample(DEAD_SERVER, &sample).await.unwrap();
    drop(device);

    let visit = Device::open(&db).await.unwrap();
    // SERVER_MS is 20 s into its step, clear of both edges: the code of that server time.
    let quick = visit
        .quick_code_at(&a.id, Some(SERVER_MS - skew))
        .await
        .unwrap()
        .expect("a quick code 20 s into the step");
    assert_eq!(quick.code, core_code(SERVER_MS));
    assert_eq!(
        (quick.remaining_secs, quick.server_time_ms),
        (40, SERVER_MS as u64)
    );
    // The confirming path gives the same (the server is unreachable here, so it falls back to
    // the same stored offset).
    let confirmed = visit
        .current_code_at(&a.id, Some(SERVER_MS - skew))
        .await
        .unwrap();
    assert_eq!(quick, confirmed);
    // 3 s before the step ends, and 3 s after the next began: a clock that moved since the
    // last visit could be on the other side, so nothing is shown before the server answers.
    for server_ms in [SERVER_MS + 37_000.0, SERVER_MS + 43_000.0] {
        assert_eq!(
            visit
                .quick_code_at(&a.id, Some(server_ms - skew))
                .await
                .unwrap(),
            None,
            "server time {server_ms}"
        );
    }
}

#[wasm_bindgen_test]
async fn the_code_follows_server_time_when_the_device_clock_is_hours_off() {
    let (db, a) = database_with_rfc_account("clock", 2).await;
    let device = Device::open(&db).await.unwrap();
    // Server time 15 s into a step (SERVER_MS is 20 s into one); device clocks 3 h 0 min 25.5 s behind and 9 h 30 min ahead
    // (a trainee abroad, a phone set to another zone by hand).
    let server_ms = SERVER_MS - 20_000.0 + 15_000.0;
    for skew_ms in [-10_825_500.0, 34_200_000.0] {
        let device_ms = server_ms + skew_ms;
        // The answer to GET /v1/time arrives after a 300 ms round trip.
        let sample = Sample {
            sent_ms: device_ms - 300.0,
            received_ms: device_ms,
            server_ms: server_ms - 150.0,
        };
        let offset = device.use_sample(DEAD_SERVER, &sample).await.unwrap();
        assert_eq!(
            offset,
            Offset::from_millis(-skew_ms as i64),
            "skew {skew_ms} ms"
        );
        let now = device
            .current_code_at(&a.id, Some(device_ms))
            .await
            .unwrap();
        assert_eq!(
            now.code,
            core_code(server_ms),
            "skew {skew_ms} ms: the code must be the server-time code"
        );
        assert_eq!(now.server_time_ms, server_ms as u64, "skew {skew_ms} ms");
        assert_eq!(
            (now.remaining_secs, now.remaining_ms),
            (45, 45_000),
            "skew {skew_ms} ms: remaining time on server time"
        );
        assert_ne!(
            now.code,
            core_code(device_ms),
            "skew {skew_ms} ms: the device-clock code differs"
        );
    }
}

#[wasm_bindgen_test]
fn clock_arithmetic() {
    // Half the round trip: a sample sent at 0 and answered at 1000 saw the server at 500.
    let s = Sample {
        sent_ms: 0.0,
        received_ms: 1_000.0,
        server_ms: 7_200_500.0,
    };
    assert_eq!(Offset::from_sample(&s).millis(), 7_200_000);
    // A device clock stepped back during the request: the arrival time is used.
    let back = Sample {
        sent_ms: 5_000.0,
        received_ms: 1_000.0,
        server_ms: 2_000.0,
    };
    assert_eq!(Offset::from_sample(&back).millis(), 1_000);
    assert_eq!(
        server_time_ms(SERVER_MS, Offset::from_millis(-3_600_000)),
        SERVER_MS as u64 - 3_600_000
    );
    let t = step_time(59_999, Step::SIXTY);
    assert_eq!((t.counter, t.remaining_ms, t.remaining_secs), (0, 1, 1));
    let t = step_time(60_000, Step::SIXTY);
    assert_eq!(
        (t.counter, t.remaining_ms, t.remaining_secs),
        (1, 60_000, 60)
    );
}

/// The label the fingerprint must give the engine these tests run in (Chromium, Firefox or
/// WebKitGTK, run-browser-tests.sh runs all three) on this Linux machine, and its version, both
/// told by the user agent's product token.
fn this_engine() -> (&'static str, String) {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).unwrap();
    let user_agent = Reflect::get(&navigator, &"userAgent".into())
        .unwrap()
        .as_string()
        .unwrap();
    for (token, label) in [
        ("Firefox/", "Firefox on Linux"),
        ("Chrome/", "Chrome on Linux"),
        ("Version/", "Safari on Linux"),
    ] {
        if let Some(rest) = user_agent.split(token).nth(1) {
            return (label, rest.split(' ').next().unwrap().to_owned());
        }
    }
    panic!("an engine these tests do not know: {user_agent}");
}

#[wasm_bindgen_test]
async fn the_fingerprint_is_stable_and_free_of_versions() {
    let first = Fingerprint::current().await.unwrap();
    let second = Fingerprint::current().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.hash.len(), 64);
    assert!(
        first
            .hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let (label, version) = this_engine();
    assert_eq!(first.label, label, "this engine on this Linux machine");
    // A new instance (a reload) computes the same fingerprint.
    let db = fresh_database("fingerprint").await;
    let reloaded = Device::open(&db)
        .await
        .unwrap()
        .fingerprint()
        .await
        .unwrap();
    assert_eq!(reloaded, first);

    // None of the browser's version numbers is in what is hashed.
    let canonical = fingerprint::collect().canonical();
    assert!(
        !canonical.contains(&version),
        "{canonical:?} contains the browser version {version}"
    );
    assert!(
        !fingerprint::has_dotted_number(&canonical),
        "{canonical:?} holds a version number"
    );

    // A browser and driver update leave the fingerprint alone; another machine changes it.
    let old = Components::new(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36",
        0,
        "Google Inc. (Intel) / ANGLE (Intel, Intel(R) UHD Graphics 620 Direct3D11 vs_5_0 ps_5_0, D3D11-27.20.100.8681)",
        8,
        Some(8.0),
        Some(24.0),
    );
    let updated = Components::new(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        0,
        "Google Inc. (Intel) / ANGLE (Intel, Intel(R) UHD Graphics 620 Direct3D11 vs_5_0 ps_5_0, D3D11-31.0.101.2111)",
        8,
        Some(8.0),
        Some(24.0),
    );
    let other_machine = Components::new(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        0,
        "Google Inc. (NVIDIA) / ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)",
        16,
        Some(8.0),
        Some(24.0),
    );
    let hash = |c: &Components| {
        let c = c.clone();
        async move { Fingerprint::of(&c).await.unwrap() }
    };
    assert_eq!(
        hash(&old).await,
        hash(&updated).await,
        "an update changed the fingerprint"
    );
    assert_ne!(hash(&old).await.hash, hash(&other_machine).await.hash);
    assert_eq!(hash(&old).await.label, "Chrome on Windows");
}

#[wasm_bindgen_test]
async fn ten_accounts_at_most_and_removing_one_keeps_the_others() {
    let db = fresh_database("ten").await;
    let store = Keystore::open(&db).await.unwrap();
    for i in 0..MAX_ACCOUNTS {
        store_rfc_account(&store, i).await;
    }
    let device = Device::open(&db).await.unwrap();
    assert_eq!(device.accounts().await.unwrap().len(), 10);
    let activation = |user: &str| Registration {
        server: DEAD_SERVER.to_owned(),
        authorization: Authorization::Activation {
            customer_code: "1234".to_owned(),
            user_id: user.to_owned(),
            activation_code: "123456".to_owned(),
        },
        user_id: None,
        replace: false,
        pin: None,
    };
    // The eleventh is refused before anything is sent (the dead server would say network_error).
    let refused = device
        .register(&activation("trainee-10"))
        .await
        .unwrap_err();
    assert_eq!(refused, Error::TooManyAccounts);
    assert_eq!(refused.code(), "too_many_accounts");
    assert!(
        refused.to_string().contains("10"),
        "the message says the limit: {refused}"
    );
    // Re-registering one of the ten is allowed past the limit (and then needs the server).
    assert_eq!(
        device.register(&activation("trainee-3")).await.unwrap_err(),
        Error::Network
    );
    // A session whose user is unknown cannot be placed in a full browser either.
    let session = Registration {
        authorization: Authorization::Session("session-token".to_owned()),
        ..activation("x")
    };
    assert_eq!(
        device.register(&session).await.unwrap_err(),
        Error::TooManyAccounts
    );
    // Nothing of that changed the accounts.
    assert_eq!(device.accounts().await.unwrap().len(), 10);

    device.remove("device-4").await.unwrap();
    let left: Vec<String> = device
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    let expected: Vec<String> = (0..10)
        .filter(|i| *i != 4)
        .map(|i| format!("device-{i}"))
        .collect();
    assert_eq!(left, expected);
    assert_eq!(
        device
            .current_code_at("device-4", Some(SERVER_MS))
            .await
            .unwrap_err(),
        Error::KeyMissing
    );
    device
        .use_sample(
            DEAD_SERVER,
            &Sample {
                sent_ms: 0.0,
                received_ms: 0.0,
                server_ms: 0.0,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        device
            .current_code_at("device-5", Some(SERVER_MS))
            .await
            .unwrap()
            .code,
        core_code(SERVER_MS)
    );
    // Removing what is not there is not an error.
    device.remove("device-4").await.unwrap();
}

#[wasm_bindgen_test]
async fn clearing_the_browser_data_means_registering_again_not_a_crash() {
    let (db, a) = database_with_rfc_account("cleared", 0).await;
    // What "Clear browsing data" does to the site's IndexedDB, with the page still open.
    let device = Device::open(&db).await.unwrap();
    keystore::delete_database(&db).await.unwrap();
    let again = Device::open(&db).await.unwrap();
    assert!(again.accounts().await.unwrap().is_empty());
    let missing = again.current_code(&a.id).await.unwrap_err();
    assert_eq!(missing, Error::KeyMissing);
    assert!(missing.to_string().contains("register"), "{missing}");
    assert_eq!(
        again.verify(&a.id, "session", "123456").await.unwrap_err(),
        Error::KeyMissing
    );
    drop(device);
}

/// The registration proof, computed by WebCrypto with a key read back from IndexedDB, matches
/// tests/vectors/proof.csv (the core's own test checks the same file).
#[wasm_bindgen_test]
async fn registration_proof_matches_the_vectors() {
    let db = fresh_database("proof").await;
    let store = Keystore::open(&db).await.unwrap();
    let mut checked = 0;
    for (line, row) in PROOF.lines().enumerate().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        let secret = unhex(f[0]);
        let key = keystore::import_hmac_key(&secret, Algorithm::Sha1)
            .await
            .unwrap();
        let back = store.round_trip(&key).await.unwrap();
        let proof = keystore::hmac(&back, cloud_otp_core::PROOF_COUNTER)
            .await
            .unwrap();
        assert_eq!(hex(&proof), f[1], "proof.csv line {}", line + 1);
        checked += 1;
    }
    assert_eq!(checked, 2);
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[wasm_bindgen_test]
async fn storage_failures_have_their_own_codes() {
    let db = fresh_database("storable").await;
    let store = Keystore::open(&db).await.unwrap();
    let key = keystore::import_hmac_key(RFC_SHA1_SEED, Algorithm::Sha1)
        .await
        .unwrap();
    let back = store.round_trip(&key).await.unwrap();
    assert_eq!(
        keystore::hmac(&back, 1).await.unwrap(),
        keystore::hmac(&key, 1).await.unwrap()
    );
    // A real DataCloneError from IndexedDB: a function cannot be cloned, as a CryptoKey cannot
    // in the browsers that refuse to store one.
    let not_cloneable: JsValue = js_sys::Function::new_no_args("return 1").into();
    let refused = store
        .round_trip(not_cloneable.unchecked_ref())
        .await
        .unwrap_err();
    assert_eq!(
        (refused.clone(), refused.code()),
        (Error::KeyNotStorable, "key_not_storable")
    );
    // A stored key that reads back as nothing, as some iPhone builds give it.
    let restore = blank_idb_reads();
    let blank = store.round_trip(&key).await;
    restore.call0(&JsValue::NULL).unwrap();
    assert_eq!(blank.unwrap_err(), Error::KeyNotStorable);
    // The checks wrote nothing.
    assert!(store.accounts().await.unwrap().is_empty());
    for (name, code) in [
        ("DataCloneError", "key_not_storable"),
        ("QuotaExceededError", "quota_exceeded"),
        ("InvalidStateError", "indexeddb_unavailable"),
        ("SecurityError", "indexeddb_unavailable"),
        ("UnknownError", "storage_error"),
    ] {
        // Built from real DOMExceptions, named as the browser names them.
        let exception = web_sys::DomException::new_with_message_and_name("x", name).unwrap();
        let error = Error::from_storage_exception(&exception.name());
        assert_eq!(error.code(), code, "DOMException {name}");
    }
    // A fresh profile has no persistent storage (no engine grants it unasked, and WebKitGTK has
    // no `persisted()`): a warning, and the device works.
    let device = Device::open(&db).await.unwrap();
    assert_eq!(device.warnings(), vec![Warning::PersistenceDenied]);
    assert_eq!(Warning::PersistenceDenied.code(), "persistence_denied");
}

#[wasm_bindgen_test]
fn server_answers_map_to_typed_errors() {
    let registered = RegisteredDevice {
        label: "Chrome on Windows".into(),
        registered_at: "2026-11-20T09:00:00.000Z".into(),
        this_browser: false,
    };
    let cases: Vec<(u16, &str, Error)> = vec![
        (
            401,
            r#"{"error":"invalid_code","message":"m","attempts_left":3}"#,
            Error::InvalidCode { attempts_left: 3 },
        ),
        (
            401,
            r#"{"error":"invalid_code","message":"m"}"#,
            Error::InvalidCode { attempts_left: 0 },
        ),
        (423, r#"{"error":"locked","message":"m"}"#, Error::Locked),
        (
            409,
            r#"{"error":"replayed","message":"m"}"#,
            Error::Replayed,
        ),
        (
            409,
            r#"{"error":"unapproved_device","message":"m","device":{"label":"Chrome on Windows","registered_at":"2026-11-20T09:00:00.000Z"}}"#,
            Error::UnapprovedDevice(registered.clone()),
        ),
        (
            409,
            r#"{"error":"device_exists","message":"m","device":{"label":"Chrome on Windows","registered_at":1795165200000}}"#,
            Error::DeviceExists(registered.clone()),
        ),
        (
            401,
            r#"{"error":"invalid_session","message":"m"}"#,
            Error::InvalidSession,
        ),
        (
            410,
            r#"{"error":"activation_used","message":"m"}"#,
            Error::ActivationUsed,
        ),
        (
            404,
            r#"{"error":"not_enrolled","message":"m"}"#,
            Error::NotEnrolled,
        ),
        (
            403,
            r#"{"error":"service_closed","message":"m"}"#,
            Error::ServiceClosed,
        ),
        (
            401,
            r#"{"error":"invalid_activation","message":"m","attempts_left":4}"#,
            Error::InvalidActivation { attempts_left: 4 },
        ),
        (
            410,
            r#"{"error":"activation_expired","message":"m"}"#,
            Error::ActivationExpired,
        ),
        (
            404,
            r#"{"error":"unknown_customer","message":"m"}"#,
            Error::UnknownCustomer,
        ),
        (
            400,
            r#"{"error":"bad_request","message":"m"}"#,
            Error::BadRequest,
        ),
        (
            429,
            r#"{"error":"rate_limited","message":"m"}"#,
            Error::RateLimited,
        ),
        (429, "Too Many Requests", Error::RateLimited),
        (
            403,
            r#"{"error":"tenant_inactive","message":"m"}"#,
            Error::Refused {
                status: 403,
                code: "tenant_inactive".into(),
            },
        ),
        (
            403,
            r#"{"error":"<script>","message":"m"}"#,
            Error::Server(403),
        ),
        (
            500,
            r#"{"error":"internal","message":"m"}"#,
            Error::Server(500),
        ),
        (502, "<html>Bad Gateway</html>", Error::Server(502)),
        (503, "", Error::Server(503)),
    ];
    for (status, body, expected) in cases {
        let json = js_sys::JSON::parse(body).unwrap_or(JsValue::UNDEFINED);
        let error = refusal(status, &ErrorBody::from_json(&json));
        assert_eq!(error, expected, "HTTP {status} {body}");
        assert_eq!(
            error.retryable(),
            matches!(expected, Error::RateLimited | Error::Server(_)),
            "HTTP {status} {body}"
        );
    }
    assert_eq!(Error::Locked.code(), "locked");
    assert_eq!(Error::Network.code(), "network_error");
}

#[wasm_bindgen_test]
async fn network_failure_is_retryable_and_loses_nothing() {
    let (db, a) = database_with_rfc_account("network", 0).await;
    let device = Device::open(&db).await.unwrap();
    let client = Client::new(DEAD_SERVER).unwrap();
    let failure = client.time().await.unwrap_err();
    assert_eq!(failure, Error::Network);
    assert!(failure.retryable());
    assert_eq!(
        device.verify(&a.id, "session", "123456").await.unwrap_err(),
        Error::Network
    );
    // A re-registration that cannot reach the server leaves the account and its key in place.
    let again = Registration {
        server: DEAD_SERVER.to_owned(),
        authorization: Authorization::Session("session".into()),
        user_id: Some(a.user_id.clone()),
        replace: true,
        pin: None,
    };
    assert_eq!(device.register(&again).await.unwrap_err(), Error::Network);
    assert_eq!(device.accounts().await.unwrap(), vec![a.clone()]);
    // No clock measured and none stored: a code on an unknown offset is refused, not guessed.
    assert_eq!(
        device.current_code(&a.id).await.unwrap_err(),
        Error::Network
    );
    device
        .use_sample(
            DEAD_SERVER,
            &Sample {
                sent_ms: 0.0,
                received_ms: 0.0,
                server_ms: 0.0,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        device
            .current_code_at(&a.id, Some(SERVER_MS))
            .await
            .unwrap()
            .code,
        core_code(SERVER_MS)
    );
    // Bad input is refused before anything is sent.
    assert_eq!(
        device.verify(&a.id, "session", "12345").await.unwrap_err(),
        Error::MalformedCode
    );
    assert_eq!(
        device.verify(&a.id, "session", "12345a").await.unwrap_err(),
        Error::MalformedCode
    );
    assert_eq!(
        Client::new("ftp://otp.example").unwrap_err(),
        Error::InvalidServer
    );
}

#[wasm_bindgen_test]
async fn the_javascript_api_speaks_camel_case_and_rejects_with_coded_errors() {
    let (db, _) = database_with_rfc_account("js-api", 7).await;
    let api = JsCloudOtp::open(Some(db.clone())).await.unwrap();
    let warnings: Array = api.warnings();
    assert_eq!(
        warnings.to_vec(),
        vec![JsValue::from_str("persistence_denied")]
    );
    let accounts: Array = JsFuture::from(api.accounts())
        .await
        .unwrap()
        .unchecked_into();
    assert_eq!(accounts.length(), 1);
    let first = accounts.get(0);
    let field = |name: &str| Reflect::get(&first, &name.into()).unwrap();
    assert_eq!(field("id").as_string().unwrap(), "device-7");
    assert_eq!(field("deviceId").as_string().unwrap(), "device-7");
    assert_eq!(field("userId").as_string().unwrap(), "trainee-7");
    assert_eq!(field("customerCode").as_string().unwrap(), "1234");
    assert_eq!(
        field("registeredAt").as_string().unwrap(),
        "2023-11-14T22:13:20.007Z"
    );

    let rejected = JsFuture::from(api.current_code("no-such-account".into()))
        .await
        .unwrap_err();
    assert!(rejected.is_instance_of::<js_sys::Error>());
    let get = |v: &JsValue, name: &str| Reflect::get(v, &name.into()).unwrap();
    assert_eq!(get(&rejected, "name").as_string().unwrap(), "CloudOtpError");
    assert_eq!(get(&rejected, "code").as_string().unwrap(), "key_missing");
    assert_eq!(get(&rejected, "retryable").as_bool(), Some(false));

    let bad = JsFuture::from(api.register(JsValue::from(js_sys::Object::new())))
        .await
        .unwrap_err();
    assert_eq!(get(&bad, "code").as_string().unwrap(), "invalid_server");

    let wrong = error_to_js(Error::InvalidCode { attempts_left: 2 });
    assert_eq!(get(&wrong, "attemptsLeft").as_f64(), Some(2.0));
    let unapproved = error_to_js(Error::UnapprovedDevice(RegisteredDevice {
        label: "Chrome on Windows".into(),
        registered_at: "2026-11-20T09:00:00.000Z".into(),
        this_browser: false,
    }));
    assert_eq!(
        get(&get(&unapproved, "device"), "label")
            .as_string()
            .unwrap(),
        "Chrome on Windows"
    );
    assert!(
        get(&unapproved, "message")
            .as_string()
            .unwrap()
            .contains("Chrome on Windows")
    );
    let network = error_to_js(Error::Network);
    assert_eq!(get(&network, "retryable").as_bool(), Some(true));
}
