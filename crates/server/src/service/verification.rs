//! Verification: OTP sessions, what the widget needs to know of one, the atomic verification
//! loop (read, check the device, decrypt, decide with the core, mint the pass, audit, retry
//! on a conflict) and the redemption of passes.

use cloud_otp_core::{Outcome, verify_with_secret};

use super::{
    MAX_ROUNDS, OpenSession, Refusal, ServiceResult, Services, UserStatus, open_for_service,
};
use crate::audit::{AuditEvent, AuditOutcome};
use crate::ids::{random_token, token_hash};
use crate::metrics::VerificationOutcome;
use crate::storage::{
    AuditEntry, Committed, DeviceRecord, NewPass, PassRecord, SessionRecord, Tenant, VerifyCommit,
};
use crate::test_mode::TestMode;
use crate::validate::{DeviceId, Fingerprint, IdempotencyKey, OtpCode, Purpose, Token, UserId};
use crate::{PASS_TTL_MS, SESSION_TTL_MS};

/// A session just opened for the institution.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    /// The bearer token, given to the institution only; stored as its hash.
    pub token: String,
    /// Expiry time.
    pub expires_ms: i64,
    /// The user's status now.
    pub user_status: UserStatus,
}

/// What the widget needs to choose its screen for a session.
#[derive(Debug, Clone)]
pub struct SessionStatus {
    /// The user's status.
    pub user_status: UserStatus,
    /// Wrong codes still allowed.
    pub attempts_left: u32,
    /// The registered device.
    pub device: Option<DeviceRecord>,
    /// Whether the registered device is the asking browser (its fingerprint), which then
    /// holds no key: it registered and then lost its data.
    pub device_is_this_browser: bool,
}

/// A code typed in the widget, checked: the session it is for, the device it comes from.
#[derive(Debug, Clone)]
pub struct WidgetCode {
    /// The session.
    pub session: Token,
    /// The code.
    pub code: OtpCode,
    /// The device the browser holds.
    pub device_id: DeviceId,
    /// The browser's fingerprint.
    pub fingerprint: Fingerprint,
}

/// The single-use pass a successful verification through the widget issues.
#[derive(Debug, Clone)]
pub struct IssuedPass {
    /// The pass token, for the institution's `siteverify`; stored as its hash.
    pub token: String,
    /// Expiry time.
    pub expires_ms: i64,
}

/// Where a code comes from.
#[derive(Debug, Clone, Copy)]
enum Via<'a> {
    /// The widget, with its session and device.
    Widget {
        session_hash: &'a str,
        purpose: &'a str,
        device_id: &'a str,
        fingerprint: &'a str,
        origin: Option<&'a str>,
    },
    /// The institution's own code field (`/v1/check`).
    Check,
}

#[derive(Debug)]
struct Verified {
    step: u64,
    pass: Option<IssuedPass>,
}

impl Services<'_> {
    /// Opens an OTP session (10 minutes) for a user and purpose.
    pub async fn open_session(
        &self,
        tenant: &Tenant,
        user: &UserId,
        purpose: &Purpose,
        now: i64,
    ) -> ServiceResult<OpenedSession> {
        open_for_service(tenant)?;
        let token = random_token();
        let record = SessionRecord {
            tenant_id: tenant.id.clone(),
            user_id: user.as_str().to_owned(),
            purpose: purpose.as_str().to_owned(),
            expires_ms: now.saturating_add(SESSION_TTL_MS),
            used_ms: None,
        };
        self.storage
            .insert_session(&token_hash(&token), &record, now)
            .await?;
        let existing = self.storage.user(&tenant.id, user.as_str()).await?;
        Ok(OpenedSession {
            token,
            expires_ms: record.expires_ms,
            user_status: UserStatus::of(existing.as_ref()),
        })
    }

    /// The state of a session's user as the widget shows it; `fingerprint` is the asking
    /// browser's, when it holds no key for the user.
    pub async fn session_status(
        &self,
        open: &OpenSession,
        fingerprint: Option<&Fingerprint>,
    ) -> ServiceResult<SessionStatus> {
        open_for_service(&open.tenant)?;
        let session = &open.session;
        let user = self
            .storage
            .user(&session.tenant_id, &session.user_id)
            .await?;
        let failures = user.as_ref().map_or(0, |u| u.state.failures);
        let device = user.as_ref().and_then(|u| u.device.clone());
        // The same fingerprint and no key: this browser registered and then lost its data
        // (the browser erased it after days without a visit, or the trainee cleared it).
        let this_browser = device
            .as_ref()
            .and_then(|d| d.fingerprint.as_deref())
            .is_some_and(|f| fingerprint.is_some_and(|mine| mine.as_str() == f));
        Ok(SessionStatus {
            user_status: UserStatus::of(user.as_ref()),
            attempts_left: self.policy.max_failures.saturating_sub(failures),
            device,
            device_is_this_browser: this_browser,
        })
    }

    /// Checks a code typed in the widget on the web page `origin` (the request's checked
    /// Origin header, if it had one); success spends the session and issues a pass.
    pub async fn verify_in_widget(
        &self,
        open: &OpenSession,
        input: &WidgetCode,
        origin: Option<&str>,
        now: i64,
    ) -> ServiceResult<IssuedPass> {
        open_for_service(&open.tenant)?;
        let session = &open.session;
        let via = Via::Widget {
            session_hash: &open.token_hash,
            purpose: &session.purpose,
            device_id: input.device_id.as_str(),
            fingerprint: input.fingerprint.as_str(),
            origin,
        };
        let verified = self
            .run_verification(&open.tenant, &session.user_id, &input.code, via, now)
            .await?;
        verified
            .pass
            .ok_or_else(|| Refusal::Internal("no pass issued".into()))
    }

    /// Checks a user's code typed into the institution's own field; the accepted step.
    pub async fn check_code(
        &self,
        tenant: &Tenant,
        user: &UserId,
        code: &OtpCode,
        now: i64,
    ) -> ServiceResult<u64> {
        open_for_service(tenant)?;
        let verified = self
            .run_verification(tenant, user.as_str(), code, Via::Check, now)
            .await?;
        Ok(verified.step)
    }

    /// Redeems a pass of the tenant, once; `None` if it is unknown, used or expired (an
    /// unreadable pass is `None` too). A retry with the idempotency key of the redemption
    /// gets the same pass again (and writes no second audit event).
    pub async fn redeem_pass(
        &self,
        tenant: &Tenant,
        pass: Option<&Token>,
        idempotency_key: Option<&IdempotencyKey>,
        now: i64,
    ) -> ServiceResult<Option<PassRecord>> {
        let Some(pass) = pass else {
            return Ok(None);
        };
        let key = idempotency_key.map(IdempotencyKey::as_str);
        let Some(redeemed) = self
            .storage
            .redeem_pass(&tenant.id, &token_hash(pass.as_str()), key, now)
            .await?
        else {
            return Ok(None);
        };
        if redeemed.first {
            let p = &redeemed.pass;
            let event = AuditEntry::new(
                &tenant.id,
                &p.user_id,
                now,
                AuditEvent::PassRedeemed,
                AuditOutcome::Redeemed,
            )
            .device(&p.device_label)
            .detail(format!("purpose={}", p.purpose));
            self.storage.audit(&event).await?;
        }
        Ok(Some(redeemed.pass))
    }

    /// One verification as one atomic step: read the state, decide with the core, write
    /// only if the state is unchanged; on a conflict, read and decide again.
    async fn run_verification(
        &self,
        tenant: &Tenant,
        user_id: &str,
        code: &OtpCode,
        via: Via<'_>,
        now: i64,
    ) -> ServiceResult<Verified> {
        let tenant_id = tenant.id.as_str();
        let (event, detail) = match via {
            Via::Widget { purpose, .. } => (AuditEvent::Verify, Some(format!("purpose={purpose}"))),
            Via::Check => (AuditEvent::Check, None),
        };
        let audit = |outcome: AuditOutcome, label: &str| {
            let e = AuditEntry::new(tenant_id, user_id, now, event, outcome).device(label);
            match &detail {
                Some(d) => e.detail(d.clone()),
                None => e,
            }
        };
        let now_secs = u64::try_from(now / 1000).unwrap_or(0);
        for _ in 0..MAX_ROUNDS {
            let user = self
                .batches
                .user(tenant_id, user_id)
                .await?
                .ok_or(Refusal::NotRegistered)?;
            let device = user.device.as_ref().ok_or(Refusal::NotRegistered)?;
            // The device check (docs/product.md rule 5): only the registered browser.
            if let Via::Widget {
                device_id,
                fingerprint,
                ..
            } = via
            {
                let same =
                    device.id == device_id && device.fingerprint.as_deref() == Some(fingerprint);
                if !same {
                    self.batches
                        .audit(audit(AuditOutcome::UnapprovedDevice, &device.label))
                        .await?;
                    self.metrics
                        .verification(VerificationOutcome::UnapprovedDevice);
                    return Err(Refusal::UnapprovedDevice(Box::new(device.clone())));
                }
            }
            // A test institution in always-suspended mode answers as for a suspended trainee.
            if user.state.locked || tenant.test_mode == Some(TestMode::AlwaysSuspended) {
                self.batches
                    .audit(audit(AuditOutcome::Locked, &device.label))
                    .await?;
                self.metrics.verification(VerificationOutcome::Locked);
                return Err(Refusal::Locked);
            }
            let (outcome, next) = match tenant.test_mode {
                // A test institution's fixed answer (src/test_mode.rs): the code is not read.
                Some(mode) => mode.decide(self.policy, &user.state, now_secs),
                None => {
                    let secret = self
                        .crypto
                        .current()
                        .open_secret(&device.id, &device.secret_enc)?;
                    verify_with_secret(self.policy, &user.state, &secret, code.as_str(), now_secs)
                }
            };
            let mut events = Vec::new();
            let mut spend = None;
            let mut pass = None;
            // The wrong code that suspends the user, counted as a lock once written.
            let locks = matches!(outcome, Outcome::Locked);
            let result = match outcome {
                Outcome::Accepted { step } => {
                    events.push(audit(AuditOutcome::Accepted, &device.label));
                    if let Via::Widget {
                        session_hash,
                        purpose,
                        origin,
                        ..
                    } = via
                    {
                        let (new_pass, issued) = mint_pass(device, purpose, origin, now);
                        spend = Some((session_hash.to_owned(), new_pass));
                        pass = Some(issued);
                    }
                    Ok(step)
                }
                Outcome::Rejected { attempts_left } => {
                    events.push(audit(AuditOutcome::InvalidCode, &device.label));
                    Err(Refusal::InvalidCode { attempts_left })
                }
                Outcome::Locked => {
                    events.push(audit(AuditOutcome::InvalidCode, &device.label));
                    events.push(
                        AuditEntry::new(
                            tenant_id,
                            user_id,
                            now,
                            AuditEvent::Lock,
                            AuditOutcome::Locked,
                        )
                        .device(&device.label)
                        .detail(format!("after {} wrong codes", next.failures)),
                    );
                    Err(Refusal::Locked)
                }
                Outcome::Replayed => {
                    self.batches
                        .audit(audit(AuditOutcome::Replayed, &device.label))
                        .await?;
                    self.metrics.verification(VerificationOutcome::Replayed);
                    return Err(Refusal::Replayed);
                }
                Outcome::Malformed => {
                    self.metrics.verification(VerificationOutcome::Malformed);
                    return Err(Refusal::MalformedCode);
                }
            };
            let commit = VerifyCommit {
                tenant_id: tenant_id.to_owned(),
                user_id: user_id.to_owned(),
                expected_version: user.version,
                state: next,
                spend,
                audit: events,
                now_ms: now,
            };
            match self.batches.commit(commit).await? {
                Committed::Done => {
                    // Counted once written: a conflict decides again.
                    self.metrics.verification(if result.is_ok() {
                        VerificationOutcome::Accepted
                    } else {
                        VerificationOutcome::Wrong
                    });
                    if locks {
                        self.metrics.lock();
                    }
                    return result.map(|step| Verified { step, pass });
                }
                Committed::Conflict => {
                    self.metrics.verification_retry();
                    continue;
                }
                Committed::SessionGone => return Err(Refusal::InvalidSession),
            }
        }
        Err(Refusal::Busy)
    }
}

/// A new pass for a code accepted from `device`: the row to store (with the token's hash)
/// and the token to give out.
fn mint_pass(
    device: &DeviceRecord,
    purpose: &str,
    origin: Option<&str>,
    now: i64,
) -> (NewPass, IssuedPass) {
    let token = random_token();
    let expires_ms = now.saturating_add(PASS_TTL_MS);
    let new_pass = NewPass {
        token_hash: token_hash(&token),
        purpose: purpose.to_owned(),
        device_id: device.id.clone(),
        device_kind: device.kind.clone(),
        device_label: device.label.clone(),
        origin: origin.map(str::to_owned),
        expires_ms,
    };
    (new_pass, IssuedPass { token, expires_ms })
}
