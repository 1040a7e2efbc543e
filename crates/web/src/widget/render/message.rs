//! The message screens that are not part of a flow: loading, success, suspended, no storage,
//! offline, session expired, "remove this ID?", the service closed, and any other failure.

use crate::widget::i18n::T;
use crate::widget::machine::{Action, State, View};
use crate::widget::screens::{Icon, Message};

/// The content of the message screen for `view`.
pub(super) fn message(s: &State, view: &View) -> Message<'static> {
    let lang = s.lang;
    let t = |key| lang.t(key);
    let mut m = Message::warn();
    match view {
        View::Done => {
            m.icon = Icon::Ok;
            m.title = t(T::SuccessTitle);
            m.lines.push(t(T::SuccessText).into());
        }
        View::Suspended => {
            m.icon = Icon::Stop;
            m.title = t(T::SuspendedTitle);
            m.lines.push(lang.fill(T::SuspendedText, &[&s.user]));
            let who = if s.institution.is_empty() {
                t(T::Institution)
            } else {
                s.institution.as_str()
            };
            m.lines.push(lang.fill(T::SuspendedHow, &[who]));
            m.buttons.push((t(T::CheckAgain), Action::Reload));
        }
        View::NoStorage => {
            m.icon = Icon::Stop;
            m.title = t(T::NoStorageTitle);
            m.lines.push(t(T::NoStorageText).into());
            m.lines.push(t(T::NoStorageDo).into());
        }
        View::Network => {
            m.title = t(T::NetworkTitle);
            m.lines.push(t(T::NetworkText).into());
            m.buttons.push((t(T::TryAgain), Action::Reload));
        }
        View::Expired => {
            m.title = t(T::SessionTitle);
            m.lines.push(t(T::SessionText).into());
        }
        View::Remove(account) => {
            m.title = t(T::RemoveTitle);
            m.lines.push(lang.fill(T::RemoveText, &[&account.user_id]));
            m.buttons
                .push((t(T::RemoveButton), Action::RemoveConfirmed));
            m.buttons.push((t(T::Cancel), Action::Close));
        }
        View::Failed(code) if code == "service_closed" => {
            m.icon = Icon::Stop;
            m.title = t(T::ClosedTitle);
            m.lines.push(t(T::ClosedText).into());
            m.buttons.push((t(T::CheckAgain), Action::Reload));
        }
        View::Failed(code) => {
            m.title = t(T::ErrorTitle);
            m.lines.push(lang.fill(T::ErrorText, &[code]));
            m.buttons.push((t(T::TryAgain), Action::Reload));
        }
        // Loading, and the screens with their own module.
        _ => {
            m.icon = Icon::None;
            m.title = t(T::Loading);
        }
    }
    m
}
