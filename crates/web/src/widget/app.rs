//! The widget's runner: one mounted widget, its DOM listeners turned into [`Event`]s for the
//! state machine ([`State::step`]), and the [`Effect`]s it returns performed at the edge:
//! IndexedDB, fetch and WebCrypto through [`Device`], timers, the clipboard, the page's events,
//! and the DOM ([`render`]). Every result goes back to the machine as an event.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Object};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;
use web_sys::{CustomEvent, CustomEventInit, Element, Event as DomEvent, HtmlElement};

use super::dom::{Listener, Timer, attr, el, on, prop, set_prop};
use super::i18n::Lang;
use super::machine::{Action, Effect, Env, Event, Key, Note, Outcome, State, Status, View};
use super::render::{self, Screen};
use crate::{Device, js, keystore};

/// One mounted widget.
pub(crate) struct App {
    me: Weak<App>,
    host: Element,
    frame: HtmlElement,
    touch: bool,
    gone: Cell<bool>,
    state: RefCell<State>,
    device: RefCell<Option<Rc<Device>>>,
    /// The parts of the screen that are updated in place.
    screen: RefCell<Option<Screen>>,
    timer: RefCell<Option<Timer>>,
    listeners: RefCell<Vec<Listener>>,
    /// What the page gave to remember that the Home Screen advice was dismissed.
    dismissed: Option<Function>,
}

/// What the installable app's page (www/app.js) asks of the widget it mounts; a widget a site
/// embeds has neither.
#[derive(Default)]
pub(crate) struct Page {
    /// Offline, show codes on the last visit's clock.
    pub(crate) app: bool,
    /// Show the Home Screen advice; calling this remembers it was dismissed.
    pub(crate) advise: Option<Function>,
}

impl App {
    /// Mounts a widget into `host` (its children are replaced) and starts it.
    pub(crate) fn mount(
        host: &Element,
        server: String,
        session: Option<String>,
        lang: Lang,
        touch: bool,
        page: Page,
    ) -> Rc<App> {
        host.replace_children_with_node_0();
        let frame = el(host, "div", "cotp");
        let mut state = State::new(server, session, lang);
        state.app = page.app;
        state.advice = page.advise.is_some();
        let app = Rc::new_cyclic(|me| App {
            me: me.clone(),
            host: host.clone(),
            frame,
            touch,
            gone: Cell::new(false),
            state: RefCell::new(state),
            device: RefCell::new(None),
            screen: RefCell::new(None),
            timer: RefCell::new(None),
            listeners: RefCell::default(),
            dismissed: page.advise,
        });
        app.listen_to_frame();
        app.dispatch(Event::Mount);
        app
    }

    /// Stops every timer and listener and empties the host.
    pub(crate) fn unmount(&self) {
        self.gone.set(true);
        *self.timer.borrow_mut() = None;
        self.listeners.borrow_mut().clear();
        *self.screen.borrow_mut() = None;
        self.host.replace_children_with_node_0();
    }

    /// The element the widget is mounted in.
    pub(crate) fn host(&self) -> &Element {
        &self.host
    }

    /// Switches the language, keeping everything typed and shown.
    pub(crate) fn set_lang(&self, lang: Lang) {
        self.dispatch(Event::SetLang(lang));
    }

    fn device(&self) -> Option<Rc<Device>> {
        self.device.borrow().clone()
    }

    /// Steps the machine with `event` and performs what it returns.
    fn dispatch(&self, event: Event) {
        if self.gone.get() {
            return;
        }
        let device = self.device();
        let unlocked = |id: &str| device.as_ref().is_none_or(|d| d.is_unlocked(id));
        let env = Env {
            now: js_sys::Date::now(),
            unlocked: &unlocked,
        };
        let effects = self.state.borrow_mut().step(event, env);
        for effect in effects {
            self.run(effect);
        }
    }

    /// Performs one effect: the DOM ones now, the others in a task that reports back.
    fn run(&self, effect: Effect) {
        // The host page's listener to an event may have unmounted the widget.
        if self.gone.get() {
            return;
        }
        // Before anything is borrowed: the host page's listener may call the widget back.
        // Moving focus below cannot: it leaves a removed screen or a button, not a field that
        // would fire `change`.
        if let Effect::Emit(outcome) = &effect {
            return self.emit(outcome);
        }
        let state = self.state.borrow();
        let lang = state.lang;
        let mut screen = self.screen.borrow_mut();
        let code = screen.as_ref().and_then(|s| s.code.as_ref());
        let pad = screen.as_ref().and_then(|s| s.pad.as_ref());
        match effect {
            Effect::Render { focus } => {
                *self.timer.borrow_mut() = None;
                let new = render::render(&self.frame, &state, self.touch);
                if focus {
                    let _ = new.heading.focus();
                }
                *screen = Some(new);
            }
            Effect::FocusLanguage => {
                if let Some(s) = &*screen {
                    let _ = s.switch.focus();
                }
            }
            Effect::ShowCode => {
                let clock = state.clock.as_ref();
                if let (Some(view), Some((shown, _))) = (code, clock.and_then(|c| c.code.as_ref()))
                {
                    view.show_code(lang, shown);
                    view.hint(clock.is_some_and(|c| c.hint));
                    view.offline(clock.is_some_and(|c| c.offline));
                }
            }
            Effect::ShowTime(ms) => {
                if let Some(view) = code {
                    view.show_time(lang, ms);
                }
            }
            Effect::Say(key) => {
                if let Some(view) = code {
                    view.say(lang.t(key));
                }
            }
            Effect::Timer(ms) => {
                let me = self.me.clone();
                *self.timer.borrow_mut() = Some(Timer::after(ms, move || {
                    if let Some(app) = me.upgrade() {
                        app.dispatch(Event::Tick);
                    }
                }));
            }
            Effect::Entry => {
                if let Some(pad) = pad {
                    set_prop(&pad.input, "value", &state.typed);
                }
            }
            Effect::Note => {
                if let Some(pad) = pad {
                    render::show_note(pad, &state);
                }
            }
            Effect::Field(value) => {
                if let Some(field) = screen.as_ref().and_then(|s| s.field.as_ref()) {
                    set_prop(field, "value", &value);
                }
            }
            Effect::Dismissed => {
                if let Some(remember) = &self.dismissed {
                    let _ = remember.call0(&JsValue::UNDEFINED);
                }
            }
            Effect::NativeKeyboard => {
                if let Some(pad) = pad {
                    attr(&pad.input, "inputmode", "numeric");
                    let _ = pad.input.focus();
                }
            }
            other => {
                if let Some(app) = self.me.upgrade() {
                    spawn_local(app.perform(other));
                }
            }
        }
    }

    /// Performs an effect that asks the device, the server or the clipboard, and reports the
    /// result to the machine.
    async fn perform(self: Rc<Self>, effect: Effect) {
        let device = match self.device() {
            Some(device) => device,
            None if matches!(effect, Effect::Start) => {
                match Device::open(keystore::DEFAULT_DATABASE).await {
                    Ok(device) => {
                        let device = Rc::new(device);
                        *self.device.borrow_mut() = Some(device.clone());
                        device
                    }
                    Err(e) => return self.dispatch(Event::Failed(e)),
                }
            }
            None => return,
        };
        let (server, session) = {
            let s = self.state.borrow();
            (s.server.clone(), s.session.clone())
        };
        let event = match effect {
            // What to show: the session's user and this browser's account for it, or, without a
            // session, the accounts this browser holds (code-check mode).
            Effect::Start => match &session {
                None => Event::Accounts {
                    show: None,
                    result: device.accounts().await,
                },
                Some(session) => Event::Status(device.session(&server, session).await.map(
                    |(status, account)| {
                        let device_at_ms = status
                            .device
                            .as_ref()
                            .map_or(f64::NAN, |d| js_sys::Date::parse(&d.registered_at));
                        Status {
                            status,
                            account,
                            device_at_ms,
                        }
                    },
                )),
            },
            Effect::LoadAccounts(show) => Event::Accounts {
                show,
                result: device.accounts().await,
            },
            Effect::Fingerprint => Event::Fingerprint(device.fingerprint().await.map(|f| f.label)),
            Effect::Register(registration) => {
                Event::Registered(device.register(&registration).await)
            }
            Effect::Customer(code) => Event::Customer(device.customer(&server, &code).await),
            Effect::Unlock(id, pin) => Event::Unlocked(device.unlock(&id, &pin).await),
            Effect::Remove(id) => Event::Removed(device.remove(&id).await),
            // The first code of a screen comes at once from the clock offset of the last visit,
            // when there is one, and the server's time confirms it right after (issue 7: a
            // phone's round trip to the server can take a second).
            Effect::Compute { id, quick } => {
                if quick && let Ok(Some(code)) = device.quick_code(&id).await {
                    self.dispatch(Event::Code {
                        id: id.clone(),
                        code,
                        confirmed: false,
                    });
                }
                match device.code_and_clock(&id, None).await {
                    Ok((code, true)) => Event::Code {
                        id,
                        code,
                        confirmed: true,
                    },
                    Ok((code, false)) => Event::Offline { id, code },
                    Err(e) => Event::CodeFailed(e),
                }
            }
            Effect::Recheck { id, code, counter } => {
                let result = device.current_code(&id).await;
                Event::Rechecked {
                    id,
                    code,
                    counter,
                    result,
                }
            }
            Effect::Verify { id, code } => match &session {
                Some(session) => Event::Verified(device.verify(&id, session, &code).await),
                None => return,
            },
            Effect::Copy(code) => Event::Copied(copy(&code).await),
            _ => return,
        };
        self.dispatch(event);
    }

    /// Tells the host page an outcome: `cloud-otp-pass` with the pass, or `cloud-otp-error`
    /// with the stable code, an event that bubbles out of the widget, through a shadow root too
    /// (composed).
    // Out of line: inlined into `run` it costs the module 50 bytes more (gzip -9).
    #[inline(never)]
    fn emit(&self, outcome: &Outcome) {
        let detail = Object::new();
        let name = match outcome {
            Outcome::Pass(pass) => {
                js::set(&detail, "pass", pass.pass.as_str());
                js::set(&detail, "expiresAt", pass.expires_at.as_str());
                "cloud-otp-pass"
            }
            Outcome::Error(code) => {
                js::set(&detail, "code", code.as_str());
                let state = self.state.borrow();
                // The note of a wrong code is the one just told: any other outcome replaces it.
                if let Note::WrongCode(left) = state.note {
                    js::set(&detail, "attemptsLeft", left);
                }
                // The device the screen names, unless it is this browser (`key_missing`).
                if let View::Register {
                    device: Some(d), ..
                } = &state.view
                    && !d.this_browser
                {
                    let device = Object::new();
                    js::set(&device, "label", d.label.as_str());
                    js::set(&device, "registeredAt", d.registered_at.as_str());
                    js::set(&detail, "device", device);
                }
                "cloud-otp-error"
            }
        };
        let init = CustomEventInit::new();
        init.set_bubbles(true);
        init.set_composed(true);
        init.set_detail(&detail);
        if let Ok(event) = CustomEvent::new_with_event_init_dict(name, &init) {
            let _ = self.host.dispatch_event(&event);
        }
    }

    /// The widget's only listeners, on its frame, for every screen: button clicks (each button
    /// names its action in `value`), the code field and the form's field, the account
    /// switcher, and keys typed and text pasted anywhere in the widget, which go to the keypad
    /// whichever button has focus.
    fn listen_to_frame(&self) {
        let tag = |event: &DomEvent| {
            event
                .target()
                .map(|t| prop(&t, "tagName"))
                .unwrap_or_default()
        };
        let mut listeners = Vec::with_capacity(5);
        let me = self.me.clone();
        listeners.extend(on(&self.frame, "click", move |event| {
            let (Some(app), Some(target)) = (me.upgrade(), event.target()) else {
                return;
            };
            if prop(&target, "tagName") != "BUTTON" {
                return;
            }
            let value = prop(&target, "value");
            if let Some(key) = Key::parse(&value) {
                app.dispatch(Event::Key(key));
            } else if let Some(action) = Action::parse(&value) {
                app.dispatch(Event::Act(action));
            }
        }));
        let me = self.me.clone();
        listeners.extend(on(&self.frame, "input", move |event| {
            // The switcher's select fires `input` too.
            let (Some(app), Some(input)) = (me.upgrade(), event.target()) else {
                return;
            };
            if prop(&input, "tagName") != "INPUT" {
                return;
            }
            let value = prop(&input, "value");
            match prop(&input, "className").as_str() {
                "entry" => app.dispatch(Event::Typed(value)),
                "field" => app.dispatch(Event::Field(value)),
                _ => {}
            }
        }));
        let me = self.me.clone();
        listeners.extend(on(&self.frame, "change", move |event| {
            if let (Some(app), Some(select)) = (me.upgrade(), event.target()) {
                app.dispatch(Event::Switch(prop(&select, "value")));
            }
        }));
        let me = self.me.clone();
        listeners.extend(on(&self.frame, "keydown", move |event| {
            let modified = ["ctrlKey", "metaKey", "altKey"]
                .iter()
                .any(|m| js::bool_field(&event, m) == Some(true));
            let Some(app) = me.upgrade() else { return };
            let key = prop(&event, "key");
            let field = event
                .target()
                .is_some_and(|t| prop(&t, "className") == "field");
            let pressed = match (tag(&event).as_str(), key.as_bytes()) {
                (_, _) if modified => return,
                // Enter in the activation form goes to the next step.
                ("INPUT", b"Enter") if field => {
                    event.prevent_default();
                    return app.dispatch(Event::Act(Action::Next));
                }
                ("INPUT", b"Enter") => Key::Confirm,
                ("INPUT" | "SELECT", _) => return,
                (_, [d @ b'0'..=b'9']) => Key::Digit(d - b'0'),
                (_, b"Backspace") => Key::Delete,
                _ => return,
            };
            if app.state.borrow().has_pad() {
                event.prevent_default();
                app.dispatch(Event::Key(pressed));
            }
        }));
        let me = self.me.clone();
        listeners.extend(on(&self.frame, "paste", move |event| {
            let Some(app) = me.upgrade() else { return };
            if tag(&event) == "INPUT" {
                return;
            }
            let pasted = js::field(&event, "clipboardData")
                .and_then(|data| super::dom::call(&data, "getData", &JsValue::from_str("text")))
                .and_then(|text| text.as_string())
                .unwrap_or_default();
            event.prevent_default();
            app.dispatch(Event::Paste(pasted));
        }));
        *self.listeners.borrow_mut() = listeners;
    }
}

/// Copies `code` (docs/product.md rule 11); whether the clipboard took it.
async fn copy(code: &str) -> bool {
    match js::global("navigator")
        .and_then(|n| js::field(&n, "clipboard"))
        .and_then(|c| super::dom::call(&c, "writeText", &JsValue::from_str(code)))
    {
        Some(promise) => wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&promise))
            .await
            .is_ok(),
        None => false,
    }
}
