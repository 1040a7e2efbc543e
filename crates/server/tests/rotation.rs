//! Master-key rotation: `cloud-otp rotate-master-key` re-encrypts every device secret under
//! the new key while the server, holding the old and the new key, keeps verifying during and
//! after; afterwards the old key alone opens nothing and a server with it refuses to start,
//! the new key alone does everything. In-process on both backends (with ciphertexts from
//! before key ids), and with the real binary streaming code checks during the rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use cloud_otp_core::Secret;
use cloud_otp_server::crypto::{Crypto, MasterKey};
use cloud_otp_server::rotate::{Rotation, ensure_key_ring, rotate_master_key};
use cloud_otp_server::storage::{NewDevice, Registration, Storage, StorageError};
use cloud_otp_server::{AppState, app};
use common::binary::{Served, authenticator, call, command, create_tenant, now_secs, run};
use common::{Backend, Device, TestApp};
use serde_json::json;
use sqlx::Row;

on_both_backends!(rotation_keeps_every_device_working);

const OLD: &str = "0a";
const NEW: &str = "0b";

fn key(byte: &str) -> MasterKey {
    MasterKey::from_hex(&byte.repeat(32)).unwrap()
}

/// The same database and clock as `base`, with another key ring.
fn with_crypto(base: &TestApp, crypto: Crypto) -> TestApp {
    let state = AppState::new(
        base.storage.clone(),
        crypto,
        Arc::new(base.clock.clone()),
        (*base.state.config).clone(),
    );
    TestApp {
        router: app(state.clone()),
        state,
        clock: base.clock.clone(),
        storage: base.storage.clone(),
        backend: base.backend,
        dir: tempfile::tempdir().unwrap(),
    }
}

/// Every stored ciphertext.
async fn ciphertexts(storage: &Storage) -> Vec<(String, String)> {
    let sql = "SELECT id, secret_enc FROM devices ORDER BY id";
    let rows: Vec<(String, String)> = match storage {
        Storage::Sqlite(pool) => sqlx::query(sql)
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
        Storage::Postgres(pool) => sqlx::query(sql)
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
    };
    rows
}

async fn check(app: &TestApp, key: &str, user: &str, device: &Device) -> StatusCode {
    let code = device.code_at(app.now_secs());
    app.post(
        "/v1/check",
        Some(key),
        json!({ "user_id": user, "code": code }),
    )
    .await
    .0
}

async fn rotation_keeps_every_device_working(backend: Backend) {
    // Before: a server with the old key only.
    let base = TestApp::new(backend).await;
    let old_app = with_crypto(&base, Crypto::new(&key(OLD)));
    let storage = old_app.storage.clone();
    // TestApp::new recorded its own random key; this database belongs to OLD.
    sqlx_reset_key_check(&storage).await;
    ensure_key_ring(&storage, &Crypto::new(&key(OLD)))
        .await
        .unwrap();
    let tenant = old_app.tenant("Acme Academy", "5678", &[]).await;
    let browser = old_app.register(&tenant, "u1").await;
    let (_, body) = old_app
        .call(
            Method::POST,
            "/v1/users/u2/authenticator",
            Some(&tenant),
            None,
        )
        .await;
    let uri =
        cloud_otp_core::otpauth::KeyUri::parse(body["otpauth_uri"].as_str().unwrap()).unwrap();
    let app_device = Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        secret: uri.secret.as_bytes().to_vec(),
        fingerprint: String::new(),
        label: String::new(),
    };
    let (_, body) = old_app
        .call(Method::POST, "/v1/users/u3/activation", Some(&tenant), None)
        .await;
    let activation = body["activation_code"].as_str().unwrap().to_owned();
    // A ciphertext from before key ids: bare base64, opened by trying each key.
    let legacy = Device::new("u5", "Legacy browser");
    let tenant_id = storage
        .tenant_by_customer_code("5678")
        .await
        .unwrap()
        .unwrap()
        .id;
    let sealed = Crypto::new(&key(OLD))
        .seal_secret("legacy-1", &Secret::new(legacy.secret.clone()).unwrap());
    let bare = sealed.split_once(':').unwrap().1.to_owned();
    storage
        .register_device(&Registration {
            tenant_id: tenant_id.clone(),
            user_id: "u5".into(),
            device: NewDevice {
                id: "legacy-1".into(),
                kind: "authenticator".into(),
                label: "Legacy".into(),
                fingerprint: None,
                secret_enc: bare,
            },
            replace: false,
            activation_attempts: None,
            now_ms: 0,
        })
        .await
        .unwrap();
    assert_eq!(
        check(&old_app, &tenant, "u5", &legacy).await,
        StatusCode::OK
    );

    // Step 1: the server restarts with the new key first and the old one as extra.
    let ring = with_crypto(&base, Crypto::with_others(&key(NEW), &[key(OLD)]));
    ensure_key_ring(&storage, &Crypto::with_others(&key(NEW), &[key(OLD)]))
        .await
        .unwrap();
    assert_eq!(check(&ring, &tenant, "u1", &browser).await, StatusCode::OK);
    let new_one = ring.register(&tenant, "u4").await;

    // Step 2: the rotation, with both keys, while that server runs.
    let rotation = rotate_master_key(&storage, &Crypto::with_others(&key(NEW), &[key(OLD)]))
        .await
        .unwrap();
    assert_eq!(
        rotation,
        Rotation {
            resealed: 3,
            already: 1,
            webhook_secrets: 0,
        }
    );
    let again = rotate_master_key(&storage, &Crypto::with_others(&key(NEW), &[key(OLD)]))
        .await
        .unwrap();
    assert_eq!(
        again,
        Rotation {
            resealed: 0,
            already: 4,
            webhook_secrets: 0,
        },
        "a second run has nothing to do"
    );
    base.clock.advance(60_000);
    for (user, device) in [("u2", &app_device), ("u4", &new_one), ("u5", &legacy)] {
        assert_eq!(
            check(&ring, &tenant, user, device).await,
            StatusCode::OK,
            "{user}"
        );
    }
    // The activation code issued under the old key still works while the old key is kept.
    let u3 = Device::new("u3", "Chrome on Android");
    let (status, body) = ring
        .post(
            "/v1/devices",
            None,
            json!({ "customer_code": "5678", "user_id": "u3",
            "activation_code": activation, "secret": u3.secret_b64(), "proof": u3.proof_b64(),
            "fingerprint": u3.fingerprint, "label": u3.label }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // After: everything is under the new key; the old key alone opens nothing and may not
    // serve this database; the new key alone does everything.
    let new_only = Crypto::new(&key(NEW));
    let old_only = Crypto::new(&key(OLD));
    let rows = ciphertexts(&storage).await;
    assert_eq!(rows.len(), 5);
    for (id, sealed) in &rows {
        assert!(new_only.is_sealed_with_primary(sealed), "{id}");
        assert!(new_only.open_secret(id, sealed).is_ok(), "{id}");
        assert!(old_only.open_secret(id, sealed).is_err(), "{id}");
    }
    let refused = ensure_key_ring(&storage, &old_only).await.unwrap_err();
    assert!(matches!(refused, StorageError::KeyMismatch), "{refused}");
    ensure_key_ring(&storage, &new_only).await.unwrap();
    let new_app = with_crypto(&base, new_only);
    base.clock.advance(60_000);
    for (user, device) in [
        ("u1", &browser),
        ("u2", &app_device),
        ("u4", &new_one),
        ("u5", &legacy),
    ] {
        assert_eq!(
            check(&new_app, &tenant, user, device).await,
            StatusCode::OK,
            "{user}"
        );
    }
}

/// Forgets the key check that TestApp stored for its own random key.
async fn sqlx_reset_key_check(storage: &Storage) {
    let sql = "DELETE FROM meta WHERE name = 'key_check'";
    match storage {
        Storage::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop).unwrap(),
        Storage::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop).unwrap(),
    }
}

/// The operator procedure of docs/security.md on one SQLite server, with the real binary:
/// restart with the new key and the old one as extra, run `rotate-master-key` while code
/// checks stream in, restart with the new key alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotate_master_key_command_without_downtime() {
    const USERS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (old, new) = ("5a".repeat(32), "a5".repeat(32));
    let (key, _) = create_tenant(command(&data), "Acme Academy", "5678", &[]);
    let serve = |primary: &str, extra: Option<&str>| {
        let mut c = command(&data);
        c.env("CLOUD_OTP_MASTER_KEY", primary).args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
        ]);
        if let Some(extra) = extra {
            c.env("CLOUD_OTP_EXTRA_MASTER_KEYS", extra);
        }
        c
    };
    let mut first = Served::start(serve(&old, None));
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    for i in 0..USERS {
        let (device, _) = authenticator(&client, &first.base, &key, &format!("u{i}")).await;
        users.push(device);
    }
    // Many more devices, so the rotation takes a while.
    let storage = Storage::sqlite_file(&data.join("cloud-otp.db"))
        .await
        .unwrap();
    let tenant_id = storage
        .tenant_by_customer_code("5678")
        .await
        .unwrap()
        .unwrap()
        .id;
    let old_crypto = Crypto::new(&MasterKey::from_hex(&old).unwrap());
    for i in 0..1500 {
        let id = format!("bulk-{i:05}");
        let secret = Secret::new(vec![7; 20]).unwrap();
        storage
            .register_device(&Registration {
                tenant_id: tenant_id.clone(),
                user_id: format!("bulk-{i}"),
                device: NewDevice {
                    id: id.clone(),
                    kind: "authenticator".into(),
                    label: "Bulk".into(),
                    fingerprint: None,
                    secret_enc: old_crypto.seal_secret(&id, &secret),
                },
                replace: false,
                activation_attempts: None,
                now_ms: 0,
            })
            .await
            .unwrap();
    }
    assert!(first.terminate().success());

    // Step 1: restart with the new key, the old one as extra.
    let mut second = Served::start(serve(&new, Some(&old)));
    // Step 2: the rotation runs while the server keeps checking codes.
    let mut rotate = command(&data);
    rotate
        .env("CLOUD_OTP_MASTER_KEY", &new)
        .env("CLOUD_OTP_EXTRA_MASTER_KEYS", &old)
        .arg("rotate-master-key")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut rotating = rotate.spawn().unwrap();
    let mut during = 0;
    let mut next = 0;
    let check_user = |i: usize, base: String| {
        let client = client.clone();
        let key = key.clone();
        let code = users[i].code_at(now_secs());
        async move {
            let body = json!({ "user_id": format!("u{i}"), "code": code });
            call(
                &client,
                Method::POST,
                &format!("{base}/v1/check"),
                Some(&key),
                Some(&body),
            )
            .await
            .unwrap()
        }
    };
    while next < USERS / 2 {
        let finished = rotating.try_wait().unwrap().is_some();
        let (status, body) = check_user(next, second.base.clone()).await;
        assert_eq!(status, 200, "u{next} during the rotation: {body}");
        next += 1;
        if finished {
            break;
        }
        during += 1;
    }
    let out = rotating.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("Re-encrypted 1560 device secrets"),
        "{printed}"
    );
    eprintln!("{during} checks answered while the rotation ran");
    let (status, _) = check_user(next, second.base.clone()).await;
    assert_eq!(status, 200, "after the rotation, before the restart");
    next += 1;
    assert!(second.terminate().success());

    // Step 3: the old key alone may not serve the database any more; the new one alone does.
    let (ok, _, stderr) = run(serve(&old, None));
    assert!(
        !ok && stderr.contains("master key does not match"),
        "{stderr}"
    );
    let third = Served::start(serve(&new, None));
    for i in next..USERS {
        let (status, body) = check_user(i, third.base.clone()).await;
        assert_eq!(status, 200, "u{i} with the new key alone: {body}");
    }
    let rows = ciphertexts(&storage).await;
    let new_crypto = Crypto::new(&MasterKey::from_hex(&new).unwrap());
    assert!(
        rows.iter()
            .all(|(_, s)| new_crypto.is_sealed_with_primary(s))
    );
    storage.close().await;
}
