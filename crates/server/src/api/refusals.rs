//! How the services' answers read in responses: each [`Refusal`] as its stable API error,
//! a device as its view (kind, label, registration date; never its secret).

use crate::clock::rfc3339;
use crate::error::{ApiError, DeviceView};
use crate::service::Refusal;
use crate::storage::DeviceRecord;
use crate::validate::OTP_CODE_REFUSAL;

/// A device as error responses and user views show it.
pub(super) fn device_view(d: &DeviceRecord) -> DeviceView {
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
            Refusal::UnknownUser => ApiError::UnknownUser,
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
            Refusal::MalformedCode => ApiError::BadRequest(OTP_CODE_REFUSAL.into()),
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
