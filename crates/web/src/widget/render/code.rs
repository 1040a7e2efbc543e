//! The code screen: the account switcher (several IDs, no session), the code view, the keypad
//! when there is a session to verify against, and the add/remove buttons of code-check mode.

use web_sys::{Element, HtmlElement};

use super::{Screen, keypad};
use crate::accounts::Account;
use crate::text::concat;
use crate::widget::code::CodeView;
use crate::widget::dom::{action_button, attr, el, set_prop, text};
use crate::widget::i18n::T;
use crate::widget::machine::{Action, State};

/// Builds the code screen; returns its heading.
pub(super) fn render(
    body: &Element,
    s: &State,
    account: &Account,
    choices: &[Account],
    touch: bool,
    screen: &mut Screen,
) -> HtmlElement {
    let lang = s.lang;
    let session = s.session.is_some();
    if !session {
        text(body, "p", "intro", lang.t(T::CheckModeText));
    }
    switcher(body, s, account, choices);
    let columns = el(body, "div", if session { "cols two" } else { "cols" });
    let view = CodeView::build(&columns, lang);
    if session {
        screen.pad = Some(keypad(&columns, s, touch, T::TypeLabel, false));
    }
    // The same account keeps its code across a rebuild (a language switch).
    if let Some((code, _)) = s.clock.as_ref().and_then(|c| c.code.as_ref()) {
        view.show_code(lang, code);
        view.hint(s.clock.as_ref().is_some_and(|c| c.hint));
        view.offline(s.clock.as_ref().is_some_and(|c| c.offline));
    }
    let heading = view.heading.clone();
    screen.code = Some(view);
    if !session {
        // Rule 10: more IDs, from this or other institutions, come through activation.
        let row = el(body, "div", "actions");
        action_button(&row, "ghost", lang.t(T::AddId), Action::AddId.code());
        action_button(&row, "ghost", lang.t(T::RemoveId), Action::Remove.code());
    }
    heading
}

/// The switcher between this browser's IDs (code-check mode), when it holds several.
pub(super) fn switcher(body: &Element, s: &State, account: &Account, choices: &[Account]) {
    if choices.len() < 2 {
        return;
    }
    let lang = s.lang;
    let label = el(body, "label", "switch");
    text(&label, "span", "label", lang.t(T::Account));
    let select = el(&label, "select", "");
    // Named by the label alone: a wrapping label would add the selected ID to the name.
    attr(&select, "aria-label", lang.t(T::Account));
    for choice in choices {
        // The same login ID at two institutions: the customer code tells them apart.
        let twin = choices
            .iter()
            .any(|c| c.id != choice.id && c.user_id == choice.user_id);
        let name = match (&choice.customer_code, twin) {
            (Some(code), true) => concat(&[&choice.user_id, " · ", code]),
            _ => choice.user_id.clone(),
        };
        let option = text(&select, "option", "", &name);
        set_prop(&option, "value", &choice.id);
        if choice.id == account.id {
            attr(&option, "selected", "");
        }
    }
}
