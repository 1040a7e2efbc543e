//! The headless JavaScript API, the `CloudOtp` class: what a training site that draws its own
//! screens uses instead of the widget. Behind the default feature `js-api`; the trainee web app
//! (Trunk, dist/) is built without it, since the widget calls [`Device`] directly and the class
//! adds about 7 KB of gzipped wasm and glue (docs/benchmarks-history.md).

use std::rc::Rc;

use js_sys::{Array, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::accounts::Account;
use crate::api::Authorization;
use crate::pin::Pin;
use crate::{Device, Error, Registration, js, keystore};

#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT: &str = r#"
/** What `register` needs: a session from the training site, or an activation code. */
export interface RegisterOptions {
  /** The cloud-otp server, e.g. "https://otp.example.org". */
  server: string;
  /** An OTP session the training site opened for the trainee (embedded widget). */
  session?: string;
  /** Activation instead of a session: the institution's 4-digit customer code, */
  customerCode?: string;
  /** the trainee's login ID (optional with a session: lets a full browser re-register it), */
  userId?: string;
  /** and the 6-digit activation code. */
  activationCode?: string;
  /** Retire the trainee's current device ("register this browser instead"). */
  replace?: boolean;
  /** The PIN the trainee chose (4 or 6 digits) when the institution's policy asks for one
   *  (`pinDigits` of `customer()`): the key is then derived from it, and `currentCode` needs
   *  `unlock(accountId, pin)` first in every visit. */
  pin?: string;
}

/** An institution, from its customer code: the first step of activation. */
export interface Customer {
  customerCode: string;
  institution: string;
  /** 0 (no PIN), 4 or 6: the PIN the trainee must choose at registration. */
  pinDigits: number;
}

/** One login ID registered in this browser. */
export interface Account {
  /** The account's id in this browser (the device id the server issued). */
  id: string;
  deviceId: string;
  server: string;
  customerCode: string | null;
  userId: string;
  /** This browser as registered, e.g. "Chrome on Linux". */
  label: string;
  /** ISO 8601, server time. */
  registeredAt: string;
  /** 0, or the length of the PIN its key is derived with. */
  pinDigits: number;
}

/** The code to show now, on server time. */
export interface CurrentCode {
  code: string;
  counter: number;
  /** Milliseconds until the next code. */
  remainingMs: number;
  /** Whole seconds until the next code, 60 down to 1. */
  remainingSecs: number;
  serverTimeMs: number;
  stepSecs: number;
}

/** A successful verification: the single-use pass for the training site's backend. */
export interface Pass {
  pass: string;
  /** ISO 8601. */
  expiresAt: string;
}

export interface Fingerprint {
  /** SHA-256, 64 hex digits. */
  hash: string;
  /** e.g. "Chrome on Linux". */
  label: string;
}

export type ErrorCode =
  | "indexeddb_unavailable" | "key_not_storable" | "quota_exceeded" | "key_missing"
  | "crypto_unavailable" | "random_unavailable" | "storage_error" | "crypto_error"
  | "too_many_accounts" | "invalid_server" | "invalid_input" | "malformed_code"
  | "invalid_code" | "locked" | "replayed" | "unapproved_device" | "device_exists"
  | "invalid_session" | "invalid_activation" | "activation_expired" | "activation_used"
  | "not_enrolled" | "unknown_customer" | "service_closed" | "pin_required"
  | "bad_request" | "rate_limited" | "network_error" | "server_error" | (string & {});

/** Every promise of `CloudOtp` rejects with this (an `Error` with `name` "CloudOtpError"). */
export interface CloudOtpError extends Error {
  code: ErrorCode;
  /** True when trying again later can work without changing anything (nothing was lost). */
  retryable: boolean;
  /** With invalid_code and invalid_activation. */
  attemptsLeft?: number;
  /** With unapproved_device and device_exists: the registered environment. */
  device?: { label: string; registeredAt: string };
  /** With server_error and unknown server codes. */
  status?: number;
}

export type WarningCode = "persistence_denied";
"#;

/// This browser as an OTP device, for JavaScript: `await CloudOtp.open()`.
#[wasm_bindgen(js_name = CloudOtp)]
pub struct JsCloudOtp {
    device: Rc<Device>,
}

#[wasm_bindgen(js_class = CloudOtp)]
impl JsCloudOtp {
    /// Opens the device store (IndexedDB database `database`, default "cloud-otp").
    pub async fn open(database: Option<String>) -> Result<JsCloudOtp, JsValue> {
        let name = database.as_deref().unwrap_or(keystore::DEFAULT_DATABASE);
        let device = Device::open(name).await.map_err(error_to_js)?;
        Ok(JsCloudOtp {
            device: Rc::new(device),
        })
    }

    /// Storage warnings, such as "persistence_denied" (the browser may evict the key).
    #[wasm_bindgen(getter, unchecked_return_type = "WarningCode[]")]
    pub fn warnings(&self) -> Array {
        self.device
            .warnings()
            .iter()
            .map(|w| JsValue::from_str(w.code()))
            .collect()
    }

    /// The accounts in this browser, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<Account[]>")]
    pub fn accounts(&self) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            let accounts = device.accounts().await.map_err(error_to_js)?;
            Ok(accounts.iter().map(account_to_js).collect::<Array>().into())
        })
    }

    /// Registers this browser as the trainee's OTP device.
    #[wasm_bindgen(unchecked_return_type = "Promise<Account>")]
    pub fn register(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RegisterOptions")] options: JsValue,
    ) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            let registration = registration_from_js(&options).map_err(error_to_js)?;
            let account = device.register(&registration).await.map_err(error_to_js)?;
            Ok(account_to_js(&account))
        })
    }

    /// The code of account `accountId` now, on server time, with the time it has left.
    #[wasm_bindgen(js_name = currentCode, unchecked_return_type = "Promise<CurrentCode>")]
    pub fn current_code(&self, #[wasm_bindgen(js_name = accountId)] account_id: String) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            let now = device
                .current_code(&account_id)
                .await
                .map_err(error_to_js)?;
            let out = Object::new();
            js::set(&out, "code", now.code.as_str());
            js::set(&out, "counter", now.counter as f64);
            js::set(&out, "remainingMs", now.remaining_ms as f64);
            js::set(&out, "remainingSecs", now.remaining_secs as f64);
            js::set(&out, "serverTimeMs", now.server_time_ms as f64);
            js::set(&out, "stepSecs", cloud_otp_core::Step::SIXTY.secs() as f64);
            Ok(out.into())
        })
    }

    /// Gives the PIN of a PIN account for this visit (its key is derived in memory). A wrong PIN
    /// is not detected here: its codes are refused by the server and count toward the lock.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn unlock(
        &self,
        #[wasm_bindgen(js_name = accountId)] account_id: String,
        pin: String,
    ) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            // Device::unlock checks the length against the account's own.
            let pin = Pin::new(&pin, pin.len().try_into().unwrap_or(0)).map_err(error_to_js)?;
            device
                .unlock(&account_id, &pin)
                .await
                .map_err(error_to_js)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The institution behind a customer code at `server`: its name and PIN policy.
    #[wasm_bindgen(unchecked_return_type = "Promise<Customer>")]
    pub fn customer(
        &self,
        server: String,
        #[wasm_bindgen(js_name = customerCode)] customer_code: String,
    ) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            let customer = device
                .customer(&server, &customer_code)
                .await
                .map_err(error_to_js)?;
            let out = Object::new();
            js::set(&out, "customerCode", customer.customer_code.as_str());
            js::set(&out, "institution", customer.institution.as_str());
            js::set(&out, "pinDigits", customer.pin_digits);
            Ok(out.into())
        })
    }

    /// Sends the code the trainee typed; resolves with the pass for the training site.
    #[wasm_bindgen(unchecked_return_type = "Promise<Pass>")]
    pub fn verify(
        &self,
        #[wasm_bindgen(js_name = accountId)] account_id: String,
        session: String,
        code: String,
    ) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            let pass = device
                .verify(&account_id, &session, &code)
                .await
                .map_err(error_to_js)?;
            let out = Object::new();
            js::set(&out, "pass", pass.pass.as_str());
            js::set(&out, "expiresAt", pass.expires_at.as_str());
            Ok(out.into())
        })
    }

    /// Removes an account and its key from this browser; the others stay.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn remove(&self, #[wasm_bindgen(js_name = accountId)] account_id: String) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            device.remove(&account_id).await.map_err(error_to_js)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Measures the clock offset to `server` (GET /v1/time); resolves with it in milliseconds
    /// (server minus device).
    #[wasm_bindgen(js_name = syncClock, unchecked_return_type = "Promise<number>")]
    pub fn sync_clock(&self, server: String) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            let offset = device.sync_clock(&server).await.map_err(error_to_js)?;
            Ok(JsValue::from_f64(offset.millis() as f64))
        })
    }

    /// This browser's fingerprint and label.
    #[wasm_bindgen(unchecked_return_type = "Promise<Fingerprint>")]
    pub fn fingerprint(&self) -> Promise {
        let device = self.device.clone();
        future_to_promise(async move {
            let fingerprint = device.fingerprint().await.map_err(error_to_js)?;
            let out = Object::new();
            js::set(&out, "hash", fingerprint.hash.as_str());
            js::set(&out, "label", fingerprint.label.as_str());
            Ok(out.into())
        })
    }
}

fn registration_from_js(options: &JsValue) -> Result<Registration, Error> {
    let text = |name| js::string_field(options, name);
    let server = text("server").ok_or(Error::InvalidServer)?;
    let authorization = match (
        text("session"),
        text("customerCode"),
        text("userId"),
        text("activationCode"),
    ) {
        (Some(session), _, _, None) => Authorization::Session(session),
        (None, Some(customer_code), Some(user_id), Some(activation_code)) => {
            Authorization::Activation {
                customer_code,
                user_id,
                activation_code,
            }
        }
        _ => {
            return Err(Error::InvalidInput(
                "session or customerCode + userId + activationCode",
            ));
        }
    };
    let pin = match text("pin") {
        Some(pin) => Some(Pin::new(&pin, pin.len().try_into().unwrap_or(0))?),
        None => None,
    };
    Ok(Registration {
        server,
        authorization,
        user_id: text("userId"),
        replace: js::bool_field(options, "replace").unwrap_or(false),
        pin,
    })
}

fn account_to_js(account: &Account) -> JsValue {
    let out = Object::new();
    js::set(&out, "id", account.id.as_str());
    js::set(&out, "deviceId", account.id.as_str());
    js::set(&out, "server", account.server.as_str());
    js::set(
        &out,
        "customerCode",
        account
            .customer_code
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from),
    );
    js::set(&out, "userId", account.user_id.as_str());
    js::set(&out, "label", account.label.as_str());
    let registered_at =
        js_sys::Date::new(&JsValue::from_f64(account.registered_at_ms)).to_iso_string();
    js::set(&out, "registeredAt", registered_at);
    js::set(&out, "pinDigits", account.pin_digits);
    out.into()
}

/// A JavaScript `Error` named "CloudOtpError" carrying the stable code and the details the UI
/// needs; never a secret, code or token.
// The message is the error's Display text: the headless API (feature js-api), which the web
// app's module leaves out, may carry core::fmt.
#[allow(clippy::disallowed_methods)]
pub fn error_to_js(error: Error) -> JsValue {
    let out = js_sys::Error::new(&error.to_string());
    out.set_name("CloudOtpError");
    js::set(&out, "code", error.code());
    js::set(&out, "retryable", error.retryable());
    match &error {
        Error::InvalidCode { attempts_left } | Error::InvalidActivation { attempts_left } => {
            js::set(&out, "attemptsLeft", *attempts_left);
        }
        Error::UnapprovedDevice(device) | Error::DeviceExists(device) => {
            let d = Object::new();
            js::set(&d, "label", device.label.as_str());
            js::set(&d, "registeredAt", device.registered_at.as_str());
            js::set(&out, "device", d);
        }
        Error::Server(status) | Error::Refused { status, .. } => js::set(&out, "status", *status),
        _ => {}
    }
    out.into()
}
