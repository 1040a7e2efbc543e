//! Enrollment: activation codes (issuing and checking, docs/product.md rule 9), the
//! registration of a browser by session or by activation code, its replacement, and
//! authenticator apps.

use cloud_otp_core::Secret;
use cloud_otp_core::otpauth::{KeyUri, Kind};

use super::{MAX_ROUNDS, OpenSession, Refusal, ServiceResult, Services, open_for_service};
use crate::audit::{AuditEvent, AuditOutcome};
use crate::ids::{random_bytes, random_digits, random_id};
use crate::metrics::RegistrationKind;
use crate::storage::{AuditEntry, NewDevice, Registered, Registration, Tenant};
use crate::validate::{
    ACTIVATION_CODE_DIGITS, ActivationCode, CustomerCode, Fingerprint, Label, Token, UserId,
};
use crate::{ACTIVATION_MAX_ATTEMPTS, ACTIVATION_TTL_MS};

/// What authorizes a browser's registration.
#[derive(Debug, Clone)]
pub enum Authority {
    /// An OTP session the institution opened for the user.
    Session(Token),
    /// The institution's customer code, the user's login ID and the activation code the
    /// institution issued for it.
    Activation {
        /// The customer code.
        customer: CustomerCode,
        /// The login ID.
        user: UserId,
        /// The activation code.
        code: ActivationCode,
    },
}

/// A browser to register, its key already proven (the proof matched the secret).
#[derive(Debug, Clone)]
pub struct BrowserDevice {
    /// The shared secret.
    pub secret: Secret,
    /// The browser's fingerprint.
    pub fingerprint: Fingerprint,
    /// Its human label.
    pub label: Label,
    /// Retire the user's device instead of refusing.
    pub replace: bool,
}

/// A registration request, checked: who authorizes it and what is registered.
#[derive(Debug, Clone)]
pub struct BrowserEnrollment {
    /// What authorizes it.
    pub authority: Authority,
    /// The browser.
    pub device: BrowserDevice,
}

/// The authority of a registration, resolved: a usable session, or the institution of a
/// customer code with the login ID and activation code.
#[derive(Debug, Clone, Copy)]
pub enum Authorized<'a> {
    /// By session.
    Session(&'a OpenSession),
    /// By activation code.
    Activation {
        /// The institution of the customer code.
        tenant: &'a Tenant,
        /// The login ID.
        user: &'a UserId,
        /// The activation code.
        code: &'a ActivationCode,
    },
}

/// A registered device.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// Its id.
    pub device_id: String,
    /// The user it belongs to.
    pub user_id: String,
}

/// An issued activation code.
#[derive(Debug, Clone)]
pub struct IssuedActivation {
    /// The 6 digits, given to the institution only; stored as a keyed hash.
    pub code: String,
    /// Expiry time.
    pub expires_ms: i64,
}

/// An authenticator app made the user's device.
#[derive(Debug, Clone)]
pub struct AuthenticatorEnrolled {
    /// Its id.
    pub device_id: String,
    /// The otpauth:// URI (TOTP, the policy's algorithm, digits and step).
    pub otpauth_uri: String,
}

/// An activation code that matched: the attempt count and the code's hash as read, which
/// the registration checks again when it consumes the code.
#[derive(Debug)]
struct CheckedActivation {
    attempts: i64,
    code_hash: String,
}

impl Services<'_> {
    /// Registers a browser as the user's device (docs/product.md rule 5). By activation code,
    /// a code used or counted since it was checked is checked again.
    pub async fn register_browser(
        &self,
        authorized: Authorized<'_>,
        device: &BrowserDevice,
        now: i64,
    ) -> ServiceResult<Enrolled> {
        let (tenant_id, user_id, activation) = match authorized {
            Authorized::Session(open) => {
                open_for_service(&open.tenant)?;
                (&open.session.tenant_id, open.session.user_id.as_str(), None)
            }
            Authorized::Activation { tenant, user, code } => {
                // Before the code is checked, so that a closed institution's codes are not
                // spent.
                open_for_service(tenant)?;
                (&tenant.id, user.as_str(), Some((user, code)))
            }
        };
        let new = self.new_device(
            "browser",
            device.label.as_str(),
            Some(device.fingerprint.as_str()),
            &device.secret,
        );
        let device_id = new.id.clone();
        for _ in 0..MAX_ROUNDS {
            let checked = match activation {
                Some((user, code)) => {
                    Some(self.check_activation(tenant_id, user, code, now).await?)
                }
                None => None,
            };
            let registered = self
                .register(
                    tenant_id,
                    user_id,
                    new.clone(),
                    device.replace,
                    checked,
                    now,
                )
                .await?;
            // The activation code was used, or a wrong attempt counted, since it was
            // checked: check it again, which names what happened or lets this registration
            // through.
            if registered == Registered::ActivationGone {
                continue;
            }
            let kind = browser_registration_kind(&registered, activation.is_some(), device);
            registration_result(registered)?;
            self.metrics.registration(kind);
            return Ok(Enrolled {
                device_id,
                user_id: user_id.to_owned(),
            });
        }
        Err(Refusal::Busy)
    }

    /// Makes a standard authenticator app the user's device.
    pub async fn enroll_authenticator(
        &self,
        tenant: &Tenant,
        user: &UserId,
        replace: bool,
        now: i64,
    ) -> ServiceResult<AuthenticatorEnrolled> {
        let bytes = random_bytes(20);
        let secret = Secret::new(bytes.to_vec()).map_err(|e| Refusal::Internal(e.to_string()))?;
        let device = self.new_device("authenticator", "Authenticator app", None, &secret);
        let device_id = device.id.clone();
        let registered = self
            .register(&tenant.id, user.as_str(), device, replace, None, now)
            .await?;
        registration_result(registered)?;
        self.metrics.registration(RegistrationKind::Authenticator);
        let uri = KeyUri {
            kind: Kind::Totp {
                period: self.policy.step,
            },
            issuer: Some(tenant.name.clone()),
            account: user.as_str().to_owned(),
            secret,
            algorithm: self.policy.algorithm,
            digits: self.policy.digits,
        };
        Ok(AuthenticatorEnrolled {
            device_id,
            otpauth_uri: uri.to_uri(),
        })
    }

    /// Issues a 6-digit activation code valid 3 days, replacing any earlier one.
    pub async fn issue_activation(
        &self,
        tenant: &Tenant,
        user: &UserId,
        now: i64,
    ) -> ServiceResult<IssuedActivation> {
        let code = random_digits(ACTIVATION_CODE_DIGITS);
        let expires_ms = now.saturating_add(ACTIVATION_TTL_MS);
        let hash = self
            .crypto
            .current()
            .activation_hash(&tenant.id, user.as_str(), &code);
        self.storage
            .put_activation(&tenant.id, user.as_str(), &hash, now, expires_ms)
            .await?;
        let event = AuditEntry::new(
            &tenant.id,
            user.as_str(),
            now,
            AuditEvent::ActivationIssued,
            AuditOutcome::Issued,
        );
        self.storage.audit(&event).await?;
        Ok(IssuedActivation { code, expires_ms })
    }

    fn new_device(
        &self,
        kind: &str,
        label: &str,
        fingerprint: Option<&str>,
        secret: &Secret,
    ) -> NewDevice {
        let id = random_id();
        let secret_enc = self.crypto.current().seal_secret(&id, secret);
        NewDevice {
            id,
            kind: kind.to_owned(),
            label: label.to_owned(),
            fingerprint: fingerprint.map(str::to_owned),
            secret_enc,
        }
    }

    async fn register(
        &self,
        tenant_id: &str,
        user_id: &str,
        device: NewDevice,
        replace: bool,
        activation: Option<CheckedActivation>,
        now: i64,
    ) -> ServiceResult<Registered> {
        let registration = Registration {
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            device,
            replace,
            activation_attempts: activation.as_ref().map(|a| a.attempts),
            now_ms: now,
        };
        let storage = self.storage;
        Ok(match &activation {
            Some(a) => {
                storage
                    .register_device_by_activation(&registration, &a.code_hash)
                    .await?
            }
            None => storage.register_device(&registration).await?,
        })
    }

    /// Checks an activation code (docs/product.md rule 9): an ID without a code, a used code
    /// and an expired code each get their own refusal, a code whose attempts are spent is
    /// dead, a wrong code is counted. Returns the attempt count and code read, which the
    /// registration checks again when it consumes the code.
    async fn check_activation(
        &self,
        tenant_id: &str,
        user: &UserId,
        code: &ActivationCode,
        now: i64,
    ) -> ServiceResult<CheckedActivation> {
        let user_id = user.as_str();
        for _ in 0..MAX_ROUNDS {
            let Some(rec) = self.storage.activation(tenant_id, user_id).await? else {
                return Err(Refusal::NotEnrolled);
            };
            if rec.used_ms.is_some() {
                return Err(Refusal::ActivationUsed);
            }
            if rec.attempts >= ACTIVATION_MAX_ATTEMPTS {
                return Err(Refusal::InvalidActivation { attempts_left: 0 });
            }
            if now >= rec.expires_ms {
                return Err(Refusal::ActivationExpired);
            }
            if self.crypto.current().activation_matches(
                tenant_id,
                user_id,
                code.as_str(),
                &rec.code_hash,
            ) {
                return Ok(CheckedActivation {
                    attempts: rec.attempts,
                    code_hash: rec.code_hash,
                });
            }
            let left = u32::try_from(ACTIVATION_MAX_ATTEMPTS - rec.attempts - 1).unwrap_or(0);
            let event = AuditEntry::new(
                tenant_id,
                user_id,
                now,
                AuditEvent::ActivationFailed,
                AuditOutcome::InvalidActivation,
            )
            .detail(format!("attempts_left={left}"));
            if self
                .storage
                .count_activation_failure(tenant_id, user_id, rec.attempts, &event)
                .await?
            {
                return Err(Refusal::InvalidActivation {
                    attempts_left: left,
                });
            }
        }
        Err(Refusal::Busy)
    }
}

/// What a browser's registration was, for the metrics: by activation code; again from the
/// browser of the device it replaced (the same fingerprint: its data was erased); replacing
/// another device; or the user's first.
fn browser_registration_kind(
    registered: &Registered,
    by_activation: bool,
    device: &BrowserDevice,
) -> RegistrationKind {
    match registered {
        _ if by_activation => RegistrationKind::Activation,
        Registered::Done {
            replaced: Some(old),
        } if old.fingerprint.as_deref() == Some(device.fingerprint.as_str()) => {
            RegistrationKind::AfterErasure
        }
        Registered::Done { replaced: Some(_) } => RegistrationKind::Replaced,
        _ => RegistrationKind::New,
    }
}

/// The answer to a registration that was not retried.
fn registration_result(registered: Registered) -> ServiceResult<()> {
    match registered {
        Registered::Done { .. } => Ok(()),
        Registered::Exists(d) => Err(Refusal::DeviceExists(Box::new(d))),
        Registered::Locked => Err(Refusal::Locked),
        // Only a registration by activation code can lose its code; those are retried.
        Registered::ActivationGone => Err(Refusal::Busy),
    }
}
