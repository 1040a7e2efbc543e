//! The domain, without HTTP: functions that take checked requests (the types of
//! `validate.rs`) and return typed outcomes or a [`Refusal`]. `verification` (sessions, the
//! atomic verification loop, the device check, passes), `enrollment` (registration,
//! replacement, activation codes, authenticator apps) and `administration` (the institution's
//! view of a user, unlock, removal, the audit log). The handlers in `api/` parse, call these
//! and map the answers to responses.

pub mod administration;
pub mod enrollment;
pub mod verification;

use cloud_otp_core::Policy;

use crate::crypto::{CryptoError, SharedCrypto};
use crate::ids::token_hash;
use crate::metrics::Metrics;
use crate::storage::batch::Batches;
use crate::storage::{DeviceRecord, SessionRecord, Storage, StorageError, Tenant, UserRecord};
use crate::validate::{CustomerCode, Token};

/// How often an operation re-reads and decides again when another request changed the
/// state in between; each round, one of the competing requests wins.
const MAX_ROUNDS: usize = 100;

/// What the services work with: the database (and its SQLite batcher), the keys and the
/// verification policy, borrowed from the server's state for one request.
#[derive(Debug, Clone, Copy)]
pub struct Services<'a> {
    /// The database.
    pub storage: &'a Storage,
    /// Group reads and commits of verifications (SQLite), or plain statements (PostgreSQL).
    pub batches: &'a Batches,
    /// The keys; each use takes the current ring, which SIGHUP may replace.
    pub crypto: &'a SharedCrypto,
    /// The verification policy (docs/product.md rules 1 to 4).
    pub policy: &'a Policy,
    /// Where the outcomes are counted.
    pub metrics: &'a Metrics,
}

/// Why the domain refused or failed. Each refusal becomes one stable API error code in the
/// handlers; the devices carried are shown to the user (label, kind, date: never secrets).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The OTP session is unknown, expired or already used.
    #[error("invalid session")]
    InvalidSession,
    /// The institution is not open for service.
    #[error("service closed")]
    ServiceClosed,
    /// No institution has the customer code.
    #[error("unknown customer")]
    UnknownCustomer,
    /// The user has no registered device.
    #[error("not registered")]
    NotRegistered,
    /// Nothing is stored of the user at the institution (an erasure found nothing).
    #[error("unknown user")]
    UnknownUser,
    /// The user has no activation code at the institution.
    #[error("not enrolled")]
    NotEnrolled,
    /// The code came from a browser other than the user's device.
    #[error("unapproved device")]
    UnapprovedDevice(Box<DeviceRecord>),
    /// The user has a device and replacing it was not asked for.
    #[error("device exists")]
    DeviceExists(Box<DeviceRecord>),
    /// The user is suspended.
    #[error("locked")]
    Locked,
    /// A wrong code.
    #[error("invalid code")]
    InvalidCode {
        /// Wrong codes still allowed.
        attempts_left: u32,
    },
    /// A code accepted before.
    #[error("replayed")]
    Replayed,
    /// A code the policy cannot read (not the policy's number of digits).
    #[error("malformed code")]
    MalformedCode,
    /// The activation code was used.
    #[error("activation used")]
    ActivationUsed,
    /// The activation code expired.
    #[error("activation expired")]
    ActivationExpired,
    /// A wrong activation code, or one whose attempts are spent.
    #[error("invalid activation")]
    InvalidActivation {
        /// Wrong activation codes still allowed.
        attempts_left: u32,
    },
    /// Competing requests kept changing the state.
    #[error("busy")]
    Busy,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored secret could not be opened.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Something that cannot happen did.
    #[error("{0}")]
    Internal(String),
}

/// A service's answer.
pub type ServiceResult<T> = Result<T, Refusal>;

/// A usable OTP session, as a browser presents it.
#[derive(Debug, Clone)]
pub struct OpenSession {
    /// The hash of its token, which the successful verification spends.
    pub token_hash: String,
    /// The session.
    pub session: SessionRecord,
    /// The institution that opened it.
    pub tenant: Tenant,
}

/// What the widget and the institution see of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// No device.
    Unregistered,
    /// A device, not suspended.
    Active,
    /// Suspended.
    Locked,
}

impl UserStatus {
    /// The status of a user record (`None`: the user never had a device).
    pub fn of(user: Option<&UserRecord>) -> UserStatus {
        match user {
            Some(u) if u.state.locked => UserStatus::Locked,
            Some(u) if u.device.is_some() => UserStatus::Active,
            _ => UserStatus::Unregistered,
        }
    }

    /// `unregistered`, `active` or `locked`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Unregistered => "unregistered",
            UserStatus::Active => "active",
            UserStatus::Locked => "locked",
        }
    }
}

impl Services<'_> {
    /// The session a browser presents, if it is known, unused and unexpired, with the tenant
    /// that opened it.
    pub async fn usable_session(&self, token: &Token, now: i64) -> ServiceResult<OpenSession> {
        let hash = token_hash(token.as_str());
        let (session, tenant) = self
            .storage
            .session_and_tenant(&hash)
            .await?
            .filter(|(s, _)| s.usable(now))
            .ok_or(Refusal::InvalidSession)?;
        Ok(OpenSession {
            token_hash: hash,
            session,
            tenant,
        })
    }

    /// The institution of a customer code.
    pub async fn customer(&self, code: &CustomerCode) -> ServiceResult<Tenant> {
        self.storage
            .tenant_by_customer_code(code.as_str())
            .await?
            .ok_or(Refusal::UnknownCustomer)
    }
}

/// Refuses trainee-facing requests of an institution that is not open for service. Its own
/// administration (activation codes, authenticators, unlocks, audit) is not refused, so it
/// can prepare before it opens.
pub fn open_for_service(tenant: &Tenant) -> ServiceResult<()> {
    if tenant.in_service {
        Ok(())
    } else {
        Err(Refusal::ServiceClosed)
    }
}
