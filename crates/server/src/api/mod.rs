//! The handlers of the HTTP contract (docs/api.md): browser endpoints (authorized by an OTP
//! session or an activation code, `browser`) and institution endpoints (authorized by an API
//! key, `institution`), the load balancer's probes (`health`) and the OpenAPI document (`openapi`). Each parses its request (`requests`), calls the services
//! (`crate::service`) and maps the answer, or the refusal (`refusals`), to a response.

mod browser;
mod health;
mod institution;
mod openapi;
mod refusals;
mod requests;

pub use browser::{customer, register_device, status, time, verify};
pub use health::{NotReady, READY_TIMEOUT, healthz, readyz};
pub use institution::{
    audit, authenticator, check, delete_webhook, erase_user, get_webhook, issue_activation,
    open_session, put_webhook, remove_device, siteverify, unlock, user,
};
pub use openapi::{OPENAPI_JSON, openapi};
pub use requests::{
    ActivationRequest, AuditQuery, AuthenticatorRequest, CheckRequest, DeviceRequest, RequestBody,
    SessionRequest, SiteverifyRequest, StatusInput, StatusRequest, UnlockRequest, VerifyRequest,
    WebhookRequest, parse_audit_query, parse_body,
};

use crate::AppState;
use crate::clock::db_ms;
use crate::service::Services;

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
            metrics: &self.metrics,
        }
    }
}
