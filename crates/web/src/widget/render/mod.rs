//! Builds the widget's DOM from the [`State`]: the bar (brand, ID, language switch) and one
//! module per screen. A screen is rebuilt whenever it changes (and on a language switch); the
//! runner then updates the code view's clock and the keypad in place.

mod activate;
mod code;
mod message;
mod pin;
mod register;

use js_sys::Object;
use wasm_bindgen::JsValue;
use web_sys::{Element, HtmlElement};

use super::code::CodeView;
use super::dom::{action_button, attr, el, set_prop, text};
use super::i18n::{Lang, T};
use super::keypad::Keypad;
use super::machine::{Action, Note, State, View};
use super::screens;
use crate::js;
use crate::text::decimal;

/// The parts of a screen the runner updates in place.
pub(crate) struct Screen {
    /// What gets focus after an action.
    pub(crate) heading: HtmlElement,
    pub(crate) switch: HtmlElement,
    pub(crate) pad: Option<Keypad>,
    /// The activation form's field.
    pub(crate) field: Option<HtmlElement>,
    pub(crate) code: Option<CodeView>,
}

/// Rebuilds `frame` for the state's view; `touch` devices keep their keyboard closed.
pub(crate) fn render(frame: &HtmlElement, s: &State, touch: bool) -> Screen {
    let lang = s.lang;
    frame.replace_children_with_node_0();
    attr(frame, "lang", lang.tag());
    let bar = el(frame, "div", "bar");
    text(&bar, "span", "brand", lang.t(T::Brand));
    if !s.user.is_empty() {
        text(&bar, "span", "who", &lang.fill(T::Id, &[&s.user]));
    }
    if s.test {
        text(&bar, "span", "test", lang.t(T::TestOnly));
    }
    let other = lang.other();
    let switch = action_button(&bar, "lang", other.t(T::LangName), Action::Language.code());
    attr(&switch, "lang", other.tag());
    let body = el(frame, "div", "screen");
    if s.advice {
        advice(&body, lang);
    }
    let mut screen = Screen {
        heading: switch.clone(),
        switch,
        pad: None,
        field: None,
        code: None,
    };
    screen.heading = match &s.view {
        View::Code { account, choices } => {
            code::render(&body, s, account, choices, touch, &mut screen)
        }
        View::Activate(ask) => activate::render(&body, s, *ask, &mut screen),
        View::ChoosePin { .. } | View::EnterPin { .. } => pin::render(&body, s, touch, &mut screen),
        View::Register { device, step } => {
            screens::build(&body, &register::message(s, device, *step))
        }
        other => screens::build(&body, &message::message(s, other)),
    };
    screen
}

/// The Home Screen advice (Safari on iPhone and iPad, in the installable app's page): why and
/// how, once, above every screen until it is dismissed for good.
fn advice(body: &Element, lang: Lang) {
    let mut message = screens::Message::warn();
    message.icon = screens::Icon::None;
    message.title = lang.t(T::AdviceTitle);
    message.lines.push(lang.t(T::AdviceText).to_owned());
    message.buttons.push((lang.t(T::AdviceOk), Action::Dismiss));
    screens::build(body, &message);
}

/// A keypad for the state, its field holding what is typed.
fn keypad(body: &Element, s: &State, touch: bool, label: T, secret: bool) -> Keypad {
    let pad = Keypad::build(body, s.lang, touch, s.lang.t(label), secret);
    set_prop(&pad.input, "value", &s.typed);
    // A new keypad says nothing and is not busy: only a note kept across a rebuild is shown.
    if s.note != Note::None || s.busy {
        show_note(&pad, s);
    }
    pad
}

/// Shows the state's note and busy state under the keypad.
pub(crate) fn show_note(pad: &Keypad, s: &State) {
    let lang = s.lang;
    let (key, n) = match s.note {
        Note::None => (None, 0),
        Note::Checking => (Some(T::Checking), 0),
        Note::Registering => (Some(T::Registering), 0),
        Note::Incomplete => (Some(T::Incomplete), 0),
        Note::PinIncomplete(n) => (Some(T::PinIncomplete), u64::from(n)),
        Note::WrongCode(n) => (Some(T::WrongCode), u64::from(n)),
        Note::Replayed => (Some(T::Replayed), 0),
        Note::RateLimited => (Some(T::RateLimited), 0),
        Note::Network => (Some(T::NetworkInline), 0),
        Note::ClockMoved => (Some(T::ClockMoved), 0),
        Note::PinMismatch => (Some(T::PinMismatch), 0),
    };
    let words = key.map_or(String::new(), |key| lang.fill(key, &[&decimal(n)]));
    let bad = !matches!(s.note, Note::None | Note::Checking | Note::Registering);
    pad.say(&words, bad, s.note == Note::Network);
    pad.busy(s.busy);
}

/// A registration's date and time as the trainee's language writes them ("November 20, 2026 at
/// 9:00 AM", "2026년 11월 20일 오전 9:00"); the server's text as is when it is not a date.
fn local_date(lang: Lang, iso: &str) -> String {
    let date = js_sys::Date::new(&JsValue::from_str(iso));
    if date.get_time().is_nan() {
        return iso.to_owned();
    }
    // With the time: two browsers with the same label, registered the same day, are told
    // apart by it.
    let options = Object::new();
    js::set(&options, "dateStyle", "long");
    js::set(&options, "timeStyle", "short");
    date.to_locale_string(lang.tag(), &options).into()
}
