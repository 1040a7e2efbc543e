//! The code screen's transitions: the code and its clock (a tick each second, the next code
//! when the step ends), the keypad (digits, delete, clear, paste), and sending a code with
//! every answer told under the keypad.

use super::{Effect, Key, Note, Outcome, Run, View, seconds_left};
use crate::api::Pass;
use crate::widget::i18n::T;
use crate::{CurrentCode, Error};

impl Run<'_> {
    /// Shows `now` as the code of account `id`, unless the screen changed while it was
    /// computed, and restarts the clock.
    pub(super) fn code_now(&mut self, id: &str, now: CurrentCode, confirmed: bool) {
        let Some(clock) = self.s.clock.as_mut().filter(|c| c.account == id) else {
            return;
        };
        // Entry: the first code on the screen, or the first on this visit's clock.
        let entry = clock.code.is_none() || !clock.confirmed;
        let changed = clock.code.as_ref().map(|c| c.1) != Some(now.counter);
        clock.deadline = self.env.now + now.remaining_ms as f64;
        if entry {
            // docs/product.md rule 6: little time left on entry, so say the next code is near.
            clock.hint = now.remaining_secs < 10;
        } else if changed {
            clock.hint = false;
        }
        clock.code = Some((now.code, now.counter));
        clock.confirmed = confirmed;
        // A code on this visit's clock: the server answered, the app is online again.
        clock.offline &= !confirmed;
        self.out.push(Effect::ShowCode);
        self.tick();
    }

    /// A code on the clock offset stored on the last visit: the server could not be reached.
    /// The installed app says it is offline (each new step asks the server again); a widget a
    /// site embeds shows it as it always did, as a code on this visit's clock.
    pub(super) fn offline(&mut self, id: &str, code: CurrentCode) {
        let app = self.s.app;
        if let Some(clock) = self.s.clock.as_mut().filter(|c| app && c.account == id) {
            clock.offline = true;
        }
        self.code_now(id, code, !app);
    }

    /// Updates the clock once a second, on the second, and computes the next code when the step
    /// ends; the old code stays on screen until the new one replaces it.
    pub(super) fn tick(&mut self) {
        let Some(clock) = self.s.clock.as_mut() else {
            return;
        };
        let left = clock.deadline - self.env.now;
        if left <= 0.0 {
            let quick = clock.code.is_none();
            let id = clock.account.clone();
            return self.out.push(Effect::Compute { id, quick });
        }
        self.out.push(Effect::ShowTime(left));
        let counter = clock.code.as_ref().map_or(0, |c| c.1);
        if left <= 10_000.0 && clock.announced != counter {
            clock.announced = counter;
            self.out.push(Effect::Say(T::NearExpiry));
        }
        let wait = left - f64::from(seconds_left(left) - 1) * 1000.0;
        self.out.push(Effect::Timer(wait + 5.0));
    }

    /// A keypad button, or a key typed anywhere in the widget.
    pub(super) fn key(&mut self, key: Key) {
        match key {
            Key::Digit(d) => {
                let max = self.s.max_typed();
                self.edit(|t| {
                    if t.len() < max {
                        t.push(char::from(b'0' + d));
                    }
                });
            }
            Key::Delete => self.edit(|t| {
                t.pop();
            }),
            Key::Clear => self.edit(String::clear),
            Key::Confirm | Key::Retry => match self.s.view {
                View::ChoosePin { .. } | View::EnterPin { .. } => self.confirm_pin(),
                _ => self.submit(),
            },
            Key::NativeKeyboard => {
                if self.s.has_pad() {
                    self.out.push(Effect::NativeKeyboard);
                }
            }
        }
    }

    /// Changes what is typed on the keypad; a new edit clears the last note.
    pub(super) fn edit(&mut self, change: impl FnOnce(&mut String)) {
        if !self.s.has_pad() {
            return;
        }
        change(&mut self.s.typed);
        self.s.note = Note::None;
        self.out.push(Effect::Entry);
        self.out.push(Effect::Note);
    }

    /// A note under the keypad.
    pub(super) fn say(&mut self, note: Note) {
        self.s.note = note;
        self.out.push(Effect::Note);
    }

    /// Sends the typed code. A code shown on the last visit's clock offset
    /// ([`crate::Device::quick_code`]) is sent only once this visit's offset confirms it: when
    /// the device clock moved in between, the server would refuse it, and a refusal counts
    /// toward suspension (docs/product.md rule 4).
    pub(super) fn submit(&mut self) {
        let Some(clock) = self.s.clock.as_ref().filter(|_| self.s.session.is_some()) else {
            return;
        };
        if self.s.typed.len() != 6 {
            return self.say(Note::Incomplete);
        }
        if self.s.checking {
            return;
        }
        let id = clock.account.clone();
        let code = self.s.typed.clone();
        let quick = clock
            .code
            .as_ref()
            .filter(|(shown, _)| !clock.confirmed && *shown == code)
            .map(|c| c.1);
        self.s.checking = true;
        self.s.busy = true;
        self.say(Note::Checking);
        self.out.push(match quick {
            Some(counter) => Effect::Recheck { id, code, counter },
            None => Effect::Verify { id, code },
        });
    }

    /// This visit's code, before a code shown on the last visit's clock is sent.
    pub(super) fn rechecked(
        &mut self,
        id: String,
        code: String,
        counter: u64,
        result: Result<CurrentCode, Error>,
    ) {
        match result {
            // The server takes the current step and the one before (rule 2).
            Ok(now) if now.counter != counter && now.counter != counter + 1 => {
                self.s.checking = false;
                self.s.busy = false;
                self.code_now(&id, now, true);
                self.edit(String::clear);
                return self.say(Note::ClockMoved);
            }
            Ok(now) => self.code_now(&id, now, true),
            // Told by the same request failing.
            Err(_) => {}
        }
        self.out.push(Effect::Verify { id, code });
    }

    /// The server's answer to a code: the pass, or the problem under the keypad, each told to
    /// the page; a network failure keeps what was typed for "Try again".
    pub(super) fn verified(&mut self, result: Result<Pass, Error>) {
        self.s.checking = false;
        self.s.busy = false;
        self.out.push(Effect::Note);
        match result {
            Ok(pass) => {
                self.s.typed.clear();
                self.out.push(Effect::Emit(Outcome::Pass(pass)));
                self.s.focus = true;
                self.show(View::Done);
            }
            Err(e @ (Error::InvalidCode { .. } | Error::Replayed)) => {
                self.edit(String::clear);
                self.say(match e {
                    Error::InvalidCode { attempts_left } => Note::WrongCode(attempts_left),
                    _ => Note::Replayed,
                });
                self.tell(e.code());
            }
            Err(e) if e.retryable() => {
                self.say(match e {
                    Error::RateLimited => Note::RateLimited,
                    _ => Note::Network,
                });
                self.tell(e.code());
            }
            Err(e) => {
                self.s.focus = true;
                self.fail(e);
            }
        }
    }
}
