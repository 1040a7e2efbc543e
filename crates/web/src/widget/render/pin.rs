//! The PIN screens: choosing a PIN at registration (typed twice), or the PIN of an account
//! before its code; both on the keypad, the digits hidden.

use web_sys::{Element, HtmlElement};

use super::{Screen, code, keypad};
use crate::text::decimal;
use crate::widget::dom::{el, text};
use crate::widget::i18n::T;
use crate::widget::machine::{State, View};
use crate::widget::screens;

/// Builds the PIN screen of the state's view; returns its heading.
pub(super) fn render(body: &Element, s: &State, touch: bool, screen: &mut Screen) -> HtmlElement {
    let lang = s.lang;
    let card = el(body, "section", "card msg");
    let head = el(&card, "div", "head");
    let heading = match &s.view {
        View::ChoosePin { digits, first, .. } => {
            let title = if first.is_some() {
                T::PinAgainTitle
            } else {
                T::PinChooseTitle
            };
            let heading = screens::heading(&head, lang.t(title));
            let n = decimal(u64::from(*digits));
            text(
                &card,
                "p",
                "",
                &lang.fill(T::PinChooseText, &[&s.institution, &n]),
            );
            heading
        }
        View::EnterPin { account, choices } => {
            let heading = screens::heading(&head, lang.t(T::PinEnterTitle));
            code::switcher(&card, s, account, choices);
            let n = decimal(u64::from(account.pin_digits));
            text(
                &card,
                "p",
                "",
                &lang.fill(T::PinEnterText, &[&n, &account.user_id]),
            );
            heading
        }
        _ => screens::heading(&head, lang.t(T::Loading)),
    };
    text(&card, "p", "note", lang.t(T::PinForgot));
    screen.pad = Some(keypad(body, s, touch, T::PinLabel, true));
    heading
}
