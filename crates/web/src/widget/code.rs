//! The code view: six large digits, the remaining time as a ring, a number and six dots (one per
//! 10 seconds, as the apps in the manuals of docs/product.md show it), a copy button, and a polite live
//! region that announces the code's expiry once (WCAG 2.2 SC 4.1.3); the page's first code is
//! marked for User Timing (`cloud-otp:first-code`).

use core::sync::atomic::{AtomicBool, Ordering};

use web_sys::{Element, HtmlElement};

use super::dom::{action_button, attr, call, el, text};
use super::i18n::{Lang, T};
use super::machine::{Action, seconds_left};
use super::screens::heading;
use crate::js::global;
use crate::text::decimal;

/// The DOM of one code view, kept to update it every second without rebuilding it.
pub(crate) struct CodeView {
    /// The view's heading, for focus.
    pub(crate) heading: HtmlElement,
    digits: HtmlElement,
    spoken: HtmlElement,
    timer: HtmlElement,
    secs: HtmlElement,
    ring: HtmlElement,
    dots: Vec<HtmlElement>,
    hint: HtmlElement,
    offline: HtmlElement,
    live: HtmlElement,
}

impl CodeView {
    /// Builds an empty code view at the end of `parent`.
    pub(crate) fn build(parent: &Element, lang: Lang) -> CodeView {
        let card = el(parent, "section", "card code");
        let heading = heading(&card, lang.t(T::CodeTitle));
        let row = el(&card, "div", "row");
        // The digits are shown in two groups of three and spoken one by one.
        let digits = text(&row, "p", "digits", "––– –––");
        attr(&digits, "aria-hidden", "true");
        let spoken = el(&row, "p", "sr");
        let timer = el(&row, "div", "timer");
        attr(&timer, "role", "timer");
        let ring = el(&timer, "div", "ring");
        attr(&ring, "aria-hidden", "true");
        let secs = el(&timer, "span", "secs");
        let dot_row = el(&card, "div", "dots");
        attr(&dot_row, "aria-hidden", "true");
        let dots = (0..6).map(|_| el(&dot_row, "i", "")).collect();
        let hint = text(&card, "p", "hint", lang.t(T::WaitHint));
        hint.set_hidden(true);
        let offline = text(&card, "p", "hint", lang.t(T::Offline));
        offline.set_hidden(true);
        action_button(&card, "ghost", lang.t(T::Copy), Action::Copy.code());
        let live = el(&card, "p", "sr");
        attr(&live, "aria-live", "polite");
        CodeView {
            heading,
            digits,
            spoken,
            timer,
            secs,
            ring,
            dots,
            hint,
            offline,
            live,
        }
    }

    /// Shows a 6-digit code.
    pub(crate) fn show_code(&self, lang: Lang, code: &str) {
        // Two groups of three on screen, spelled out digit by digit for screen readers (built
        // char by char: slicing a str would link the standard library's slicing panics).
        let mut shown = String::with_capacity(8);
        let mut spelled = String::with_capacity(12);
        for (i, c) in code.chars().enumerate() {
            if i == 3 {
                shown.push(' ');
            }
            shown.push(c);
            spelled.push(c);
            spelled.push(' ');
        }
        self.digits.set_text_content(Some(&shown));
        self.spoken
            .set_text_content(Some(&lang.fill(T::Digits, &[spelled.trim_ascii_end()])));
        // The page's first code, as a User Timing mark: what the benchmark and a site's
        // real-user monitoring read, the same way in every engine (docs/widget.md). `call`
        // does nothing where the API is missing.
        static SHOWN: AtomicBool = AtomicBool::new(false);
        if !SHOWN.swap(true, Ordering::Relaxed)
            && let Some(performance) = global("performance")
        {
            call(&performance, "mark", &"cloud-otp:first-code".into());
        }
    }

    /// Shows the time left, `ms` milliseconds. The ring is set to where it will be a second
    /// later, and its CSS transition takes that second to get there, so it moves smoothly.
    pub(crate) fn show_time(&self, lang: Lang, ms: f64) {
        let secs = seconds_left(ms);
        self.secs
            .set_text_content(Some(&lang.fill(T::Seconds, &[&decimal(u64::from(secs))])));
        // Whole seconds: formatting a float would pull Rust's float printing into the module.
        let next = decimal(u64::from(secs - 1));
        let _ = self.ring.style().set_property("--s", &next);
        for (i, dot) in self.dots.iter().enumerate() {
            dot.set_class_name(if (i as u32) < secs.div_ceil(10) {
                "on"
            } else {
                ""
            });
        }
        self.timer
            .set_class_name(if secs <= 10 { "timer low" } else { "timer" });
    }

    /// Shows or hides the "wait for the next code" hint (docs/product.md rule 6).
    pub(crate) fn hint(&self, on: bool) {
        self.hint.set_hidden(!on);
    }

    /// Shows or hides the notice that the code is computed on the last visit's clock, with no
    /// network (the installed app).
    pub(crate) fn offline(&self, on: bool) {
        self.offline.set_hidden(!on);
    }

    /// Says something to screen readers once, politely.
    pub(crate) fn say(&self, words: &str) {
        self.live.set_text_content(Some(words));
    }
}
