//! Master keys reloaded on SIGHUP, with the real binary and its key files: a single server
//! rotates its master key (docs/security.md) without a restart, every device registered
//! before and after keeps verifying, and a broken or wrong key file is refused with an error
//! that shows no key material while the server keeps serving with the keys it had.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use cloud_otp_server::crypto::{Crypto, MasterKey, write_private_file};
use cloud_otp_server::storage::Storage;
use common::Device;
use common::binary::{Served, authenticator, call, command, create_tenant, now_secs, run};
use reqwest::Method;
use serde_json::json;
use sqlx::Row;

const RELOADED: &str = "master keys reloaded";
const REFUSED: &str = "master keys not reloaded";

/// Replaces `path` as an operator should: a private file written beside it, then renamed
/// over it, so the server never reads half a key.
fn replace_file(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    write_private_file(&tmp, contents.as_bytes()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The non-secret id of a master key, as it prefixes ciphertexts and the reload log line.
fn key_id(hex: &str) -> String {
    Crypto::new(&MasterKey::from_hex(hex).unwrap())
        .key_id()
        .to_owned()
}

/// A server on `data` with no key in its environment: it reads the key files.
fn serve(data: &Path) -> Served {
    let mut c = command(data);
    c.args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"]);
    Served::start(c)
}

/// `user`'s current code through /v1/check: the HTTP status and body.
async fn check(server: &Served, key: &str, user: &str, device: &Device) -> (u16, String) {
    let body = json!({ "user_id": user, "code": device.code_at(now_secs()) });
    let client = reqwest::Client::new();
    let (status, body) = call(
        &client,
        Method::POST,
        &server.url("/v1/check"),
        Some(key),
        Some(&body),
    )
    .await
    .unwrap();
    (status, body.to_string())
}

/// The key id that prefixes `device_id`'s stored secret.
async fn sealed_under(data: &Path, device_id: &str) -> String {
    let storage = Storage::sqlite_file(&data.join("cloud-otp.db"))
        .await
        .unwrap();
    let Storage::Sqlite(pool) = &storage else {
        panic!("not SQLite");
    };
    let sealed: String = sqlx::query("SELECT secret_enc FROM devices WHERE id = $1")
        .bind(device_id)
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0);
    storage.close().await;
    sealed.split_once(':').unwrap().0.to_owned()
}

/// Makes an authenticator device for each of `users`.
async fn authenticators(server: &Served, key: &str, users: &[&str]) -> Vec<Device> {
    let client = reqwest::Client::new();
    let mut devices = Vec::new();
    for user in users {
        devices.push(authenticator(&client, &server.base, key, user).await.0);
    }
    devices
}

/// The single-server procedure of docs/security.md with key files: old key as extra, new key
/// as master, SIGHUP, `rotate-master-key`, extra file removed, SIGHUP. One process throughout;
/// devices sealed under the old key and under the new one verify at every stage, and an
/// activation code issued under the old key still registers a browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rotates_the_master_key_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (old, new) = ("5c".repeat(32), "c5".repeat(32));
    let (old_id, new_id) = (key_id(&old), key_id(&new));
    write_private_file(&data.join("master.key"), old.as_bytes()).unwrap();
    let (key, _) = create_tenant(command(&data), "Acme Academy", "5678", &[]);
    let mut server = serve(&data);
    let pid = server.pid();
    let output = server.wait_for_output("master keys loaded (1 keys", 1);
    assert!(
        output.contains(&format!("current key id {old_id}")),
        "{output}"
    );

    // Before: devices sealed under the old key, and an activation code keyed with it.
    let before = authenticators(&server, &key, &["a0", "a1", "a2", "a3"]).await;
    assert_eq!(sealed_under(&data, &before[0].id).await, old_id);
    assert_eq!(check(&server, &key, "a0", &before[0]).await.0, 200);
    let client = reqwest::Client::new();
    let (status, body) = call(
        &client,
        Method::POST,
        &server.url("/v1/users/act/activation"),
        Some(&key),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let activation = body["activation_code"].as_str().unwrap().to_owned();

    // Step 1: the old key becomes an extra key, the new one the master key, then SIGHUP.
    replace_file(&data.join("extra-master.keys"), &format!("{old}\n"));
    replace_file(&data.join("master.key"), &new);
    server.hangup();
    let output = server.wait_for_output(RELOADED, 1);
    assert!(
        output.contains(&format!(
            "master keys reloaded (2 keys, current key id {new_id})"
        )),
        "{output}"
    );
    let (status, body) = check(&server, &key, "a1", &before[1]).await;
    assert_eq!(status, 200, "a device sealed under the old key: {body}");
    let after = authenticators(&server, &key, &["b0", "b1"]).await;
    assert_eq!(
        sealed_under(&data, &after[0].id).await,
        new_id,
        "new devices are sealed under the new key"
    );
    let (status, body) = check(&server, &key, "b0", &after[0]).await;
    assert_eq!(status, 200, "a device sealed under the new key: {body}");

    // Step 2: the rotation reads the same files, while the server runs.
    let (ok, stdout, stderr) = run({
        let mut c = command(&data);
        c.arg("rotate-master-key");
        c
    });
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("Re-encrypted 4 device secrets under the new master key (2 already were)"),
        "{stdout}"
    );
    assert_eq!(sealed_under(&data, &before[2].id).await, new_id);
    for (user, device) in [("a2", &before[2]), ("b1", &after[1])] {
        let (status, body) = check(&server, &key, user, device).await;
        assert_eq!(status, 200, "{user} after the rotation: {body}");
    }
    // The old key, still an extra key, keeps the activation code issued under it usable.
    let browser = Device::new("act", "Firefox on Linux");
    let registration = json!({ "customer_code": "5678", "user_id": "act",
        "activation_code": activation, "secret": browser.secret_b64(), "proof": browser.proof_b64(),
        "fingerprint": browser.fingerprint, "label": browser.label });
    let (status, body) = call(
        &client,
        Method::POST,
        &server.url("/v1/devices"),
        None,
        Some(&registration),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, body) = check(&server, &key, "act", &browser).await;
    assert_eq!(status, 200, "{body}");

    // Step 3: the old key is dropped from the extra file; SIGHUP again.
    std::fs::remove_file(data.join("extra-master.keys")).unwrap();
    server.hangup();
    let output = server.wait_for_output(RELOADED, 2);
    assert!(
        output.contains(&format!(
            "master keys reloaded (1 keys, current key id {new_id})"
        )),
        "{output}"
    );
    let (status, body) = check(&server, &key, "a3", &before[3]).await;
    assert_eq!(status, 200, "with the new key alone: {body}");

    // The same process served throughout, and no key reached its output.
    assert!(server.running());
    assert_eq!(server.pid(), pid);
    let output = server.output();
    assert!(!output.contains(REFUSED), "{output}");
    for secret in [&old, &new] {
        assert!(!output.to_lowercase().contains(secret.as_str()), "{output}");
    }
}

/// SIGHUP with a key file that is not a key, then with a well-formed key the database does
/// not belong to: both refused with an error naming the problem and not the file's content,
/// and the server keeps verifying and sealing with the key it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_bad_key_file_keeps_the_old_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let old = "7e".repeat(32);
    let old_id = key_id(&old);
    write_private_file(&data.join("master.key"), old.as_bytes()).unwrap();
    let (key, _) = create_tenant(command(&data), "Acme Academy", "5678", &[]);
    let mut server = serve(&data);
    let pid = server.pid();
    let users = authenticators(&server, &key, &["c0", "c1", "c2"]).await;
    assert_eq!(check(&server, &key, "c0", &users[0]).await.0, 200);

    // 62 hexadecimal digits: one byte short.
    let broken = format!("{}ab", "c0ffee".repeat(10));
    replace_file(&data.join("master.key"), &broken);
    server.hangup();
    let output = server.wait_for_output(REFUSED, 1);
    let line = output.lines().find(|l| l.contains(REFUSED)).unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("master.key"), "names the file: {line}");
    assert!(
        line.contains("64 hexadecimal digits"),
        "names the problem: {line}"
    );
    assert!(
        line.contains(&format!("(1 keys, current key id {old_id})")),
        "{line}"
    );
    assert!(!output.contains("c0ffee"), "{output}");
    let (status, body) = check(&server, &key, "c1", &users[1]).await;
    assert_eq!(status, 200, "{body}");
    let d0 = authenticators(&server, &key, &["d0"]).await;
    assert_eq!(sealed_under(&data, &d0[0].id).await, old_id);

    // A valid key, but not the database's, and the old key not kept as an extra key.
    let wrong = "e7".repeat(32);
    replace_file(&data.join("master.key"), &wrong);
    server.hangup();
    let output = server.wait_for_output(REFUSED, 2);
    let line = output
        .lines()
        .filter(|l| l.contains(REFUSED))
        .nth(1)
        .unwrap();
    assert!(line.contains("master key does not match"), "{line}");
    assert!(!output.to_lowercase().contains(&wrong), "{output}");
    let (status, body) = check(&server, &key, "c2", &users[2]).await;
    assert_eq!(status, 200, "{body}");
    let d1 = authenticators(&server, &key, &["d1"]).await;
    assert_eq!(sealed_under(&data, &d1[0].id).await, old_id);
    let (status, body) = check(&server, &key, "d1", &d1[0]).await;
    assert_eq!(status, 200, "{body}");

    assert!(server.running());
    assert_eq!(server.pid(), pid);
    let output = server.output();
    assert!(!output.contains(RELOADED), "{output}");
    assert!(!output.to_lowercase().contains(&old), "{output}");
}

/// Keys from the environment cannot change under a running process: SIGHUP says so, shows
/// no key, and the server serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_keys_in_the_environment_reloads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (primary, extra) = ("3d".repeat(32), "d3".repeat(32));
    let (key, _) = create_tenant(command(&data), "Acme Academy", "5678", &[]);
    let mut c = command(&data);
    c.env("CLOUD_OTP_MASTER_KEY", &primary)
        .env("CLOUD_OTP_EXTRA_MASTER_KEYS", &extra)
        .args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"]);
    let mut server = Served::start(c);
    let users = authenticators(&server, &key, &["e0", "e1"]).await;
    assert_eq!(check(&server, &key, "e0", &users[0]).await.0, 200);
    server.hangup();
    let output = server.wait_for_output("nothing to reload", 1);
    let line = output
        .lines()
        .find(|l| l.contains("nothing to reload"))
        .unwrap();
    assert!(line.contains("INFO"), "{line}");
    assert!(
        !output.contains(RELOADED) && !output.contains(REFUSED),
        "{output}"
    );
    for secret in [&primary, &extra] {
        assert!(!output.to_lowercase().contains(secret.as_str()), "{output}");
    }
    let (status, body) = check(&server, &key, "e1", &users[1]).await;
    assert_eq!(status, 200, "{body}");
    assert!(server.running());
}
