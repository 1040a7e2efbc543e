//! Every way the browser module can fail, each with a stable code the widget and the host page
//! can switch on, and the one warning (storage persistence) that is not a failure.

/// The environment a trainee registered, as the server describes it in `device_exists` and
/// `unapproved_device` answers (docs/product.md rule 5: the screen names it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisteredDevice {
    /// A human label such as "Chrome on Windows".
    pub label: String,
    /// When it was registered, as ISO 8601 text (empty when the server did not say).
    pub registered_at: String,
    /// Whether it is this browser (same fingerprint, `POST /v1/status`), which then lost its
    /// key: the browser erased its data, or the trainee cleared it.
    pub this_browser: bool,
}

/// Why an operation of the browser module did not succeed.
///
/// Messages are plain language and never contain a secret, a code, a session token or a pass;
/// [`Error::code`] is the stable part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// IndexedDB is missing or refuses to open (some private modes, disabled site data).
    #[error("this browser cannot store data for this site (private mode or site data disabled)")]
    IndexedDbUnavailable,
    /// IndexedDB cannot hold a CryptoKey (DataCloneError: some private modes, Lockdown Mode).
    #[error("this browser cannot keep a security key (private mode or Lockdown Mode)")]
    KeyNotStorable,
    /// The browser's storage quota for this site is used up.
    #[error("this browser's storage for this site is full")]
    QuotaExceeded,
    /// The account's key is not in this browser (its data was cleared): register again.
    #[error("this browser no longer holds the OTP key for this account: register it again")]
    KeyMissing,
    /// WebCrypto (`crypto.subtle`) is missing: the page is not served over HTTPS.
    #[error("this browser offers no secure cryptography here (the page must use HTTPS)")]
    CryptoUnavailable,
    /// `crypto.getRandomValues` failed.
    #[error("this browser could not generate a random key")]
    RandomUnavailable,
    /// Another IndexedDB failure, named by its DOMException name.
    #[error("browser storage failed ({0})")]
    Storage(String),
    /// A WebCrypto operation failed, named by its DOMException name.
    #[error("browser cryptography failed ({0})")]
    Crypto(String),
    /// The browser already holds [`crate::accounts::MAX_ACCOUNTS`] accounts.
    #[error("this browser already holds the most OTP accounts it can (10): remove one first")]
    TooManyAccounts,
    /// A server address that is not an http(s) origin.
    #[error("the server address must be an http:// or https:// URL")]
    InvalidServer,
    /// A missing or malformed argument, named by the field.
    #[error("missing or malformed {0}")]
    InvalidInput(&'static str),
    /// A typed code that is not 6 digits; not sent, not counted as a failure.
    #[error("the code must be 6 digits")]
    MalformedCode,
    /// A wrong code; `attempts_left` more before the account is suspended (rule 4).
    #[error("wrong code: {attempts_left} attempts left before OTP is suspended")]
    InvalidCode {
        /// Wrong codes still allowed before the lock.
        attempts_left: u32,
    },
    /// OTP is suspended for this user after five wrong codes (rule 4).
    #[error("OTP is suspended for this ID: ask your training institution to unlock it")]
    Locked,
    /// The code was already used (rule 3): wait for the next one.
    #[error("this code was already used: wait for the next code")]
    Replayed,
    /// This browser is not the user's registered device (rule 5).
    #[error("this browser is not the registered OTP device ({})", .0.label)]
    UnapprovedDevice(RegisteredDevice),
    /// The user already has a registered device; registering again replaces it.
    #[error("this ID already has a registered OTP device ({})", .0.label)]
    DeviceExists(RegisteredDevice),
    /// The OTP session is unknown or expired: the training site must open a new one.
    #[error("the OTP session has expired: reload the page")]
    InvalidSession,
    /// A wrong activation code (rule 9).
    #[error("wrong activation code: {attempts_left} attempts left")]
    InvalidActivation {
        /// Wrong activation codes still allowed.
        attempts_left: u32,
    },
    /// The activation code is older than 3 days (rule 9).
    #[error("the activation code has expired: ask your training institution for a new one")]
    ActivationExpired,
    /// The activation code was already used (rule 9: single use).
    #[error("the activation code was already used: ask your training institution for a new one")]
    ActivationUsed,
    /// No activation code was issued for this login ID at the institution.
    #[error("this ID is not enrolled for OTP at the institution")]
    NotEnrolled,
    /// No institution has this customer code.
    #[error("wrong customer code")]
    UnknownCustomer,
    /// The institution is not open for service.
    #[error("the institution is not open for OTP service")]
    ServiceClosed,
    /// The account's key is derived with a PIN and no PIN was given.
    #[error("this account needs its PIN")]
    PinRequired,
    /// The server refused the request's shape.
    #[error("the server refused the request")]
    BadRequest,
    /// Too many requests from this address: try again shortly.
    #[error("too many attempts: try again in a minute")]
    RateLimited,
    /// The server refused with an error code this version does not know; the code is passed on.
    #[error("the server refused the request ({code})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's stable error code.
        code: String,
    },
    /// The server could not be reached; nothing was changed, try again.
    #[error("network failure: check the connection and try again")]
    Network,
    /// The server failed or answered something unreadable.
    #[error("server error (HTTP {0}): try again later")]
    Server(u16),
}

impl Error {
    /// The stable error code, the same as the server's for answers that come from it.
    ///
    /// ```
    /// use cloud_otp_web::Error;
    /// assert_eq!(Error::InvalidCode { attempts_left: 3 }.code(), "invalid_code");
    /// assert_eq!(Error::KeyNotStorable.code(), "key_not_storable");
    /// ```
    pub fn code(&self) -> &str {
        match self {
            Error::IndexedDbUnavailable => "indexeddb_unavailable",
            Error::KeyNotStorable => "key_not_storable",
            Error::QuotaExceeded => "quota_exceeded",
            Error::KeyMissing => "key_missing",
            Error::CryptoUnavailable => "crypto_unavailable",
            Error::RandomUnavailable => "random_unavailable",
            Error::Storage(_) => "storage_error",
            Error::Crypto(_) => "crypto_error",
            Error::TooManyAccounts => "too_many_accounts",
            Error::InvalidServer => "invalid_server",
            Error::InvalidInput(_) => "invalid_input",
            Error::MalformedCode => "malformed_code",
            Error::InvalidCode { .. } => "invalid_code",
            Error::Locked => "locked",
            Error::Replayed => "replayed",
            Error::UnapprovedDevice(_) => "unapproved_device",
            Error::DeviceExists(_) => "device_exists",
            Error::InvalidSession => "invalid_session",
            Error::InvalidActivation { .. } => "invalid_activation",
            Error::ActivationExpired => "activation_expired",
            Error::ActivationUsed => "activation_used",
            Error::NotEnrolled => "not_enrolled",
            Error::UnknownCustomer => "unknown_customer",
            Error::ServiceClosed => "service_closed",
            Error::PinRequired => "pin_required",
            Error::BadRequest => "bad_request",
            Error::RateLimited => "rate_limited",
            Error::Refused { code, .. } => code,
            Error::Network => "network_error",
            Error::Server(_) => "server_error",
        }
    }

    /// Whether trying the same thing again later can succeed without the user changing
    /// anything (docs/product.md rule 12: such errors never lose the registration).
    ///
    /// ```
    /// use cloud_otp_web::Error;
    /// assert!(Error::Network.retryable());
    /// assert!(!Error::Locked.retryable());
    /// ```
    pub fn retryable(&self) -> bool {
        matches!(self, Error::Network | Error::Server(_) | Error::RateLimited)
    }

    /// Maps the name of a DOMException raised by IndexedDB to an error (the names are those of
    /// the WebIDL and IndexedDB specifications).
    ///
    /// ```
    /// use cloud_otp_web::Error;
    /// assert_eq!(Error::from_storage_exception("DataCloneError"), Error::KeyNotStorable);
    /// assert_eq!(Error::from_storage_exception("QuotaExceededError"), Error::QuotaExceeded);
    /// ```
    pub fn from_storage_exception(name: &str) -> Error {
        match name {
            "DataCloneError" => Error::KeyNotStorable,
            "QuotaExceededError" => Error::QuotaExceeded,
            // Raised by open() where storage is disabled: Firefox private windows before 115
            // (InvalidStateError), sandboxed or opaque origins (SecurityError).
            "InvalidStateError" | "SecurityError" => Error::IndexedDbUnavailable,
            other => Error::Storage(crate::text::short_name(other)),
        }
    }
}

/// Something the user should know that does not stop the module from working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// The browser did not grant persistent storage, so it may evict the device key under
    /// storage pressure; headless and fresh profiles always answer this way.
    PersistenceDenied,
}

impl Warning {
    /// The stable warning code.
    ///
    /// ```
    /// assert_eq!(cloud_otp_web::Warning::PersistenceDenied.code(), "persistence_denied");
    /// ```
    pub fn code(self) -> &'static str {
        match self {
            Warning::PersistenceDenied => "persistence_denied",
        }
    }
}
