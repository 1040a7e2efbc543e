//! The widget trainees see (docs/architecture.md): registration, the code with its clock,
//! the keypad, and every outcome, in Korean and English, rendered with web-sys on top of
//! [`Device`](crate::Device). JavaScript mounts it with `mount(element, options)`; www/'s
//! `<cloud-otp>` element does that inside a shadow root.
//!
//! Which screen follows which is a pure state machine (`machine/`, tested natively); `app.rs`
//! runs it at the edge (listeners, [`Device`](crate::Device), timers) and `render/` draws its
//! state, one module per screen.

mod app;
mod code;
mod dom;
mod i18n;
mod keypad;
mod machine;
mod render;
mod screens;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::Element;

pub use i18n::{Lang, T};
pub use machine::{digits_only, seconds_left};

use crate::js;

#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT: &str = r#"
/** What `mount` needs; every field is optional. */
export interface MountOptions {
  /** The cloud-otp server; default: this page's origin. */
  server?: string;
  /** An OTP session the training site opened: the widget registers and verifies with it.
   *  Without one it shows this browser's codes (code-check mode). */
  session?: string | null;
  /** "ko" or "en"; default: from navigator.language. */
  lang?: string;
  /** The installable app's own page (www/app.js): with no network, show codes on the clock
   *  measured on the last visit. Sites that embed the widget leave it out. */
  app?: boolean;
  /** Show the Home Screen advice (Safari on iPhone and iPad); called once it is dismissed,
   *  to remember that. */
  advise?: () => void;
}

/** `event.detail` of `cloud-otp-pass`: redeem `pass` with POST /v1/siteverify before
 *  `expiresAt` (ISO 8601, 120 s after the success). */
export interface CloudOtpPassDetail {
  pass: string;
  expiresAt: string;
}

/** The stable codes of `cloud-otp-error` (docs/widget.md "Events"), those of docs/api.md. */
export type CloudOtpErrorCode =
  | "invalid_code" | "replayed" | "rate_limited" | "locked" | "unapproved_device"
  | "device_exists" | "key_missing" | "invalid_session" | "network_error" | "server_error"
  | "key_not_storable" | "indexeddb_unavailable" | "quota_exceeded" | "storage_error"
  | "crypto_error" | "crypto_unavailable" | "random_unavailable" | "service_closed"
  | "origin_not_allowed" | "not_registered" | "bad_request" | "too_many_accounts"
  | "invalid_server";

/** `event.detail` of `cloud-otp-error`: every outcome but the pass. */
export interface CloudOtpErrorDetail {
  code: CloudOtpErrorCode;
  /** With `invalid_code`: wrong codes still allowed before suspension. */
  attemptsLeft?: number;
  /** With `unapproved_device` and `device_exists`: the registered device. */
  device?: { label: string; registeredAt: string };
}

declare global {
  interface HTMLElementEventMap {
    "cloud-otp-pass": CustomEvent<CloudOtpPassDetail>;
    "cloud-otp-error": CustomEvent<CloudOtpErrorDetail>;
    /** The `<cloud-otp>` element's (www/cloud-otp.js): its pass reached its end unused. */
    "cloud-otp-expired": CustomEvent<CloudOtpPassDetail>;
  }
}
"#;

/// A mounted widget. It stays mounted until `unmount()`, even when this handle is garbage
/// collected (wasm-bindgen then frees the handle, not the widget).
#[wasm_bindgen]
pub struct Widget {
    app: Rc<app::App>,
}

#[wasm_bindgen]
impl Widget {
    /// Switches the language: "ko" or "en".
    #[wasm_bindgen(js_name = setLanguage)]
    pub fn set_language(&self, tag: &str) {
        self.app.set_lang(Lang::from_tag(tag));
    }

    /// Removes the widget: its listeners and timers stop and its element is emptied.
    pub fn unmount(&self) {
        MOUNTED.with_borrow_mut(|apps| apps.retain(|a| !Rc::ptr_eq(a, &self.app)));
        self.app.unmount();
    }
}

thread_local! {
    /// The mounted widgets, kept alive here rather than by their JavaScript handles.
    static MOUNTED: RefCell<Vec<Rc<app::App>>> = const { RefCell::new(Vec::new()) };
}

/// Renders the widget into `element` (its children are replaced). With a session it hands the
/// pass to the page as a bubbling, composed `cloud-otp-pass` event `{detail: {pass,
/// expiresAt}}` dispatched on `element`, and every other outcome as `cloud-otp-error`
/// `{detail: {code, attemptsLeft?, device?}}`.
#[wasm_bindgen]
pub fn mount(
    // Taken by value: a borrowed externref makes wasm-bindgen emit table.fill, which Debian's
    // wasm-opt (108) cannot parse.
    element: Element,
    #[wasm_bindgen(unchecked_param_type = "MountOptions")] options: JsValue,
) -> Widget {
    let page = |object, name| js::global(object).and_then(|o| js::string_field(&o, name));
    let server = js::string_field(&options, "server")
        .or_else(|| page("location", "origin"))
        .unwrap_or_default();
    let session = js::string_field(&options, "session").filter(|s| !s.is_empty());
    let lang = js::string_field(&options, "lang")
        .or_else(|| page("navigator", "language"))
        .map_or(Lang::En, |tag| Lang::from_tag(&tag));
    // A coarse pointer is a touch screen: the native keyboard stays closed until asked for.
    let touch = js::global("matchMedia")
        .and_then(|_| dom::call(&js_sys::global(), "matchMedia", &"(pointer: coarse)".into()))
        .and_then(|query| js::bool_field(&query, "matches"))
        .unwrap_or(false);
    // Mounting again into the same element replaces the widget there.
    // Unmounted once out of the borrow: `retain` rather than `partition`, which is more code.
    let mut before = Vec::new();
    MOUNTED.with_borrow_mut(|apps| {
        apps.retain(|a| {
            let same = a.host() == &element;
            if same {
                before.push(a.clone());
            }
            !same
        })
    });
    for app in before {
        app.unmount();
    }
    let page = app::Page {
        app: js::bool_field(&options, "app") == Some(true),
        advise: js::field(&options, "advise").and_then(|f| f.dyn_into().ok()),
    };
    let app = app::App::mount(&element, server, session, lang, touch, page);
    MOUNTED.with_borrow_mut(|apps| apps.push(app.clone()));
    Widget { app }
}
