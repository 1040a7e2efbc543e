//! This browser as an OTP device: registration, the accounts it holds, the current code on
//! server time, and verification. The JavaScript API in `lib.rs` is a thin wrapper over it.

use std::cell::RefCell;
use std::rc::Rc;

use cloud_otp_core::{Algorithm, Digits, PROOF_COUNTER, Step};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, StorageManager};

use crate::accounts::{self, Account, MAX_ACCOUNTS};
use crate::api::{Authorization, Client, Customer, Pass, SessionStatus};
use crate::clock::{self, Offset, Sample};
use crate::fingerprint::Fingerprint;
use crate::keystore::{self, Keystore};
use crate::pin::{self, Pin};
use crate::{Error, Warning, js, text};

/// What `register` needs.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The cloud-otp server, an http(s) URL.
    pub server: String,
    /// The session or activation code that authorizes it.
    pub authorization: Authorization,
    /// The login ID, when the caller knows it: with a session, this lets a full browser (10
    /// accounts) re-register one of its IDs without contacting the server first.
    pub user_id: Option<String>,
    /// Retire the user's current device (docs/product.md rule 5, "register this browser instead").
    pub replace: bool,
    /// The PIN the trainee chose, when the institution's policy asks for one: the key becomes
    /// HKDF(seed, PIN) ([`crate::pin`]).
    pub pin: Option<Pin>,
}

/// The code to show now and how long it stays.
#[derive(Clone, PartialEq, Eq)]
pub struct CurrentCode {
    /// The 6-digit code.
    pub code: String,
    /// Its TOTP counter.
    pub counter: u64,
    /// Milliseconds until the next code, on server time.
    pub remaining_ms: u64,
    /// Whole seconds until the next code, on server time (60 down to 1).
    pub remaining_secs: u64,
    /// The server time the code was computed for, Unix milliseconds.
    pub server_time_ms: u64,
}

/// A code is a credential while it is valid: `Debug` does not show it.
impl std::fmt::Debug for CurrentCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CurrentCode(redacted, {} ms left)", self.remaining_ms)
    }
}

/// How far the device clock may move against the server's between two visits for
/// [`Device::quick_code`] to give the code the server expects.
pub const QUICK_GUARD_MS: u64 = 5_000;

/// The OTP device this browser is.
pub struct Device {
    store: Keystore,
    // A handful of servers at most (one per account): a list is smaller than a map in wasm.
    offsets: RefCell<Vec<(String, Offset)>>,
    fingerprint: RefCell<Option<Fingerprint>>,
    /// Shared with the answer to a request for persistent storage, which may come late or never.
    warnings: Rc<RefCell<Vec<Warning>>>,
    /// The HMAC keys of PIN accounts whose PIN was given in this visit, by account id; they
    /// live only in memory and go with the page.
    unlocked: RefCell<Vec<(String, CryptoKey)>>,
}

impl Device {
    /// Opens the device store in the IndexedDB database `database`
    /// ([`keystore::DEFAULT_DATABASE`] unless testing).
    pub async fn open(database: &str) -> Result<Device, Error> {
        // Only ask whether storage is persistent here (no browser prompts for that); asking for
        // it waits for a registration. The browser answers while the database opens.
        let persisted = persistence(false);
        let store = Keystore::open(database).await?;
        let warnings = if persisted.await {
            Vec::new()
        } else {
            vec![Warning::PersistenceDenied]
        };
        Ok(Device {
            store,
            offsets: RefCell::new(Vec::new()),
            fingerprint: RefCell::new(None),
            warnings: Rc::new(RefCell::new(warnings)),
            unlocked: RefCell::new(Vec::new()),
        })
    }

    /// Warnings about this browser's storage.
    pub fn warnings(&self) -> Vec<Warning> {
        self.warnings.borrow().clone()
    }

    /// The accounts this browser holds, oldest first.
    pub async fn accounts(&self) -> Result<Vec<Account>, Error> {
        self.store.accounts().await
    }

    /// Registers this browser as the OTP device of a login ID.
    ///
    /// Nothing is sent unless the browser can keep the key (capacity and storability are
    /// checked first); the key's bytes are sent once and wiped; if the server refuses or cannot
    /// be reached, the accounts already here are untouched.
    pub async fn register(&self, registration: &Registration) -> Result<Account, Error> {
        let client = Client::new(&registration.server)?;
        let expected =
            check_authorization(&registration.authorization, registration.user_id.as_deref())?;
        let existing = self.store.accounts().await?;
        if existing.len() >= MAX_ACCOUNTS {
            let customer = match &registration.authorization {
                Authorization::Activation { customer_code, .. } => Some(customer_code.as_str()),
                Authorization::Session(_) => None,
            };
            let known = expected.is_some_and(|user| {
                accounts::slot_for(&existing, client.server(), customer, user)
                    .is_ok_and(|slot| slot.is_some())
            });
            if !known {
                return Err(Error::TooManyAccounts);
            }
        }
        let fingerprint = self.fingerprint().await?;
        let key_bytes = keystore::random_key()?;
        // With a PIN, the browser keeps the seed (deriveKey only) and the server gets the key
        // derived from it; without, both hold the same HMAC key.
        let (key, secret) = match &registration.pin {
            Some(pin) => (
                pin::import_seed(key_bytes.as_ref(), "deriveKey").await?,
                pin::derive_bits(key_bytes.as_ref(), pin).await?,
            ),
            None => (
                keystore::import_hmac_key(key_bytes.as_ref(), Algorithm::Sha1).await?,
                zeroize::Zeroizing::new(key_bytes.to_vec()),
            ),
        };
        drop(key_bytes);
        // The key is stored and read back first, and the proof made with the key read back: a
        // browser that cannot keep it fails here, and the server hears of nothing.
        let key = self.store.round_trip(&key).await?;
        // The key that signs: the stored one, or with a PIN the one derived from it.
        let signing = match &registration.pin {
            Some(pin) => pin::derive_key(&key, pin).await?,
            None => key.clone(),
        };
        let proof = keystore::hmac(&signing, PROOF_COUNTER).await?;
        let registered = client
            .register(
                &registration.authorization,
                &secret,
                &proof,
                &fingerprint.hash,
                &fingerprint.label,
                registration.replace,
            )
            .await;
        // The server has its copy (or refused): the browser keeps only the CryptoKey.
        drop(secret);
        let registered = registered?;
        if registered.sample.server_ms.is_finite() {
            self.remember_offset(client.server(), Offset::from_sample(&registered.sample))
                .await;
        }
        let customer_code = registered
            .customer_code
            .or(match &registration.authorization {
                Authorization::Activation { customer_code, .. } => Some(customer_code.clone()),
                Authorization::Session(_) => None,
            });
        let registered_at_ms = if registered.sample.server_ms.is_finite() {
            registered.sample.server_ms
        } else {
            registered.sample.received_ms
        };
        let account = Account {
            id: registered.device_id,
            server: client.server().to_owned(),
            customer_code,
            user_id: registered.user_id,
            label: fingerprint.label,
            registered_at_ms,
            pin_digits: registration.pin.as_ref().map_or(0, Pin::digits),
        };
        let replaces = accounts::slot_for(
            &existing,
            &account.server,
            account.customer_code.as_deref(),
            &account.user_id,
        )?;
        self.store.save(&account, &key, replaces.as_deref()).await?;
        if registration.pin.is_some() {
            // The PIN was just typed: this visit shows codes without asking for it again.
            self.unlocked
                .borrow_mut()
                .push((account.id.clone(), signing));
        }
        self.ask_persistence();
        Ok(account)
    }

    /// Asks for persistent storage once the key is worth keeping, and never waits for the answer.
    ///
    /// A grant only protects against eviction under disk pressure, in Chromium (which answers at
    /// once, from site engagement) and Firefox (which shows a prompt and answers only when the
    /// person does: in automation, never). Safari has no `persist()` and its 7-day erasure
    /// ignores it (docs/browsers.md). So registration and codes go on at once; a grant, whenever
    /// it comes, lifts the warning.
    fn ask_persistence(&self) {
        let asked = persistence(true);
        let warnings = Rc::clone(&self.warnings);
        wasm_bindgen_futures::spawn_local(async move {
            if asked.await {
                warnings
                    .borrow_mut()
                    .retain(|w| *w != Warning::PersistenceDenied);
            }
        });
    }

    /// The code of account `id` now, on server time.
    pub async fn current_code(&self, id: &str) -> Result<CurrentCode, Error> {
        self.current_code_at(id, None).await
    }

    /// The code of account `id` now, on the clock offset stored on the last visit, without
    /// asking the server; `None` when no offset is stored, or when the code is within
    /// [`QUICK_GUARD_MS`] of either end of its step.
    ///
    /// The widget shows it at once and confirms it with [`Device::current_code`], which measures
    /// the offset: on a phone that round trip can take a second. The two codes are the same
    /// unless the device clock moved by more than the guard against the server's since the last
    /// visit (set by hand, say); then the confirmed code replaces the quick one.
    pub async fn quick_code(&self, id: &str) -> Result<Option<CurrentCode>, Error> {
        self.quick_code_at(id, None).await
    }

    /// [`Device::quick_code`] at device time `device_ms` (now when `None`).
    pub async fn quick_code_at(
        &self,
        id: &str,
        device_ms: Option<f64>,
    ) -> Result<Option<CurrentCode>, Error> {
        let (account, key) = self.signing_key(id).await?;
        let Some(offset) = self.store.clock_offset(&account.server).await? else {
            return Ok(None);
        };
        let device_ms = device_ms.unwrap_or_else(clock::device_now_ms);
        let server_ms = clock::server_time_ms(device_ms, offset);
        if !clock::clear_of_step_edges(server_ms, Step::SIXTY, QUICK_GUARD_MS) {
            return Ok(None);
        }
        code_at(&key, server_ms).await.map(Some)
    }

    /// The code of account `id` at device time `device_ms` (now when `None`), on server time.
    /// Taking the device time as an argument lets tests set the device clock hours off.
    pub async fn current_code_at(
        &self,
        id: &str,
        device_ms: Option<f64>,
    ) -> Result<CurrentCode, Error> {
        self.code_and_clock(id, device_ms)
            .await
            .map(|(code, _)| code)
    }

    /// [`Device::current_code_at`], and whether the clock offset was measured in this visit:
    /// `false` when the server could not be reached and the offset stored on the last visit
    /// stood in (the installed app then says it is offline).
    pub async fn code_and_clock(
        &self,
        id: &str,
        device_ms: Option<f64>,
    ) -> Result<(CurrentCode, bool), Error> {
        let (account, key) = self.signing_key(id).await?;
        let (offset, measured) = self.offset(&account.server).await?;
        let device_ms = device_ms.unwrap_or_else(clock::device_now_ms);
        let code = code_at(&key, clock::server_time_ms(device_ms, offset)).await?;
        Ok((code, measured))
    }

    /// Sends a code the trainee typed for account `id` to the server, with an OTP session.
    pub async fn verify(&self, id: &str, session: &str, code: &str) -> Result<Pass, Error> {
        if code.len() != usize::from(Digits::SIX.get()) || !code.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::MalformedCode);
        }
        if session.is_empty() {
            return Err(Error::InvalidInput("session"));
        }
        let (account, _) = self.store.account(id).await?;
        let fingerprint = self.fingerprint().await?;
        Client::new(&account.server)?
            .verify(session, &account.id, &fingerprint.hash, code)
            .await
    }

    /// Where the user of an OTP session stands (`POST /v1/status` on `server`), and this
    /// browser's account for that user, if it holds one.
    pub async fn session(
        &self,
        server: &str,
        session: &str,
    ) -> Result<(SessionStatus, Option<Account>), Error> {
        let client = Client::new(server)?;
        let accounts = self.store.accounts().await?;
        // A browser that holds no account at all may have lost its data: the fingerprint asks
        // whether the user's device is this browser. A browser with accounts shows its code
        // without waiting for the fingerprint.
        let fingerprint = match accounts.is_empty() {
            true => Some(self.fingerprint().await?.hash),
            false => None,
        };
        let status = client.status(session, fingerprint.as_deref()).await?;
        let account = accounts.into_iter().find(|a| {
            a.is_same_user(
                client.server(),
                status.customer_code.as_deref(),
                &status.user_id,
            )
        });
        Ok((status, account))
    }

    /// Removes account `id` and its key from this browser; the other accounts stay.
    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        self.lock(id);
        self.store.remove(id).await
    }

    /// Gives the PIN of account `id` for this visit: its HMAC key is derived now and kept in
    /// memory. A wrong PIN is not detectable here (that is the design): it gives codes the
    /// server refuses, and five of them suspend the ID like any wrong code.
    pub async fn unlock(&self, id: &str, pin: &Pin) -> Result<(), Error> {
        let (account, seed) = self.store.account(id).await?;
        if account.pin_digits == 0 || pin.digits() != account.pin_digits {
            return Err(Error::InvalidInput("pin"));
        }
        let key = pin::derive_key(&seed, pin).await?;
        self.lock(id);
        self.unlocked.borrow_mut().push((id.to_owned(), key));
        Ok(())
    }

    /// Whether the PIN of account `id` was given in this visit.
    pub fn is_unlocked(&self, id: &str) -> bool {
        self.unlocked.borrow().iter().any(|(a, _)| a == id)
    }

    /// Forgets the PIN-derived key of account `id`, so the next code asks for the PIN again.
    pub fn lock(&self, id: &str) {
        self.unlocked.borrow_mut().retain(|(a, _)| a != id);
    }

    /// The institution behind `customer_code` at `server`: its name and PIN policy, the first
    /// step of activation.
    pub async fn customer(&self, server: &str, customer_code: &str) -> Result<Customer, Error> {
        Client::new(server)?.customer(customer_code).await
    }

    /// The account and the key that signs its codes: the stored key, or for a PIN account the
    /// key derived in [`Device::unlock`] ([`Error::PinRequired`] before that).
    async fn signing_key(&self, id: &str) -> Result<(Account, CryptoKey), Error> {
        let (account, key) = self.store.account(id).await?;
        if account.pin_digits == 0 {
            return Ok((account, key));
        }
        let derived = self
            .unlocked
            .borrow()
            .iter()
            .find(|(a, _)| a == id)
            .map(|(_, k)| k.clone());
        derived.map(|k| (account, k)).ok_or(Error::PinRequired)
    }

    /// Measures the clock offset to `server` now and keeps it for this and later visits.
    pub async fn sync_clock(&self, server: &str) -> Result<Offset, Error> {
        let client = Client::new(server)?;
        let offset = Offset::from_sample(&client.time().await?);
        self.remember_offset(client.server(), offset).await;
        Ok(offset)
    }

    /// Uses a clock measurement taken elsewhere (tests, or a host page that already asked).
    pub async fn use_sample(&self, server: &str, sample: &Sample) -> Result<Offset, Error> {
        let server = accounts::normalize_server(server)?;
        let offset = Offset::from_sample(sample);
        self.remember_offset(&server, offset).await;
        Ok(offset)
    }

    /// This browser's fingerprint, computed once per instance.
    pub async fn fingerprint(&self) -> Result<Fingerprint, Error> {
        if let Some(known) = self.fingerprint.borrow().clone() {
            return Ok(known);
        }
        let fresh = Fingerprint::current().await?;
        *self.fingerprint.borrow_mut() = Some(fresh.clone());
        Ok(fresh)
    }

    /// The offset to `server`: measured in this visit, else measured now, else the one from the
    /// last visit when the server cannot be reached; and whether it was measured in this visit.
    async fn offset(&self, server: &str) -> Result<(Offset, bool), Error> {
        let known = self
            .offsets
            .borrow()
            .iter()
            .find(|(s, _)| s == server)
            .map(|(_, o)| *o);
        if let Some(offset) = known {
            return Ok((offset, true));
        }
        match self.sync_clock(server).await {
            Ok(offset) => Ok((offset, true)),
            Err(error) => match self.store.clock_offset(server).await {
                Ok(Some(offset)) => Ok((offset, false)),
                _ => Err(error),
            },
        }
    }

    async fn remember_offset(&self, server: &str, offset: Offset) {
        {
            let mut offsets = self.offsets.borrow_mut();
            offsets.retain(|(s, _)| s != server);
            offsets.push((server.to_owned(), offset));
        }
        // Only a head start for the next visit: failing to store it changes nothing now.
        let _ = self.store.save_clock_offset(server, offset).await;
    }
}

/// The code of `key` at server time `server_ms`: WebCrypto HMAC-SHA-1 and the core's truncation,
/// 60-second steps and 6 digits (docs/product.md rule 1).
pub async fn code_at(key: &CryptoKey, server_ms: u64) -> Result<CurrentCode, Error> {
    let step = clock::step_time(server_ms, Step::SIXTY);
    let code = keystore::code(key, step.counter, Digits::SIX).await?;
    Ok(CurrentCode {
        code: text::code(code),
        counter: step.counter,
        remaining_ms: step.remaining_ms,
        remaining_secs: step.remaining_secs,
        server_time_ms: server_ms,
    })
}

/// Checks the authorization's fields before anything is sent; returns the login ID when known.
fn check_authorization<'a>(
    authorization: &'a Authorization,
    user_id: Option<&'a str>,
) -> Result<Option<&'a str>, Error> {
    let digits = |text: &str, n: usize| text.len() == n && text.bytes().all(|b| b.is_ascii_digit());
    match authorization {
        Authorization::Session(session) => {
            if session.is_empty() {
                return Err(Error::InvalidInput("session"));
            }
            if let Some(user) = user_id {
                accounts::check_user_id(user)?;
            }
            Ok(user_id)
        }
        Authorization::Activation {
            customer_code,
            user_id,
            activation_code,
        } => {
            if !digits(customer_code, 4) {
                return Err(Error::InvalidInput("customer_code"));
            }
            accounts::check_user_id(user_id)?;
            if !digits(activation_code, 6) {
                return Err(Error::InvalidInput("activation_code"));
            }
            Ok(Some(user_id))
        }
    }
}

/// Whether this site's storage is persistent; with `ask`, asks for it first
/// (`navigator.storage.persist()`, which headless Chromium always answers with false and Firefox
/// answers only after a prompt: never await it where a person waits). The
/// browser is asked at the call, not when the future is first polled, so the answer can come
/// while something else is awaited.
fn persistence(ask: bool) -> impl Future<Output = bool> {
    let promise = js::global("navigator")
        .and_then(|n| js::field(&n, "storage"))
        .and_then(|s| s.dyn_into::<StorageManager>().ok())
        .and_then(|storage| {
            if ask {
                storage.persist().ok()
            } else {
                storage.persisted().ok()
            }
        });
    async move {
        match promise {
            Some(promise) => JsFuture::from(promise)
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            None => false,
        }
    }
}
