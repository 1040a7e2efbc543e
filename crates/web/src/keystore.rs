//! The device key: 20 random bytes, imported into WebCrypto as a non-extractable HMAC key and
//! kept in IndexedDB as the CryptoKey object itself, next to its account.
//!
//! IndexedDB is per origin and per browser profile, which is what binds the OTP device to this
//! browser (docs/architecture.md). Once imported, no code path can read the key bytes back: WebCrypto
//! refuses `exportKey` on a non-extractable key, and IndexedDB stores the key by structured
//! clone without exposing its material.

use cloud_otp_core::{Algorithm, Code, Digits, truncate};
use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CryptoKey, IdbDatabase, IdbFactory, IdbObjectStore, IdbRequest, IdbTransaction,
    IdbTransactionMode, SubtleCrypto,
};
use zeroize::Zeroizing;

use crate::accounts::Account;
use crate::clock::Offset;
use crate::{Error, js};

/// The IndexedDB database the module uses unless told otherwise.
pub const DEFAULT_DATABASE: &str = "cloud-otp";
/// Length of a device key: 160 bits, the HMAC-SHA-1 output size that RFC 4226 section 4
/// recommends as the shared secret length.
pub const KEY_LEN: usize = 20;

const VERSION: u32 = 1;
const ACCOUNTS: &str = "accounts";
const CLOCKS: &str = "clocks";

/// An open connection to the module's IndexedDB database. Closed when dropped.
pub struct Keystore {
    db: IdbDatabase,
    // Closes this connection when another one needs to upgrade or delete the database,
    // instead of blocking it.
    _on_version_change: js::Listener,
}

impl Keystore {
    /// Opens (and on first use creates) the database `name`.
    pub async fn open(name: &str) -> Result<Keystore, Error> {
        let factory: IdbFactory = js::global("indexedDB")
            .and_then(|v| v.dyn_into().ok())
            .ok_or(Error::IndexedDbUnavailable)?;
        let request = factory
            .open_with_u32(name, VERSION)
            .map_err(|e| open_error(&e))?;
        // An open request's result is the IDBDatabase (Indexed Database API, "open a
        // database"): unchecked casts, so the module carries no instanceof check for it.
        let upgrading = request.clone();
        let _upgrade = js::Listener::new(&request, "upgradeneeded", move |_| {
            if let Ok(db) = upgrading.result() {
                create_stores(&db.unchecked_into());
            }
        })
        .map_err(|e| open_error(&e))?;
        if js::first_event(&request, "success", &["error"])
            .await
            .is_err()
        {
            return Err(
                request_error(&request).map_or(Error::IndexedDbUnavailable, |e| open_error(&e))
            );
        }
        let db: IdbDatabase = request
            .result()
            .map_err(|e| open_error(&e))?
            .unchecked_into();
        let closing = db.clone();
        let on_version_change = js::Listener::new(&db, "versionchange", move |_| closing.close())
            .map_err(|e| open_error(&e))?;
        Ok(Keystore {
            db,
            _on_version_change: on_version_change,
        })
    }

    /// Every account in this browser, oldest registration first.
    pub async fn accounts(&self) -> Result<Vec<Account>, Error> {
        let (_, store) = self.store(ACCOUNTS, IdbTransactionMode::Readonly)?;
        let request = store.get_all().map_err(|e| storage_error(&e))?;
        let records = read(&request).await?;
        let mut accounts: Vec<Account> = Array::from(&records)
            .iter()
            .filter_map(|record| Account::from_record(&record))
            .collect();
        // At most ten accounts: an insertion sort does, and it is kilobytes smaller in the wasm
        // file than the standard library's sort.
        let later = |a: &Account, b: &Account| {
            a.registered_at_ms
                .total_cmp(&b.registered_at_ms)
                .then_with(|| a.id.cmp(&b.id))
                .is_gt()
        };
        for i in 1..accounts.len() {
            let mut j = i;
            while j > 0 && later(&accounts[j - 1], &accounts[j]) {
                accounts.swap(j - 1, j);
                j -= 1;
            }
        }
        Ok(accounts)
    }

    /// One account and its key; [`Error::KeyMissing`] when this browser does not hold it (never
    /// registered here, removed, or the browser's data was cleared).
    pub async fn account(&self, id: &str) -> Result<(Account, CryptoKey), Error> {
        let (_, store) = self.store(ACCOUNTS, IdbTransactionMode::Readonly)?;
        let request = store
            .get(&JsValue::from_str(id))
            .map_err(|e| storage_error(&e))?;
        let record = read(&request).await?;
        let account = Account::from_record(&record).ok_or(Error::KeyMissing)?;
        let key = js::field(&record, "key")
            .and_then(|k| k.dyn_into::<CryptoKey>().ok())
            .ok_or(Error::KeyMissing)?;
        Ok((account, key))
    }

    /// Stores an account with its key in one transaction, removing the account it replaces.
    pub async fn save(
        &self,
        account: &Account,
        key: &CryptoKey,
        replaces: Option<&str>,
    ) -> Result<(), Error> {
        let (tx, store) = self.store(ACCOUNTS, IdbTransactionMode::Readwrite)?;
        if let Some(old) = replaces.filter(|old| *old != account.id) {
            store
                .delete(&JsValue::from_str(old))
                .map_err(|e| abort(&tx, &e))?;
        }
        store
            .put_with_key(&account.to_record(key), &JsValue::from_str(&account.id))
            .map_err(|e| abort(&tx, &e))?;
        committed(&tx).await
    }

    /// Removes an account and its key; removing an account that is not here is not an error.
    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        let (tx, store) = self.store(ACCOUNTS, IdbTransactionMode::Readwrite)?;
        store
            .delete(&JsValue::from_str(id))
            .map_err(|e| abort(&tx, &e))?;
        committed(&tx).await
    }

    /// Stores `key`, reads it back and deletes it, and returns the key as IndexedDB gave it
    /// back. Run before a registration, so that the server never learns a key this browser
    /// cannot keep: a browser that cannot store keys throws DataCloneError in `put`, and some
    /// read a stored key back as nothing ([`Error::KeyNotStorable`] for both).
    pub async fn round_trip(&self, key: &CryptoKey) -> Result<CryptoKey, Error> {
        let slot = JsValue::from_str("key-check");
        let (tx, store) = self.store(CLOCKS, IdbTransactionMode::Readwrite)?;
        // The requests of a transaction run in order: the get reads what the put stored (as a
        // structured clone, deserialized again), before the delete.
        let requests = store.put_with_key(key, &slot).and_then(|_| {
            let read = store.get(&slot)?;
            store.delete(&slot)?;
            Ok(read)
        });
        let read = requests.map_err(|e| abort(&tx, &e))?;
        committed(&tx).await?;
        let back = read.result().map_err(|e| storage_error(&e))?;
        back.dyn_into().map_err(|_| Error::KeyNotStorable)
    }

    /// The clock offset last measured against `server`, if any.
    pub async fn clock_offset(&self, server: &str) -> Result<Option<Offset>, Error> {
        let (_, store) = self.store(CLOCKS, IdbTransactionMode::Readonly)?;
        let request = store
            .get(&JsValue::from_str(server))
            .map_err(|e| storage_error(&e))?;
        let record = read(&request).await?;
        Ok(js::number_field(&record, "offsetMs").map(|ms| Offset::from_millis(ms as i64)))
    }

    /// Remembers the clock offset measured against `server`, so the next visit starts with it.
    pub async fn save_clock_offset(&self, server: &str, offset: Offset) -> Result<(), Error> {
        let (tx, store) = self.store(CLOCKS, IdbTransactionMode::Readwrite)?;
        let record = Object::new();
        js::set(&record, "offsetMs", offset.millis() as f64);
        store
            .put_with_key(&record, &JsValue::from_str(server))
            .map_err(|e| abort(&tx, &e))?;
        committed(&tx).await
    }

    fn store(
        &self,
        name: &str,
        mode: IdbTransactionMode,
    ) -> Result<(IdbTransaction, IdbObjectStore), Error> {
        let tx = self
            .db
            .transaction_with_str_and_mode(name, mode)
            .map_err(|e| storage_error(&e))?;
        let store = tx.object_store(name).map_err(|e| storage_error(&e))?;
        Ok((tx, store))
    }
}

impl Drop for Keystore {
    fn drop(&mut self) {
        self.db.close();
    }
}

/// Deletes the database `name`, as clearing the browser's site data does.
pub async fn delete_database(name: &str) -> Result<(), Error> {
    let factory: IdbFactory = js::global("indexedDB")
        .and_then(|v| v.dyn_into().ok())
        .ok_or(Error::IndexedDbUnavailable)?;
    let request = factory
        .delete_database(name)
        .map_err(|e| storage_error(&e))?;
    if js::first_event(&request, "success", &["error"])
        .await
        .is_err()
    {
        return Err(request_error(&request)
            .map_or(Error::Storage("UnknownError".into()), |e| storage_error(&e)));
    }
    Ok(())
}

fn create_stores(db: &IdbDatabase) {
    let names = db.object_store_names();
    for name in [ACCOUNTS, CLOCKS] {
        if !names.contains(name) {
            // Fails only if the store exists, which was just checked; a failure would surface as
            // an error of the open request.
            let _ = db.create_object_store(name);
        }
    }
}

/// Waits for a read/write transaction to commit: `complete`, or `abort` with the transaction's
/// error (QuotaExceededError lands here). IndexedDB dispatches these events in later tasks, so
/// awaiting right after issuing the requests, before yielding, cannot miss them.
async fn committed(tx: &IdbTransaction) -> Result<(), Error> {
    match js::first_event(tx, "complete", &["abort"]).await {
        Ok(_) => Ok(()),
        Err(_) => Err(tx
            .error()
            .map_or(Error::Storage("AbortError".into()), |e| storage_error(&e))),
    }
}

/// The result of a read request, or its error.
async fn read(request: &IdbRequest) -> Result<JsValue, Error> {
    match js::first_event(request, "success", &["error"]).await {
        Ok(_) => request.result().map_err(|e| storage_error(&e)),
        Err(_) => Err(request_error(request)
            .map_or(Error::Storage("UnknownError".into()), |e| storage_error(&e))),
    }
}

fn request_error(request: &IdbRequest) -> Option<JsValue> {
    request.error().ok().flatten().map(JsValue::from)
}

fn storage_error(error: &JsValue) -> Error {
    Error::from_storage_exception(&js::error_name(error))
}

/// A request that threw synchronously leaves the transaction open: abort it so nothing of the
/// operation is written, and report the request's error.
fn abort(tx: &IdbTransaction, error: &JsValue) -> Error {
    let _ = tx.abort();
    storage_error(error)
}

/// While opening, any failure means this browser gives the site no usable IndexedDB.
fn open_error(error: &JsValue) -> Error {
    match storage_error(error) {
        Error::Storage(_) => Error::IndexedDbUnavailable,
        other => other,
    }
}

/// `crypto.subtle`, missing outside secure contexts (plain http:// except localhost).
pub(crate) fn subtle() -> Result<SubtleCrypto, Error> {
    js::global("crypto")
        .and_then(|c| js::field(&c, "subtle"))
        .and_then(|s| s.dyn_into().ok())
        .ok_or(Error::CryptoUnavailable)
}

pub(crate) fn crypto_error(error: &JsValue) -> Error {
    Error::Crypto(crate::text::short_name(&js::error_name(error)))
}

/// A fresh device key from `crypto.getRandomValues`, wiped from memory when dropped.
pub fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, Error> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(key.as_mut()).map_err(|_| Error::RandomUnavailable)?;
    Ok(key)
}

/// The WebCrypto name of a hash (WebCrypto section 30, "SHA-1" etc.).
fn hash_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Sha1 => "SHA-1",
        Algorithm::Sha256 => "SHA-256",
        Algorithm::Sha512 => "SHA-512",
    }
}

/// Imports key bytes as an HMAC key that can only sign and can never be exported
/// (extractable = false). The device key uses SHA-1 (docs/product.md rule 1).
pub async fn import_hmac_key(secret: &[u8], algorithm: Algorithm) -> Result<CryptoKey, Error> {
    let params = Object::new();
    js::set(&params, "name", "HMAC");
    js::set(&params, "hash", hash_name(algorithm));
    import_raw(secret, &params, "sign").await
}

/// Imports raw key bytes as a non-extractable key of `algorithm` with the one usage given,
/// wiping the JavaScript copy of the bytes at once.
pub(crate) async fn import_raw(
    secret: &[u8],
    algorithm: &Object,
    usage: &str,
) -> Result<CryptoKey, Error> {
    let usages = Array::of1(&JsValue::from_str(usage));
    let bytes = Uint8Array::from(secret);
    let promise = subtle()?.import_key_with_object("raw", &bytes, algorithm, false, &usages);
    // importKey copies the bytes before it returns (WebCrypto: "get a copy of the bytes held
    // by the keyData parameter"), so the JavaScript copy can be wiped at once.
    bytes.fill(0, 0, bytes.length());
    let key = JsFuture::from(promise.map_err(|e| crypto_error(&e))?)
        .await
        .map_err(|e| crypto_error(&e))?;
    // importKey resolves to a CryptoKey (WebCrypto): no instanceof check in the module.
    Ok(key.unchecked_into())
}

/// HMAC of the counter as 8 big-endian bytes (RFC 4226 section 5.2), computed by WebCrypto
/// with the stored key.
pub async fn hmac(key: &CryptoKey, counter: u64) -> Result<Vec<u8>, Error> {
    let promise = subtle()?
        .sign_with_str_and_u8_array("HMAC", key, &counter.to_be_bytes())
        .map_err(|e| crypto_error(&e))?;
    // sign resolves to an ArrayBuffer (WebCrypto), which Uint8Array reads as it is.
    let mac = JsFuture::from(promise)
        .await
        .map_err(|e| crypto_error(&e))?;
    Ok(Uint8Array::new(&mac).to_vec())
}

/// The OTP for `counter`: WebCrypto's HMAC, then the core's dynamic truncation (RFC 4226
/// section 5.3), so browser and server share one truncation.
pub async fn code(key: &CryptoKey, counter: u64, digits: Digits) -> Result<Code, Error> {
    let mac = hmac(key, counter).await?;
    truncate(&mac, digits).map_err(|_| Error::Crypto("OperationError".into()))
}

/// SHA-256 of `data` as 64 lowercase hex digits.
pub async fn sha256_hex(data: &[u8]) -> Result<String, Error> {
    let promise = subtle()?
        .digest_with_str_and_u8_array("SHA-256", data)
        .map_err(|e| crypto_error(&e))?;
    // digest resolves to an ArrayBuffer (WebCrypto), which Uint8Array reads as it is.
    let digest = JsFuture::from(promise)
        .await
        .map_err(|e| crypto_error(&e))?;
    Ok(Uint8Array::new(&digest)
        .to_vec()
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0x0f)]));
            hex
        }))
}

const HEX: &[u8; 16] = b"0123456789abcdef";
