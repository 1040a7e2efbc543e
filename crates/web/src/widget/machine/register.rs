//! The session's registration flow: the first screen from the session's status (suspended,
//! the offer, registering again after erased data, or instead of a device registered since),
//! the confirmation, the PIN a policy asks for, and what a registration ends in.

use super::{Ask, Effect, Run, Status, Step, View};
use crate::accounts::Account;
use crate::api::{Authorization, UserStatus};
use crate::{Error, Registration};

/// Where a registration shows it is busy.
pub(super) enum Busy {
    /// The registration screen's busy step.
    Register,
    /// The activation form's step, its buttons disabled.
    Form(Ask),
}

impl Run<'_> {
    /// The first screen from the session's status: suspended, registering (first, again, or
    /// instead of the device registered since), or the code.
    pub(super) fn status(&mut self, result: Result<Status, Error>) {
        let Status {
            status,
            account,
            device_at_ms,
        } = match result {
            Ok(status) => status,
            Err(e) => return self.fail(e),
        };
        self.s.user = status.user_id;
        self.s.institution = status.institution;
        self.s.pin_digits = status.pin_digits;
        self.s.test = status.test;
        let device = match (status.user_status, account) {
            (UserStatus::Locked, _) => {
                self.show(View::Suspended);
                return self.tell("locked");
            }
            // Another browser or app registered since this one did: say so now, not after a
            // typed code is refused. The same registration has the same server time, to the
            // millisecond (two browsers can register less than a second apart).
            (UserStatus::Active, Some(account))
                if device_at_ms.is_finite()
                    && (device_at_ms - account.registered_at_ms).abs() >= 1.0 =>
            {
                status.device
            }
            (UserStatus::Active, Some(account)) => return self.show_code(account, Vec::new()),
            (UserStatus::Active, None) => status.device,
            (UserStatus::Unregistered, _) => None,
        };
        // The offer to register; with a device, the page is told which the screen names: this
        // browser, whose key was erased (`key_missing`, the code of a key that is gone), or
        // another device.
        let told = device.as_ref().map(|d| {
            if d.this_browser {
                "key_missing"
            } else {
                "unapproved_device"
            }
        });
        self.show(View::Register {
            device,
            step: Step::Offer,
        });
        if let Some(code) = told {
            self.tell(code);
        }
    }

    pub(super) fn set_step(&mut self, to: Step) {
        if let View::Register { device, .. } = &self.s.view {
            let device = device.clone();
            self.show(View::Register { device, step: to });
        }
    }

    /// Registers this browser for the session's user, replacing the registered device when the
    /// screen said so.
    pub(super) fn register(&mut self) {
        let Some(session) = self.s.session.clone() else {
            return;
        };
        let replace = matches!(
            self.s.view,
            View::Register {
                device: Some(_),
                ..
            }
        );
        let registration = Registration {
            server: self.s.server.clone(),
            authorization: Authorization::Session(session),
            user_id: Some(self.s.user.clone()).filter(|u| !u.is_empty()),
            replace,
            pin: None,
        };
        self.enroll(registration, self.s.pin_digits, Busy::Register);
    }

    /// Registers, or first lets the trainee choose a PIN when the institution's policy asks for
    /// `digits` of them (the PIN screen registers once it is typed twice).
    pub(super) fn enroll(&mut self, registration: Registration, digits: u8, busy: Busy) {
        if digits > 0 {
            self.s.typed.clear();
            self.s.focus = true;
            return self.show(View::ChoosePin {
                registration,
                digits,
                first: None,
            });
        }
        match busy {
            Busy::Register => self.set_step(Step::Busy),
            Busy::Form(ask) => self.busy_step(ask),
        }
        self.out.push(Effect::Register(registration));
    }

    /// After a registration: the new account's code, or what went wrong. The activation form
    /// shows its failures on the step they concern.
    pub(super) fn registered(&mut self, result: Result<Account, Error>) {
        self.s.focus = true;
        if self.s.session.is_none() {
            return self.activated(result);
        }
        match result {
            Ok(account) => self.show_code(account, Vec::new()),
            Err(e) => self.fail(e),
        }
    }
}
