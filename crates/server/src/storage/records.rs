//! The records the storage reads and writes: one type per row shape, and the requests and
//! answers of its multi-statement writes.

use cloud_otp_core::State;

use crate::audit::{AuditEvent, AuditOutcome};
use crate::test_mode::TestMode;
use crate::validate::PinDigits;

/// An institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Internal identifier.
    pub id: String,
    /// Display name, the issuer of authenticator entries.
    pub name: String,
    /// The 4-digit customer code trainees type when activating.
    pub customer_code: String,
    /// The PIN policy: how many digits the PIN has that browsers mix into their keys.
    pub pin_digits: PinDigits,
    /// Whether trainees may use OTP at this institution now (open for service).
    pub in_service: bool,
    /// A test institution's fixed outcome (src/test_mode.rs); `None` for a real one.
    pub test_mode: Option<TestMode>,
}

/// A tenant to create.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Internal identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// 4-digit customer code, unique.
    pub customer_code: String,
    /// SHA-256 of the API key.
    pub api_key_hash: String,
    /// Registered web origins.
    pub origins: Vec<String>,
    /// The PIN policy.
    pub pin_digits: PinDigits,
    /// A test institution's fixed outcome; `None` for a real one.
    pub test_mode: Option<TestMode>,
    /// Creation time.
    pub created_ms: i64,
}

/// An OTP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The tenant that opened it.
    pub tenant_id: String,
    /// The user it is for.
    pub user_id: String,
    /// Why OTP is asked.
    pub purpose: String,
    /// Expiry time.
    pub expires_ms: i64,
    /// When a successful verification spent it.
    pub used_ms: Option<i64>,
}

impl SessionRecord {
    /// Whether the session can still be used at `now_ms`.
    pub fn usable(&self, now_ms: i64) -> bool {
        self.used_ms.is_none() && now_ms < self.expires_ms
    }
}

/// A registered device as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Device identifier.
    pub id: String,
    /// `browser` or `authenticator`.
    pub kind: String,
    /// Human label.
    pub label: String,
    /// SHA-256 fingerprint of the browser; none for authenticator apps.
    pub fingerprint: Option<String>,
    /// The encrypted secret (see `Crypto::seal_secret`).
    pub secret_enc: String,
    /// Registration time.
    pub registered_ms: i64,
}

/// A user's verification state and active device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The state the core's `verify` works on.
    pub state: State,
    /// The compare-and-set version of `state`.
    pub version: i64,
    /// The active device, if any.
    pub device: Option<DeviceRecord>,
}

/// A device to register.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Device identifier.
    pub id: String,
    /// `browser` or `authenticator`.
    pub kind: String,
    /// Human label.
    pub label: String,
    /// Browser fingerprint, if a browser.
    pub fingerprint: Option<String>,
    /// The encrypted secret.
    pub secret_enc: String,
}

/// A registration: which user, which device, and what authorizes it.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// The new device.
    pub device: NewDevice,
    /// Retire an existing device instead of refusing.
    pub replace: bool,
    /// Consume the user's activation code, which must still be unused, unexpired and at this
    /// attempt count (the value read when the code was checked).
    pub activation_attempts: Option<i64>,
    /// Now.
    pub now_ms: i64,
}

/// What a registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// The device is active; `replaced` is the device it retired.
    Done {
        /// The retired device.
        replaced: Option<DeviceRecord>,
    },
    /// Refused: the user has this active device and `replace` was false.
    Exists(DeviceRecord),
    /// Refused: the user is suspended.
    Locked,
    /// Refused: the activation code was used or changed meanwhile.
    ActivationGone,
}

/// A pass to issue.
#[derive(Debug, Clone)]
pub struct NewPass {
    /// SHA-256 of the pass token.
    pub token_hash: String,
    /// Why OTP was asked (from the session).
    pub purpose: String,
    /// The device that produced the code.
    pub device_id: String,
    /// Its kind.
    pub device_kind: String,
    /// Its label.
    pub device_label: String,
    /// The web origin the code was typed on, when the request named one.
    pub origin: Option<String>,
    /// Expiry time.
    pub expires_ms: i64,
}

/// The write that ends a verification.
#[derive(Debug, Clone)]
pub struct VerifyCommit {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// The version read; the write happens only if it is still current.
    pub expected_version: i64,
    /// The new state from the core.
    pub state: State,
    /// On success through the widget: the session to spend and the pass to issue.
    pub spend: Option<(String, NewPass)>,
    /// Audit events written in the same transaction.
    pub audit: Vec<AuditEntry>,
    /// Now.
    pub now_ms: i64,
}

/// What a verification write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Written.
    Done,
    /// The state changed since it was read: decide again.
    Conflict,
    /// The session was spent or expired meanwhile.
    SessionGone,
}

/// A redeemed pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassRecord {
    /// The user who passed.
    pub user_id: String,
    /// For what.
    pub purpose: String,
    /// Device kind.
    pub device_kind: String,
    /// Device label.
    pub device_label: String,
    /// When the code was accepted.
    pub verified_ms: i64,
    /// The web origin the code was typed on, when the request named one.
    pub origin: Option<String>,
}

/// A pass redeemed by `siteverify`.
#[derive(Debug, Clone)]
pub struct Redemption {
    /// The pass.
    pub pass: PassRecord,
    /// Whether this call redeemed it (false: a retry with the idempotency key that did).
    pub first: bool,
}

/// A user's outstanding activation code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRecord {
    /// Keyed hash of the code.
    pub code_hash: String,
    /// Expiry time.
    pub expires_ms: i64,
    /// Wrong attempts so far.
    pub attempts: i64,
    /// When it was used.
    pub used_ms: Option<i64>,
}

/// One line of the audit log, to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// When.
    pub at_ms: i64,
    /// What happened.
    pub event: AuditEvent,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The device concerned.
    pub device_label: Option<String>,
    /// Extra facts (never secrets), such as the purpose.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// An entry without device or detail.
    pub fn new(
        tenant_id: &str,
        user_id: &str,
        at_ms: i64,
        event: AuditEvent,
        outcome: AuditOutcome,
    ) -> Self {
        AuditEntry {
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            at_ms,
            event,
            outcome,
            device_label: None,
            detail: None,
        }
    }

    /// Adds the device label.
    pub fn device(mut self, label: &str) -> Self {
        self.device_label = Some(label.to_owned());
        self
    }

    /// Adds a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// One line of the audit log as read back. The names stay text: a line written by a newer
/// server sharing the database reads back as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLine {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// When.
    pub at_ms: i64,
    /// What happened ([`AuditEvent::as_str`]).
    pub event: String,
    /// How it ended ([`AuditOutcome::as_str`]).
    pub outcome: String,
    /// The device concerned.
    pub device_label: Option<String>,
    /// Extra facts.
    pub detail: Option<String>,
}
