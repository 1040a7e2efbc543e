//! Prometheus metrics (docs/operations.md, "Metrics"): one [`Metrics`] per server, in its own
//! registry (no process-wide recorder, so servers side by side in one test process count
//! apart), recorded from the services' typed outcomes and the HTTP layer's matched routes,
//! rendered in the Prometheus text format on the separate `--metrics-listen` address.
//!
//! Labels are fixed words (outcomes, kinds, route patterns): never a user ID, a token, a code
//! or any other request value.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text::{CONTENT_TYPE, encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How a verification ended (`/v1/verify` and `/v1/check`), as the metric's `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationOutcome {
    /// The code was right.
    Accepted,
    /// A wrong code (also the one that locks the user).
    Wrong,
    /// A code accepted before.
    Replayed,
    /// The user was already suspended.
    Locked,
    /// Not a code the policy can read.
    Malformed,
    /// The code came from a browser other than the user's device.
    UnapprovedDevice,
}

impl VerificationOutcome {
    /// Every outcome.
    pub const ALL: [VerificationOutcome; 6] = [
        VerificationOutcome::Accepted,
        VerificationOutcome::Wrong,
        VerificationOutcome::Replayed,
        VerificationOutcome::Locked,
        VerificationOutcome::Malformed,
        VerificationOutcome::UnapprovedDevice,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationOutcome::Accepted => "accepted",
            VerificationOutcome::Wrong => "wrong",
            VerificationOutcome::Replayed => "replayed",
            VerificationOutcome::Locked => "locked",
            VerificationOutcome::Malformed => "malformed",
            VerificationOutcome::UnapprovedDevice => "unapproved_device",
        }
    }
}

/// What a device registration was, as the metric's `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationKind {
    /// A browser for a user without a device.
    New,
    /// A browser replacing another device.
    Replaced,
    /// A browser registering again after its data was erased (the same fingerprint).
    AfterErasure,
    /// A browser registered with an activation code.
    Activation,
    /// A standard authenticator app.
    Authenticator,
}

impl RegistrationKind {
    /// Every kind.
    pub const ALL: [RegistrationKind; 5] = [
        RegistrationKind::New,
        RegistrationKind::Replaced,
        RegistrationKind::AfterErasure,
        RegistrationKind::Activation,
        RegistrationKind::Authenticator,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationKind::New => "new",
            RegistrationKind::Replaced => "replaced",
            RegistrationKind::AfterErasure => "after_erasure",
            RegistrationKind::Activation => "activation",
            RegistrationKind::Authenticator => "authenticator",
        }
    }
}

/// Which SQLite batch a group size is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// A group read of users (storage/group.rs).
    Read,
    /// A group commit of verification outcomes and audit events.
    Write,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// 0.25 ms to about 8 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// 1 to 64 (storage/batch.rs `MAX_BATCH`), doubling.
fn group_size() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 7))
}

/// The server's metrics and the registry they are rendered from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    verifications: Family<OutcomeLabel, Counter>,
    registrations: Family<KindLabel, Counter>,
    locks: Counter,
    unlocks: Counter,
    retries: Counter,
    groups: Family<KindLabel, Histogram, fn() -> Histogram>,
    requests: Family<RouteLabels, Histogram, fn() -> Histogram>,
    webhooks_delivered: Counter,
    webhooks_failed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, every counter at zero, in a registry of their own.
    pub fn new() -> Self {
        let m = Metrics {
            registry: Registry::with_prefix("cloud_otp"),
            verifications: Family::default(),
            registrations: Family::default(),
            locks: Counter::default(),
            unlocks: Counter::default(),
            retries: Counter::default(),
            groups: Family::new_with_constructor(group_size),
            requests: Family::new_with_constructor(latency),
            webhooks_delivered: Counter::default(),
            webhooks_failed: Counter::default(),
        };
        let mut registry = m.registry;
        registry.register(
            "verifications",
            "Verifications (/v1/verify and /v1/check) by outcome",
            m.verifications.clone(),
        );
        registry.register(
            "registrations",
            "Devices registered, by kind",
            m.registrations.clone(),
        );
        registry.register(
            "locks",
            "Users suspended after too many wrong codes",
            m.locks.clone(),
        );
        registry.register(
            "unlocks",
            "Users unlocked by their institution",
            m.unlocks.clone(),
        );
        registry.register(
            "verification_retries",
            "Verifications decided again because another request changed the user's state \
             first (the compare-and-set's retries on a busy user)",
            m.retries.clone(),
        );
        registry.register(
            "db_group_size",
            "Requests served by one group read or group commit of the database",
            m.groups.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by method and matched route",
            m.requests.clone(),
        );
        registry.register(
            "webhooks_delivered",
            "Webhook deliveries the receiver acknowledged",
            m.webhooks_delivered.clone(),
        );
        registry.register(
            "webhooks_failed",
            "Webhook deliveries that failed",
            m.webhooks_failed.clone(),
        );
        // Every labelled counter exists from the start at 0, so that a scrape shows it and
        // rate() sees its first increase.
        for outcome in VerificationOutcome::ALL {
            let outcome = outcome.as_str();
            drop(m.verifications.get_or_create(&OutcomeLabel { outcome }));
        }
        for kind in RegistrationKind::ALL {
            let kind = kind.as_str();
            drop(m.registrations.get_or_create(&KindLabel { kind }));
        }
        Metrics { registry, ..m }
    }

    /// Counts a verification's outcome.
    pub fn verification(&self, outcome: VerificationOutcome) {
        let outcome = outcome.as_str();
        self.verifications
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Counts a device registration.
    pub fn registration(&self, kind: RegistrationKind) {
        let kind = kind.as_str();
        self.registrations.get_or_create(&KindLabel { kind }).inc();
    }

    /// Counts a user suspended by a wrong code.
    pub fn lock(&self) {
        self.locks.inc();
    }

    /// Counts a user unlocked.
    pub fn unlock(&self) {
        self.unlocks.inc();
    }

    /// Counts a verification that found the user's state changed and decided again.
    pub fn verification_retry(&self) {
        self.retries.inc();
    }

    /// Records how many requests one SQLite group read or commit served.
    pub fn group(&self, group: Group, size: usize) {
        let kind = match group {
            Group::Read => "read",
            Group::Write => "write",
        };
        #[expect(clippy::cast_precision_loss, reason = "a batch holds at most 64")]
        let size = size as f64;
        self.groups.get_or_create(&KindLabel { kind }).observe(size);
    }

    /// Records how long a request to `route` (the router's pattern, such as
    /// `/v1/users/{user_id}`, never the raw path) took.
    pub fn request(&self, method: &str, route: &str, took: Duration) {
        let labels = RouteLabels {
            method: method.to_owned(),
            route: route.to_owned(),
        };
        self.requests
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Counts a webhook attempt that the receiver answered 2xx (`webhooks::Worker`).
    pub fn webhook_delivered(&self) {
        self.webhooks_delivered.inc();
    }

    /// Counts a webhook attempt that failed (`webhooks::Worker`).
    pub fn webhook_failed(&self) {
        self.webhooks_failed.inc();
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The metrics listener's service: `GET /metrics`, nothing else.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
