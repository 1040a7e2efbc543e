//! Native tests of every screen transition the widget has (`cargo test -p cloud-otp-web`): each
//! test feeds events to the machine, as the runner would, and names the rule it checks. This
//! file holds the test widget and its fixtures.

use super::*;
use crate::api::{Authorization, UserStatus};

mod activate;
mod app;
mod code;
mod events;
mod pin;
mod register;

/// A widget under test: its state, the time, and the PIN accounts unlocked in this visit.
struct W {
    s: State,
    now: f64,
    unlocked: Vec<String>,
}

impl W {
    fn with(session: Option<&str>) -> W {
        let mut w = W {
            s: State::new("https://otp.test".into(), session.map(Into::into), Lang::En),
            now: 1_000_000.0,
            unlocked: Vec::new(),
        };
        let out = w.step(Event::Mount);
        assert!(matches!(out[..], [Effect::Render { .. }, Effect::Start]));
        w
    }

    /// A widget with an OTP session, mounted.
    fn session() -> W {
        W::with(Some("sess"))
    }

    /// A widget in code-check mode (no session), mounted.
    fn check_mode() -> W {
        W::with(None)
    }

    fn step(&mut self, event: Event) -> Vec<Effect> {
        let unlocked = self.unlocked.clone();
        let is_unlocked = move |id: &str| unlocked.iter().any(|u| u == id);
        self.s.step(
            event,
            Env {
                now: self.now,
                unlocked: &is_unlocked,
            },
        )
    }

    fn key(&mut self, key: Key) -> Vec<Effect> {
        self.step(Event::Key(key))
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        self.step(Event::Act(action))
    }

    fn type_digits(&mut self, digits: &str) {
        for d in digits.bytes() {
            self.key(Key::Digit(d - b'0'));
        }
    }

    fn status(&mut self, user_status: UserStatus, account: Option<Account>) -> Vec<Effect> {
        self.status_with(user_status, account, None, f64::NAN, 0)
    }

    fn status_with(
        &mut self,
        user_status: UserStatus,
        account: Option<Account>,
        device: Option<RegisteredDevice>,
        device_at_ms: f64,
        pin_digits: u8,
    ) -> Vec<Effect> {
        let status = SessionStatus {
            user_id: "alice".into(),
            user_status,
            device,
            institution: "Academy".into(),
            customer_code: Some("1234".into()),
            pin_digits,
            test: false,
        };
        self.step(Event::Status(Ok(Status {
            status,
            account,
            device_at_ms,
        })))
    }

    /// A code screen with a session, its code `123456` shown on this visit's clock.
    fn code_screen() -> W {
        let mut w = W::session();
        w.status(UserStatus::Active, Some(account("a1", 0)));
        w.code("a1", "123456", 7, true);
        w
    }

    fn code(&mut self, id: &str, code: &str, counter: u64, confirmed: bool) -> Vec<Effect> {
        self.step(Event::Code {
            id: id.into(),
            code: current(code, counter, 25_000),
            confirmed,
        })
    }

    fn shown(&self) -> Option<(String, u64)> {
        self.s.clock.as_ref().and_then(|c| c.code.clone())
    }

    /// A check-mode widget on the activation form's first step.
    fn form() -> W {
        let mut w = W::check_mode();
        w.step(Event::Accounts {
            show: None,
            result: Ok(Vec::new()),
        });
        w
    }

    /// Types `field` in the form's field and presses "Next".
    fn next(&mut self, field: &str) -> Vec<Effect> {
        self.step(Event::Field(field.into()));
        self.act(Action::Next)
    }
}

fn account(id: &str, pin_digits: u8) -> Account {
    Account {
        id: id.into(),
        server: "https://otp.test".into(),
        customer_code: Some("1234".into()),
        user_id: if id == "a2" { "bob" } else { "alice" }.into(),
        label: "Firefox on Linux".into(),
        registered_at_ms: 5_000.0,
        pin_digits,
    }
}

fn current(code: &str, counter: u64, remaining_ms: u64) -> CurrentCode {
    CurrentCode {
        code: code.into(),
        counter,
        remaining_ms,
        remaining_secs: remaining_ms.div_ceil(1000),
        server_time_ms: 0,
    }
}

fn other_device(this_browser: bool) -> RegisteredDevice {
    RegisteredDevice {
        label: "Chrome on Windows".into(),
        registered_at: "2026-11-20T09:00:00Z".into(),
        this_browser,
    }
}

fn pass() -> Pass {
    Pass {
        pass: "p".into(),
        expires_at: "later".into(),
    }
}

fn customer(pin_digits: u8) -> Customer {
    Customer {
        customer_code: "1234".into(),
        institution: "Academy".into(),
        pin_digits,
    }
}

fn renders(out: &[Effect]) -> bool {
    out.iter().any(|e| matches!(e, Effect::Render { .. }))
}

fn focuses(out: &[Effect]) -> bool {
    out.iter()
        .any(|e| matches!(e, Effect::Render { focus: true }))
}

fn verifies(out: &[Effect]) -> Option<String> {
    out.iter().find_map(|e| match e {
        Effect::Verify { code, .. } => Some(code.clone()),
        _ => None,
    })
}

fn registration(out: &[Effect]) -> Option<Registration> {
    out.iter().find_map(|e| match e {
        Effect::Register(r) => Some(r.clone()),
        _ => None,
    })
}

fn step_of(w: &W) -> Option<Ask> {
    match w.s.view {
        View::Activate(ask) => Some(ask),
        _ => None,
    }
}

fn register_step(w: &W) -> Option<(bool, Step)> {
    match &w.s.view {
        View::Register { device, step } => Some((device.is_some(), *step)),
        _ => None,
    }
}
