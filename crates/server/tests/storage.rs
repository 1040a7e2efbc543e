//! The storage layer itself on SQLite and PostgreSQL: the schema migrates once and re-opens
//! cleanly, the master-key check refuses a foreign key, expired sessions and passes are
//! purged, and a bad database URL is refused with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cloud_otp_server::crypto::{Crypto, MasterKey};
use cloud_otp_server::storage::{SessionRecord, Storage, StorageError};
use common::Backend;

on_both_backends!(
    reopening_keeps_data_and_migrates_once,
    master_key_check,
    expired_sessions_are_purged
);

async fn url_of(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.join("db.sqlite").display()),
        Backend::Postgres => common::pg_database().await,
    }
}

async fn reopening_keeps_data_and_migrates_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = url_of(backend, dir.path()).await;
    let first = Storage::connect(&url).await.unwrap();
    let key = common_tenant(&first).await;
    first.close().await;
    // Two more opens, at the same time, as two servers starting together would.
    let (a, b) = tokio::join!(Storage::connect(&url), Storage::connect(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    let hash = cloud_otp_server::crypto::token_hash(&key);
    assert_eq!(
        a.tenant_by_key_hash(&hash)
            .await
            .unwrap()
            .unwrap()
            .customer_code,
        "5678"
    );
    assert!(b.tenant_by_customer_code("5678").await.unwrap().is_some());
    if backend == Backend::Sqlite {
        let Storage::Sqlite(pool) = &a else {
            panic!("sqlite")
        };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

async fn common_tenant(storage: &Storage) -> String {
    use cloud_otp_server::validate::{CustomerCode, TenantName};
    let name = TenantName::parse("Acme Academy").unwrap();
    let code = CustomerCode::parse("5678").unwrap();
    cloud_otp_server::admin::create_tenant(storage, &name, &code, &[], 0)
        .await
        .unwrap()
        .1
}

async fn master_key_check(backend: Backend) {
    let (storage, _dir) = common::storage(backend).await;
    let mine = Crypto::new(&MasterKey::from_hex(&"01".repeat(32)).unwrap());
    let other = Crypto::new(&MasterKey::from_hex(&"02".repeat(32)).unwrap());
    storage.ensure_key_check(mine.key_check()).await.unwrap();
    storage.ensure_key_check(mine.key_check()).await.unwrap();
    let err = storage
        .ensure_key_check(other.key_check())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::KeyMismatch), "{err}");
}

async fn expired_sessions_are_purged(backend: Backend) {
    let (storage, _dir) = common::storage(backend).await;
    common_tenant(&storage).await;
    let tenant = storage
        .tenant_by_customer_code("5678")
        .await
        .unwrap()
        .unwrap();
    for (hash, expires) in [("old", 1_000), ("new", 5_000)] {
        let record = SessionRecord {
            tenant_id: tenant.id.clone(),
            user_id: "u1".into(),
            purpose: "exam".into(),
            expires_ms: expires,
            used_ms: None,
        };
        storage.insert_session(hash, &record, 0).await.unwrap();
    }
    assert_eq!(storage.purge_expired(2_000).await.unwrap(), 1);
    assert!(storage.session("old").await.unwrap().is_none());
    assert!(storage.session("new").await.unwrap().unwrap().usable(4_999));
}

#[tokio::test]
async fn unsupported_database_urls_are_refused() {
    for url in ["mysql://localhost/x", "", "data/cloud-otp.db"] {
        let err = Storage::connect(url).await.unwrap_err();
        assert!(matches!(err, StorageError::UnsupportedUrl), "{url}: {err}");
    }
}
