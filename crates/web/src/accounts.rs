//! The OTP accounts one browser holds (docs/product.md rule 10: up to 10 login IDs), what identifies
//! them, and how they are written to IndexedDB next to their keys.

use js_sys::Object;
use wasm_bindgen::JsValue;

use crate::Error;
use crate::js;

/// The most accounts one browser holds.
pub const MAX_ACCOUNTS: usize = 10;

/// One login ID registered in this browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The account's id in this browser: the device id the server issued at registration.
    pub id: String,
    /// The cloud-otp server, as normalized by [`normalize_server`].
    pub server: String,
    /// The institution's customer code, when registration went through activation or the
    /// server named it.
    pub customer_code: Option<String>,
    /// The trainee's login ID at the institution (an opaque ID, no personal data).
    pub user_id: String,
    /// The label of this browser when it registered, such as "Chrome on Linux".
    pub label: String,
    /// Server time of the registration, Unix milliseconds.
    pub registered_at_ms: f64,
    /// The PIN's length when the key is derived with a PIN (4 or 6), else 0: the stored key is
    /// then the seed, and codes need the PIN ([`crate::pin`]).
    pub pin_digits: u8,
}

impl Account {
    /// Whether this account is the same login ID at the same institution as the one described;
    /// an unknown customer code matches any, since a session-based registration may not learn it.
    pub fn is_same_user(&self, server: &str, customer_code: Option<&str>, user_id: &str) -> bool {
        let same_customer = match (self.customer_code.as_deref(), customer_code) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.server == server && self.user_id == user_id && same_customer
    }

    /// The IndexedDB record: this account plus its non-extractable key, stored together so one
    /// write adds or removes both.
    pub(crate) fn to_record(&self, key: &JsValue) -> Object {
        let record = Object::new();
        js::set(&record, "id", self.id.as_str());
        js::set(&record, "server", self.server.as_str());
        js::set(
            &record,
            "customerCode",
            self.customer_code
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from),
        );
        js::set(&record, "userId", self.user_id.as_str());
        js::set(&record, "label", self.label.as_str());
        js::set(&record, "registeredAt", self.registered_at_ms);
        js::set(&record, "pinDigits", self.pin_digits);
        js::set(&record, "key", key);
        record
    }

    /// Reads an IndexedDB record; `None` when a field is missing (a record this module did not
    /// write).
    pub(crate) fn from_record(record: &JsValue) -> Option<Account> {
        Some(Account {
            id: js::string_field(record, "id")?,
            server: js::string_field(record, "server")?,
            customer_code: js::string_field(record, "customerCode"),
            user_id: js::string_field(record, "userId")?,
            label: js::string_field(record, "label").unwrap_or_default(),
            registered_at_ms: js::number_field(record, "registeredAt").unwrap_or(0.0),
            pin_digits: js::number_field(record, "pinDigits").map_or(0, |n| n as u8),
        })
    }
}

/// Where a new registration goes: the id of the account it replaces (the same login ID
/// registering again), or `None` for a new slot; refuses an eleventh account.
///
/// ```
/// use cloud_otp_web::accounts::{Account, MAX_ACCOUNTS, slot_for};
/// let account = |i: usize| Account {
///     id: format!("d{i}"), server: "https://otp.example".into(), customer_code: None,
///     user_id: format!("u{i}"), label: "Chrome on Linux".into(), registered_at_ms: 0.0,
///     pin_digits: 0,
/// };
/// let ten: Vec<Account> = (0..MAX_ACCOUNTS).map(account).collect();
/// assert_eq!(slot_for(&ten, "https://otp.example", None, "u3"), Ok(Some("d3".into())));
/// assert!(slot_for(&ten, "https://otp.example", None, "u10").is_err());
/// ```
pub fn slot_for(
    existing: &[Account],
    server: &str,
    customer_code: Option<&str>,
    user_id: &str,
) -> Result<Option<String>, Error> {
    if let Some(same) = existing
        .iter()
        .find(|a| a.is_same_user(server, customer_code, user_id))
    {
        return Ok(Some(same.id.clone()));
    }
    if existing.len() >= MAX_ACCOUNTS {
        return Err(Error::TooManyAccounts);
    }
    Ok(None)
}

/// Checks a server address and puts it in one form (no trailing slash), so the same server is
/// never stored twice under two spellings.
///
/// ```
/// use cloud_otp_web::accounts::normalize_server;
/// assert_eq!(normalize_server(" https://otp.example/ ").unwrap(), "https://otp.example");
/// assert!(normalize_server("otp.example").is_err());
/// assert!(normalize_server("https://otp.example/?x=1").is_err());
/// ```
pub fn normalize_server(server: &str) -> Result<String, Error> {
    let mut trimmed = server.trim_ascii();
    // A byte loop: `trim_end_matches` brings UTF-8 decoding backwards into the module.
    while let Some(shorter) = trimmed.strip_suffix('/') {
        trimmed = shorter;
    }
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or(Error::InvalidServer)?;
    let clean = !rest.is_empty()
        && !rest.starts_with('/')
        && rest
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '?' && c != '#');
    if clean {
        Ok(trimmed.to_owned())
    } else {
        Err(Error::InvalidServer)
    }
}

/// Checks a login ID the way the server does (1 to 128 printable characters), so a bad one
/// is refused before anything is sent.
///
/// ```
/// use cloud_otp_web::accounts::check_user_id;
/// assert!(check_user_id("trainee-042").is_ok());
/// assert!(check_user_id("").is_err());
/// assert!(check_user_id("a\nb").is_err());
/// assert!(check_user_id(&"가".repeat(128)).is_ok());
/// assert!(check_user_id(&"가".repeat(129)).is_err());
/// ```
pub fn check_user_id(user_id: &str) -> Result<(), Error> {
    // One loop that counts as it checks: `chars().count()` would bring its 800-byte fast path
    // into the browser module for IDs of a few characters.
    let mut len = 0;
    for c in user_id.chars() {
        if c.is_control() {
            return Err(Error::InvalidInput("user_id"));
        }
        len += 1;
    }
    if (1..=128).contains(&len) {
        Ok(())
    } else {
        Err(Error::InvalidInput("user_id"))
    }
}
