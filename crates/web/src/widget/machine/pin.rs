//! The PIN screens' transitions: a PIN chosen twice at registration, and the PIN of an account
//! before its code.

use std::mem;

use super::{Effect, Note, Run, View};
use crate::pin::Pin;

impl Run<'_> {
    /// The keypad's Confirm on a PIN screen.
    pub(super) fn confirm_pin(&mut self) {
        let digits = self.s.max_typed();
        if self.s.typed.len() != digits {
            return self.say(Note::PinIncomplete(digits as u8));
        }
        let typed = mem::take(&mut self.s.typed);
        match self.s.view.clone() {
            View::ChoosePin {
                mut registration,
                digits,
                first,
            } => {
                let Ok(pin) = Pin::new(&typed, digits) else {
                    return;
                };
                match first {
                    None => self.show(View::ChoosePin {
                        registration,
                        digits,
                        first: Some(pin),
                    }),
                    Some(first) if first == pin => {
                        registration.pin = Some(pin);
                        self.edit(String::clear);
                        self.s.busy = true;
                        self.say(Note::Registering);
                        self.out.push(Effect::Register(registration));
                    }
                    Some(_) => {
                        self.show(View::ChoosePin {
                            registration,
                            digits,
                            first: None,
                        });
                        self.say(Note::PinMismatch);
                    }
                }
            }
            View::EnterPin { account, .. } => match Pin::new(&typed, account.pin_digits) {
                Ok(pin) => self.out.push(Effect::Unlock(account.id, pin)),
                Err(e) => self.fail(e),
            },
            _ => {}
        }
    }
}
