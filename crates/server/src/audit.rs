//! The audit log's vocabulary: what happened and how it ended, as the domain names it. A leaf
//! module (it imports nothing of the crate), so that both the services and the storage, which
//! writes some events inside its own transactions, use the same names.

/// What happened: the `event` of an audit line (docs/api.md, `GET /v1/audit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    /// A first device for the user.
    DeviceRegistered,
    /// The same browser (its fingerprint) registered again after it lost its key.
    DeviceReregistered,
    /// Another device took the place of the user's device.
    DeviceReplaced,
    /// The old device of a re-registration or replacement.
    DeviceRetired,
    /// The institution retired the device (removal, or unlock with revocation).
    DeviceRemoved,
    /// A code typed in the widget.
    Verify,
    /// A code typed in the institution's own field (`/v1/check`).
    Check,
    /// The user was suspended after too many wrong codes.
    Lock,
    /// The institution lifted a suspension.
    Unlock,
    /// The institution issued an activation code.
    ActivationIssued,
    /// A wrong activation code.
    ActivationFailed,
    /// The institution redeemed a pass.
    PassRedeemed,
    /// The institution erased a trainee; the event itself names no user.
    UserErased,
}

impl AuditEvent {
    /// The name stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::DeviceRegistered => "device_registered",
            AuditEvent::DeviceReregistered => "device_reregistered",
            AuditEvent::DeviceReplaced => "device_replaced",
            AuditEvent::DeviceRetired => "device_retired",
            AuditEvent::DeviceRemoved => "device_removed",
            AuditEvent::Verify => "verify",
            AuditEvent::Check => "check",
            AuditEvent::Lock => "lock",
            AuditEvent::Unlock => "unlock",
            AuditEvent::ActivationIssued => "activation_issued",
            AuditEvent::ActivationFailed => "activation_failed",
            AuditEvent::PassRedeemed => "pass_redeemed",
            AuditEvent::UserErased => "user_erased",
        }
    }
}

impl AuditEvent {
    /// The webhook event (docs/api.md, "Webhooks") an audit event with this outcome is
    /// reported as, if any. Only changes an institution acts on are: accepted and wrong codes
    /// are not (the lock that wrong codes lead to is), nor is an erasure, which the
    /// institution asked for and whose record names nobody (docs/security.md).
    pub fn webhook_type(self, outcome: AuditOutcome) -> Option<&'static str> {
        match (self, outcome) {
            (AuditEvent::Lock, _) => Some("trainee.suspended"),
            (AuditEvent::Unlock, _) => Some("trainee.unlocked"),
            (AuditEvent::DeviceRegistered, _) => Some("device.registered"),
            (AuditEvent::DeviceReplaced | AuditEvent::DeviceReregistered, _) => {
                Some("device.replaced")
            }
            (AuditEvent::DeviceRemoved, _) => Some("device.removed"),
            (AuditEvent::Verify | AuditEvent::Check, AuditOutcome::Replayed) => {
                Some("code.replayed")
            }
            _ => None,
        }
    }
}

/// How it ended: the `outcome` of an audit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    /// The code was right.
    Accepted,
    /// The code was wrong.
    InvalidCode,
    /// The code was right but already used.
    Replayed,
    /// The user is (now) suspended.
    Locked,
    /// The code came from a browser other than the registered device.
    UnapprovedDevice,
    /// The pass was redeemed.
    Redeemed,
    /// The activation code was issued.
    Issued,
    /// The activation code was wrong.
    InvalidActivation,
    /// The device was registered.
    Registered,
    /// The old device gave way to the same browser registering again.
    Reregistered,
    /// The old device gave way to another.
    Replaced,
    /// The suspension was lifted.
    Unlocked,
    /// The device was retired together with an unlock.
    Revoked,
    /// The device was retired on its own.
    Removed,
    /// Every record of the trainee was deleted.
    Erased,
}

impl AuditOutcome {
    /// The name stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Accepted => "accepted",
            AuditOutcome::InvalidCode => "invalid_code",
            AuditOutcome::Replayed => "replayed",
            AuditOutcome::Locked => "locked",
            AuditOutcome::UnapprovedDevice => "unapproved_device",
            AuditOutcome::Redeemed => "redeemed",
            AuditOutcome::Issued => "issued",
            AuditOutcome::InvalidActivation => "invalid_activation",
            AuditOutcome::Registered => "registered",
            AuditOutcome::Reregistered => "reregistered",
            AuditOutcome::Replaced => "replaced",
            AuditOutcome::Unlocked => "unlocked",
            AuditOutcome::Revoked => "revoked",
            AuditOutcome::Removed => "removed",
            AuditOutcome::Erased => "erased",
        }
    }
}
