//! The widget as a pure state machine: [`State::step`] takes an [`Event`] (a button, a key, the
//! clock, or the result of an [`Effect`]) and returns the effects to run. No browser API here:
//! the runner (`widget/app.rs`) performs the effects and feeds their results back as events,
//! and time comes in as an argument, so every screen transition is a native unit test
//! (`tests/`, `cargo test -p cloud-otp-web`).

mod activate;
mod code;
mod input;
mod pin;
mod register;
#[cfg(test)]
mod tests;

use std::mem;

pub(crate) use activate::{Ask, Form};
pub(crate) use input::{Action, DIGITS, Key};
pub use input::{digits_only, seconds_left};
use register::Busy;

use super::i18n::{Lang, T};
use crate::accounts::Account;
use crate::api::{Customer, Pass, SessionStatus};
use crate::pin::Pin;
use crate::{CurrentCode, Error, RegisteredDevice, Registration};

/// The steps of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// What registering does, and the button.
    Offer,
    /// "Register this browser as ...?"
    Confirm,
    /// Waiting for the server.
    Busy,
}

/// What the widget shows.
#[derive(Clone)]
pub(crate) enum View {
    Loading,
    /// The step-by-step activation form (no session): customer code, login ID, activation
    /// code (docs/product.md rule 9).
    Activate(Ask),
    /// Choose the PIN of a registration, when the institution's policy asks for one; `first`
    /// holds the first entry while it is typed again.
    ChoosePin {
        registration: Registration,
        digits: u8,
        first: Option<Pin>,
    },
    /// "Remove this ID from this browser?"
    Remove(Account),
    /// The PIN of a PIN account, asked before its code is shown.
    EnterPin {
        account: Account,
        choices: Vec<Account>,
    },
    /// Register this browser; with `device`, the user's registered device is another one
    /// (docs/product.md rule 5) and registering replaces it.
    Register {
        device: Option<RegisteredDevice>,
        step: Step,
    },
    /// The code of `account`, with the keypad when there is a session; `choices` are the
    /// accounts to switch between (code-check mode).
    Code {
        account: Account,
        choices: Vec<Account>,
    },
    Done,
    Suspended,
    NoStorage,
    Network,
    Expired,
    /// Any other failure, by its stable code.
    Failed(String),
}

/// What the keypad's status line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    None,
    Checking,
    Registering,
    Incomplete,
    PinIncomplete(u8),
    WrongCode(u32),
    Replayed,
    RateLimited,
    /// A network failure: "Try again" is offered, and what was typed is kept for it.
    Network,
    ClockMoved,
    PinMismatch,
}

/// The code screen's clock: the code shown and when it gives way to the next.
#[derive(Clone)]
pub(crate) struct Clock {
    pub(crate) account: String,
    /// The code shown and its counter.
    pub(crate) code: Option<(String, u64)>,
    /// Whether the code shown was computed on a clock offset measured in this visit, rather
    /// than on the last visit's ([`crate::Device::quick_code`]).
    pub(crate) confirmed: bool,
    /// Device time (ms) when the shown code gives way to the next.
    pub(crate) deadline: f64,
    /// The counter whose expiry was announced.
    pub(crate) announced: u64,
    /// Whether "wait for the next code" shows (docs/product.md rule 6).
    pub(crate) hint: bool,
    /// The server could not be reached in the installed app: the code shown is computed on the
    /// clock offset stored on the last visit, and the screen says so.
    pub(crate) offline: bool,
}

/// What the session's status says, with the registered device's time as the runner parsed it
/// (Unix ms, NaN when there is none or it is no date).
pub(crate) struct Status {
    pub(crate) status: SessionStatus,
    pub(crate) account: Option<Account>,
    pub(crate) device_at_ms: f64,
}

/// Something that happened: the trainee, the clock, or an effect's result.
pub(crate) enum Event {
    /// The widget is mounted.
    Mount,
    /// The host page switched the language.
    SetLang(Lang),
    Key(Key),
    Act(Action),
    /// The code field's text, typed or autofilled.
    Typed(String),
    /// Text pasted anywhere in the widget but a field.
    Paste(String),
    /// The activation form's field text.
    Field(String),
    /// The account switcher chose the account of this id.
    Switch(String),
    /// The clock's timer fired.
    Tick,
    Failed(Error),
    /// This browser's accounts; `show` is the one to show, else the first.
    Accounts {
        show: Option<Account>,
        result: Result<Vec<Account>, Error>,
    },
    Status(Result<Status, Error>),
    /// This browser's label, for the confirmation step.
    Fingerprint(Result<String, Error>),
    Registered(Result<Account, Error>),
    Customer(Result<Customer, Error>),
    Unlocked(Result<(), Error>),
    Removed(Result<(), Error>),
    /// The code of account `id`; `confirmed` when computed on this visit's clock.
    Code {
        id: String,
        code: CurrentCode,
        confirmed: bool,
    },
    /// The code of account `id` on the clock offset stored on the last visit, because the
    /// server could not be reached to measure this visit's.
    Offline {
        id: String,
        code: CurrentCode,
    },
    CodeFailed(Error),
    /// This visit's code, asked before sending `code` (shown at `counter` on the last visit's
    /// clock).
    Rechecked {
        id: String,
        code: String,
        counter: u64,
        result: Result<CurrentCode, Error>,
    },
    Verified(Result<Pass, Error>),
    Copied(bool),
}

/// What the runner does. The DOM effects sync the screen with the state after the step; the
/// others ask the device or the server and come back as an [`Event`].
pub(crate) enum Effect {
    /// Rebuild the screen from the state; `focus` moves focus to its heading.
    Render {
        focus: bool,
    },
    FocusLanguage,
    /// Open the device and find what to show ([`Event::Status`] or [`Event::Accounts`]).
    Start,
    /// This browser's accounts, showing the one given.
    LoadAccounts(Option<Account>),
    Fingerprint,
    Register(Registration),
    Customer(String),
    Unlock(String, Pin),
    Remove(String),
    /// Compute the code of account `id`; `quick` first on the last visit's clock.
    Compute {
        id: String,
        quick: bool,
    },
    /// The Home Screen advice was dismissed for good: remember it.
    Dismissed,
    /// Compute the code on this visit's clock before `code` is sent ([`Event::Rechecked`]).
    Recheck {
        id: String,
        code: String,
        counter: u64,
    },
    Verify {
        id: String,
        code: String,
    },
    /// Tell the host page an outcome, as an event on the element.
    Emit(Outcome),
    Copy(String),
    /// Show the clock's code and hint in the code view.
    ShowCode,
    /// Show this much time left (ms).
    ShowTime(f64),
    /// Tell screen readers, politely.
    Say(T),
    /// Fire [`Event::Tick`] after this many ms.
    Timer(f64),
    /// Show what is typed in the keypad's field.
    Entry,
    /// Show the note and busy state under the keypad.
    Note,
    /// Set the activation form's field to this.
    Field(String),
    NativeKeyboard,
}

/// What the host page is told: `cloud-otp-pass`, or `cloud-otp-error` with the stable code of
/// every other outcome (docs/widget.md "Events"); the runner adds what the screen shows with
/// it, the attempts left of a wrong code and the device a registration screen names. Each is
/// told once, by the step where it happens, never by a redraw, a language switch or a tick.
pub(crate) enum Outcome {
    Pass(Pass),
    Error(String),
}

/// What a step may read of the world: the time, and which PIN accounts are unlocked.
pub(crate) struct Env<'a> {
    /// Device time, Unix ms.
    pub(crate) now: f64,
    pub(crate) unlocked: &'a dyn Fn(&str) -> bool,
}

/// Everything the widget knows.
pub(crate) struct State {
    pub(crate) server: String,
    pub(crate) session: Option<String>,
    pub(crate) lang: Lang,
    pub(crate) view: View,
    pub(crate) user: String,
    pub(crate) institution: String,
    /// This browser's label, for the confirmation step.
    pub(crate) label: String,
    /// The institution's PIN policy for the session's user (0: none).
    pub(crate) pin_digits: u8,
    pub(crate) form: Form,
    /// What is typed on the keypad.
    pub(crate) typed: String,
    pub(crate) note: Note,
    /// The keypad's confirm button is busy.
    pub(crate) busy: bool,
    /// A code is being checked.
    checking: bool,
    /// The next render moves focus to its heading.
    focus: bool,
    pub(crate) clock: Option<Clock>,
    /// The installable app's own page (www/app.js), not a widget a site embeds: without the
    /// network it shows codes on the last visit's clock.
    pub(crate) app: bool,
    /// Whether the Home Screen advice shows (Safari on iPhone and iPad, not yet dismissed).
    pub(crate) advice: bool,
    /// The session's institution is a test one: the bar says testing only.
    pub(crate) test: bool,
}

/// One step in progress.
struct Run<'a> {
    s: &'a mut State,
    env: Env<'a>,
    out: Vec<Effect>,
}

impl State {
    /// A widget for `server`, with an OTP session or in code-check mode.
    pub(crate) fn new(server: String, session: Option<String>, lang: Lang) -> State {
        State {
            server,
            session,
            lang,
            view: View::Loading,
            user: String::new(),
            institution: String::new(),
            label: String::new(),
            pin_digits: 0,
            form: Form::default(),
            typed: String::new(),
            note: Note::None,
            busy: false,
            checking: false,
            focus: false,
            clock: None,
            app: false,
            advice: false,
            test: false,
        }
    }

    /// The transition: applies `event` and returns what to do.
    pub(crate) fn step(&mut self, event: Event, env: Env<'_>) -> Vec<Effect> {
        let mut run = Run {
            s: self,
            env,
            out: Vec::new(),
        };
        run.event(event);
        run.out
    }

    /// Whether the screen has a keypad (the code with a session, the PIN screens).
    pub(crate) fn has_pad(&self) -> bool {
        match self.view {
            View::Code { .. } => self.session.is_some(),
            View::ChoosePin { .. } | View::EnterPin { .. } => true,
            _ => false,
        }
    }

    /// The most digits the keypad takes: 6 for a code, the PIN's length for a PIN.
    pub(crate) fn max_typed(&self) -> usize {
        match &self.view {
            View::ChoosePin { digits, .. } => usize::from(*digits),
            View::EnterPin { account, .. } => usize::from(account.pin_digits),
            _ => 6,
        }
    }
}

impl Run<'_> {
    fn event(&mut self, event: Event) {
        match event {
            Event::Mount => {
                self.redraw();
                self.out.push(Effect::Start);
            }
            Event::SetLang(lang) => {
                self.s.lang = lang;
                self.keep_field();
                self.redraw();
            }
            Event::Key(key) => self.key(key),
            Event::Act(action) => self.act(action),
            Event::Typed(value) => {
                let typed = digits_only(&value, self.s.max_typed());
                if typed != value {
                    self.out.push(Effect::Entry);
                }
                self.s.typed = typed;
            }
            Event::Paste(text) => {
                let typed = digits_only(&text, self.s.max_typed());
                self.edit(|t| *t = typed);
            }
            Event::Field(value) => self.field(value),
            Event::Switch(id) => {
                let choices = match &self.s.view {
                    View::Code { choices, .. } | View::EnterPin { choices, .. } => choices.clone(),
                    _ => return,
                };
                if let Some(account) = choices.iter().find(|a| a.id == id) {
                    self.show_code(account.clone(), choices.clone());
                }
            }
            Event::Tick => self.tick(),
            Event::Failed(e) => self.fail(e),
            Event::Accounts { show, result } => match result {
                Ok(all) => match show.or_else(|| all.first().cloned()) {
                    Some(account) => self.show_code(account, all),
                    None => self.open_form(false),
                },
                Err(e) => self.fail(e),
            },
            Event::Status(result) => self.status(result),
            Event::Fingerprint(result) => match result {
                Ok(label) => {
                    self.s.label = label;
                    self.set_step(Step::Confirm);
                }
                Err(e) => self.fail(e),
            },
            Event::Registered(result) => self.registered(result),
            Event::Customer(result) => self.customer(result),
            Event::Unlocked(result) => match (result, self.s.view.clone()) {
                (Ok(()), View::EnterPin { account, choices }) => self.show_code(account, choices),
                (Ok(()), _) => {}
                (Err(e), _) => self.fail(e),
            },
            Event::Removed(result) => match result {
                Ok(()) => self.out.push(Effect::Start),
                Err(e) => self.fail(e),
            },
            Event::Code {
                id,
                code,
                confirmed,
            } => self.code_now(&id, code, confirmed),
            Event::Offline { id, code } => self.offline(&id, code),
            Event::CodeFailed(Error::PinRequired) => {
                if let View::Code { account, choices } = self.s.view.clone() {
                    self.show(View::EnterPin { account, choices });
                }
            }
            Event::CodeFailed(e) => self.fail(e),
            Event::Rechecked {
                id,
                code,
                counter,
                result,
            } => self.rechecked(id, code, counter, result),
            Event::Verified(result) => self.verified(result),
            Event::Copied(copied) => {
                if self.s.clock.is_some() {
                    self.out
                        .push(Effect::Say(if copied { T::Copied } else { T::CopyFailed }));
                }
            }
        }
    }

    /// Shows `view`, on a new screen.
    fn show(&mut self, view: View) {
        self.s.view = view;
        self.s.note = Note::None;
        self.s.busy = false;
        self.redraw();
    }

    /// Rebuilds the screen; the code screen keeps the code and clock of its account (a
    /// language switch), or computes them.
    fn redraw(&mut self) {
        let focus = mem::take(&mut self.s.focus);
        self.out.push(Effect::Render { focus });
        let View::Code { account, .. } = &self.s.view else {
            self.s.clock = None;
            return;
        };
        let id = account.id.clone();
        let kept = self.s.clock.take().filter(|c| c.account == id);
        let known = kept.as_ref().is_some_and(|c| c.code.is_some());
        self.s.clock = Some(kept.unwrap_or(Clock {
            account: id.clone(),
            code: None,
            confirmed: false,
            deadline: 0.0,
            announced: u64::MAX,
            hint: false,
            offline: false,
        }));
        if known {
            self.tick();
        } else {
            self.out.push(Effect::Compute { id, quick: true });
        }
    }

    /// The code of `account`, or first its PIN when it has one and none was given in this
    /// visit.
    fn show_code(&mut self, account: Account, choices: Vec<Account>) {
        self.s.user.clone_from(&account.user_id);
        let locked = account.pin_digits > 0 && !(self.env.unlocked)(&account.id);
        self.s.typed.clear();
        self.show(if locked {
            View::EnterPin { account, choices }
        } else {
            View::Code { account, choices }
        });
    }

    /// The screen for a failure, and the page told its code. None of them loses the
    /// registration (docs/product.md rule 12).
    fn fail(&mut self, error: Error) {
        let code = error.code().to_owned();
        let view = match error {
            Error::IndexedDbUnavailable | Error::KeyNotStorable | Error::QuotaExceeded => {
                View::NoStorage
            }
            Error::Network => View::Network,
            Error::InvalidSession => View::Expired,
            Error::Locked => View::Suspended,
            Error::UnapprovedDevice(device) | Error::DeviceExists(device) => View::Register {
                device: Some(device),
                step: Step::Offer,
            },
            // The account's key is gone (site data cleared elsewhere): the session's status
            // then leads to registering again, and tells the page (`register.rs`).
            Error::KeyMissing if self.s.session.is_some() => {
                return self.out.push(Effect::Start);
            }
            _ => View::Failed(code.clone()),
        };
        self.show(view);
        self.tell(&code);
    }

    /// Tells the host page the outcome of this `code` (`cloud-otp-error`).
    fn tell(&mut self, code: &str) {
        self.out.push(Effect::Emit(Outcome::Error(code.to_owned())));
    }

    /// A button outside the keypad.
    fn act(&mut self, action: Action) {
        if !matches!(action, Action::Language | Action::Copy) {
            self.s.focus = true;
        }
        match action {
            Action::Register => self.out.push(Effect::Fingerprint),
            Action::Confirm => self.register(),
            Action::Cancel => self.set_step(Step::Offer),
            Action::Reload | Action::Close => {
                self.show(View::Loading);
                self.out.push(Effect::Start);
            }
            Action::Language => {
                self.s.lang = self.s.lang.other();
                self.keep_field();
                self.redraw();
                self.out.push(Effect::FocusLanguage);
            }
            Action::Copy => {
                if let Some((code, _)) = self.s.clock.as_ref().and_then(|c| c.code.clone()) {
                    self.out.push(Effect::Copy(code));
                }
            }
            Action::Next => self.next(),
            Action::Back => self.back(),
            Action::AddId => self.open_form(true),
            Action::Remove => {
                if let View::Code { account, .. } = &self.s.view {
                    let account = account.clone();
                    self.show(View::Remove(account));
                }
            }
            Action::Dismiss => {
                self.s.advice = false;
                self.out.push(Effect::Dismissed);
                self.redraw();
            }
            Action::RemoveConfirmed => {
                if let View::Remove(account) = &self.s.view {
                    let id = account.id.clone();
                    self.show(View::Loading);
                    self.out.push(Effect::Remove(id));
                }
            }
        }
    }
}
