//! The keypad: a fixed layout of real buttons (0-9, delete, clear, confirm) around a labelled
//! code field. The field also takes physical typing and paste; on touch devices it keeps the
//! native keyboard closed (inputmode=none) until the trainee asks for it, and then offers the
//! numeric one with one-time-code autofill.

use web_sys::{Element, HtmlElement};

use super::dom::{action_button, attr, el, text};
use super::i18n::{Lang, T};
use super::machine::{DIGITS, Key};

/// The DOM of one keypad.
pub(crate) struct Keypad {
    /// The code field.
    pub(crate) input: HtmlElement,
    status: HtmlElement,
    retry: HtmlElement,
    confirm: HtmlElement,
}

impl Keypad {
    /// Builds the keypad at the end of `parent`, its field labelled `label`. Its buttons carry
    /// their [`Key`] as `value`. A `secret` keypad (a PIN) hides what is typed and offers no
    /// one-time-code autofill.
    pub(crate) fn build(
        parent: &Element,
        lang: Lang,
        touch: bool,
        label: &str,
        secret: bool,
    ) -> Keypad {
        let card = el(parent, "section", "card pad");
        let wrap = el(&card, "label", "");
        text(&wrap, "span", "label", label);
        let input = el(&wrap, "input", "entry");
        for (name, value) in [
            ("type", if secret { "password" } else { "text" }),
            ("inputmode", if touch { "none" } else { "numeric" }),
            ("autocomplete", if secret { "off" } else { "one-time-code" }),
            ("enterkeyhint", "done"),
            ("spellcheck", "false"),
            ("autocapitalize", "off"),
        ] {
            attr(&input, name, value);
        }
        let key = |parent: &Element, class, label, key: Key| {
            action_button(parent, class, label, key.code())
        };
        if touch {
            key(&card, "link", lang.t(T::PhoneKeyboard), Key::NativeKeyboard);
        }
        let keys = el(&card, "div", "keys");
        for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 11] {
            let (label, class, k) = match n {
                10 => (lang.t(T::Clear), "key fn", Key::Clear),
                11 => (lang.t(T::Delete), "key fn", Key::Delete),
                d => (DIGITS[d], "key", Key::Digit(d as u8)),
            };
            let b = key(&keys, class, label, k);
            if k == Key::Delete {
                attr(&b, "aria-label", lang.t(T::DeleteName));
            }
        }
        let confirm = key(&card, "primary", lang.t(T::Confirm), Key::Confirm);
        let status = el(&card, "p", "status");
        attr(&status, "role", "status");
        let retry = key(&card, "ghost", lang.t(T::TryAgain), Key::Retry);
        retry.set_hidden(true);
        Keypad {
            input,
            status,
            retry,
            confirm,
        }
    }

    /// Shows a message under the keypad (announced: the area is a status region), styled as a
    /// problem when `bad` (a wrong, used or incomplete code, a network failure); `retry` also
    /// shows the "Try again" button.
    pub(crate) fn say(&self, words: &str, bad: bool, retry: bool) {
        self.status.set_text_content(Some(words));
        attr(&self.status, "data-bad", if bad { "1" } else { "" });
        self.retry.set_hidden(!retry);
    }

    /// Marks the confirm button busy while a code is being checked.
    pub(crate) fn busy(&self, busy: bool) {
        attr(
            &self.confirm,
            "aria-disabled",
            if busy { "true" } else { "false" },
        );
    }
}
