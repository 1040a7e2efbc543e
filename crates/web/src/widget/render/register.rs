//! The registration screens: the offer, "this browser's registration was erased" (one step
//! registers again), "another device is registered" (register this one instead), and the
//! confirmation, busy while the server is asked.

use super::local_date;
use crate::RegisteredDevice;
use crate::widget::i18n::T;
use crate::widget::machine::{Action, State, Step};
use crate::widget::screens::{Icon, Message};

/// The content of the registration screen at `step`; `device` is the user's registered one.
pub(super) fn message(
    s: &State,
    device: &Option<RegisteredDevice>,
    step: Step,
) -> Message<'static> {
    let lang = s.lang;
    let t = |key| lang.t(key);
    let user = &s.user;
    let mut m = Message {
        busy: step == Step::Busy,
        ..Message::warn()
    };
    match device {
        None if step == Step::Offer => {
            m.icon = Icon::None;
            m.title = t(T::RegisterTitle);
            m.lines.push(lang.fill(T::RegisterWhat, &[user]));
            m.buttons.push((t(T::RegisterButton), Action::Register));
        }
        // This browser registered and lost its key: one step registers it again.
        Some(device) if device.this_browser && step != Step::Confirm => {
            m.title = t(T::ErasedTitle);
            let date = local_date(lang, &device.registered_at);
            m.lines
                .push(lang.fill(T::ErasedText, &[user, &lang.label(&device.label), &date]));
            let button = if m.busy {
                T::Registering
            } else {
                T::RegisterAgain
            };
            m.buttons.push((t(button), Action::Confirm));
        }
        Some(device) if step == Step::Offer => {
            m.title = t(T::UnapprovedTitle);
            let date = local_date(lang, &device.registered_at);
            let registered = lang.label(&device.label);
            m.lines
                .push(lang.fill(T::UnapprovedText, &[user, &registered, &date]));
            m.warning = Some(lang.fill(T::ReplaceWarning, &[&registered]));
            m.buttons.push((t(T::ReplaceButton), Action::Register));
        }
        _ => {
            m.icon = Icon::None;
            m.title = t(T::ConfirmTitle);
            m.lines
                .push(lang.fill(T::ConfirmText, &[&lang.label(&s.label), user]));
            m.warning = device
                .as_ref()
                .map(|d| lang.fill(T::ReplaceWarning, &[&lang.label(&d.label)]));
            let confirm = if m.busy { T::Registering } else { T::Confirm };
            m.buttons.push((t(confirm), Action::Confirm));
            m.buttons.push((t(T::Cancel), Action::Cancel));
        }
    }
    m
}
