//! The widget's message screens (register, confirm, unapproved device, suspended, success and
//! the failures): a heading, a few sentences, an optional warning and buttons, all built the
//! same way so they look and read alike.

use web_sys::{Element, HtmlElement};

use super::dom::{action_button, attr, el, text};
use super::machine::Action;

/// The symbol beside a screen's heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Icon {
    /// None (the register and code screens).
    None,
    /// A check mark: success.
    Ok,
    /// An exclamation mark: something needs the trainee's attention.
    Warn,
    /// A stop sign: the trainee cannot go on here.
    Stop,
}

/// One screen's content.
pub(crate) struct Message<'a> {
    pub(crate) icon: Icon,
    pub(crate) title: &'a str,
    pub(crate) lines: Vec<String>,
    pub(crate) warning: Option<String>,
    /// Buttons, the first one primary.
    pub(crate) buttons: Vec<(&'a str, Action)>,
    /// Buttons are disabled while something is in progress.
    pub(crate) busy: bool,
}

impl Message<'_> {
    /// A screen that needs the trainee's attention, with nothing in it yet: each screen fills
    /// in its title, lines and buttons, and changes the icon where it is not a warning.
    pub(crate) fn warn() -> Self {
        Message {
            icon: Icon::Warn,
            title: "",
            lines: Vec::new(),
            warning: None,
            buttons: Vec::new(),
            busy: false,
        }
    }
}

/// Builds `message` into `parent`; returns the heading, to move focus to.
pub(crate) fn build(parent: &Element, message: &Message) -> HtmlElement {
    let card = el(parent, "section", "card msg");
    let head = el(&card, "div", "head");
    if message.icon != Icon::None {
        let icon = el(
            &head,
            "span",
            match message.icon {
                Icon::Ok => "icon ok",
                Icon::Stop => "icon stop",
                _ => "icon warn",
            },
        );
        attr(&icon, "aria-hidden", "true");
    }
    let heading = heading(&head, message.title);
    for line in &message.lines {
        text(&card, "p", "", line);
    }
    if let Some(warning) = &message.warning {
        text(&card, "p", "warning", warning);
    }
    if !message.buttons.is_empty() {
        let row = el(&card, "div", "actions");
        for (i, (label, action)) in message.buttons.iter().enumerate() {
            let class = if i == 0 { "primary" } else { "ghost" };
            let b = action_button(&row, class, label, action.code());
            if message.busy {
                attr(&b, "disabled", "");
            }
        }
    }
    heading
}

/// A screen heading that focus can be moved to when the screen changes after an action, so
/// screen readers announce the new screen.
pub(crate) fn heading(parent: &Element, title: &str) -> HtmlElement {
    let h = text(parent, "h2", "", title);
    attr(&h, "tabindex", "-1");
    h
}
