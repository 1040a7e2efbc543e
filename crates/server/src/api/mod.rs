//! The handlers of the HTTP contract (docs/api.md): browser endpoints (authorized by an OTP
//! session or an activation code, `browser`) and institution endpoints (authorized by an API
//! key, `institution`). Each parses its request (`requests`), calls the services
//! (`crate::service`) and maps the answer, or the [`Refusal`], to a response.

mod browser;
mod institution;
mod requests;

pub use browser::{customer, register_device, status, time, verify};
pub use institution::{
    audit, authenticator, check, issue_activation, open_session, remove_device, siteverify, unlock,
    user,
};
pub use requests::{
    ActivationRequest, AuditQuery, AuthenticatorRequest, CheckRequest, DeviceRequest, RequestBody,
    SessionRequest, SiteverifyRequest, StatusInput, StatusRequest, UnlockRequest, VerifyRequest,
    parse_audit_query, parse_body,
};

use crate::AppState;
use crate::clock::{db_ms, rfc3339};
use crate::error::{ApiError, DeviceView};
use crate::service::{Refusal, Services};
use crate::storage::DeviceRecord;

type ApiResult<T> = Result<T, ApiError>;

fn device_view(d: &DeviceRecord) -> DeviceView {
    DeviceView {
        kind: d.kind.clone(),
        label: d.label.clone(),
        registered_at: rfc3339(d.registered_ms),
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::InvalidSession => ApiError::InvalidSession,
            Refusal::ServiceClosed => ApiError::ServiceClosed,
            Refusal::UnknownCustomer => ApiError::UnknownCustomer,
            Refusal::NotRegistered => ApiError::NotRegistered,
            Refusal::NotEnrolled => ApiError::NotEnrolled,
            Refusal::UnapprovedDevice(d) => ApiError::UnapprovedDevice {
                device: device_view(&d),
            },
            Refusal::DeviceExists(d) => ApiError::DeviceExists {
                device: device_view(&d),
            },
            Refusal::Locked => ApiError::Locked,
            Refusal::InvalidCode { attempts_left } => ApiError::InvalidCode { attempts_left },
            Refusal::Replayed => ApiError::Replayed,
            Refusal::MalformedCode => ApiError::BadRequest("code must be exactly 6 digits".into()),
            Refusal::ActivationUsed => ApiError::ActivationUsed,
            Refusal::ActivationExpired => ApiError::ActivationExpired,
            Refusal::InvalidActivation { attempts_left } => {
                ApiError::InvalidActivation { attempts_left }
            }
            Refusal::Busy => ApiError::Busy,
            Refusal::Storage(e) => e.into(),
            Refusal::Crypto(e) => e.into(),
            Refusal::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

impl AppState {
    /// The current time as stored in the database.
    pub(crate) fn now(&self) -> i64 {
        db_ms(self.clock.now_ms())
    }

    /// The services, on this server's database, keys and policy.
    pub(crate) fn services(&self) -> Services<'_> {
        Services {
            storage: &self.storage,
            batches: &self.batches,
            crypto: &self.crypto,
            policy: &self.config.policy,
        }
    }
}
