//! The widget's state and flows: which screen fits an OTP session or the accounts of this
//! browser, and what every button does. A screen is rebuilt from [`View`] whenever it changes
//! (and on a language switch); only the code view's clock updates the DOM in place.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Object;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;
use web_sys::{CustomEvent, CustomEventInit, Element, Event, HtmlElement};

use super::code::{CodeView, seconds_left};
use super::dom::{Listener, Timer, action_button, attr, el, on, prop, set_prop, text};
use super::i18n::{Lang, T};
use super::keypad::{Key, Keypad, digits_only};
use super::screens::{self, Action, Icon, Message};
use crate::accounts::Account;
use crate::api::{Authorization, Pass, UserStatus};
use crate::pin::Pin;
use crate::text::{concat, decimal};
use crate::{CurrentCode, Device, Error, RegisteredDevice, Registration, js, keystore};

mod activate;

use activate::{Ask, Form};

/// The steps of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// What registering does, and the button.
    Offer,
    /// "Register this browser as ...?"
    Confirm,
    /// Waiting for the server.
    Busy,
}

/// What the widget shows.
#[derive(Debug, Clone)]
enum View {
    Loading,
    /// The step-by-step activation form (no session): customer code, login ID, activation
    /// code (docs/product.md rule 9).
    Activate(Ask),
    /// Choose the PIN of a registration, when the institution's policy asks for one; `first`
    /// holds the first entry while it is typed again.
    ChoosePin {
        registration: Registration,
        digits: u8,
        first: Option<Pin>,
    },
    /// "Remove this ID from this browser?"
    Remove(Account),
    /// The PIN of a PIN account, asked before its code is shown.
    EnterPin {
        account: Account,
        choices: Vec<Account>,
    },
    /// Register this browser; with `device`, the user's registered device is another one
    /// (docs/product.md rule 5) and registering replaces it.
    Register {
        device: Option<RegisteredDevice>,
        step: Step,
    },
    /// The code of `account`, with the keypad when there is a session; `choices` are the
    /// accounts to switch between (code-check mode).
    Code {
        account: Account,
        choices: Vec<Account>,
    },
    Done,
    Suspended,
    NoStorage,
    Network,
    Expired,
    Failed(String),
}

/// The code screen's live parts.
struct Live {
    account: String,
    /// The code shown and its counter.
    code: Option<(String, u64)>,
    /// Whether the code shown was computed on a clock offset measured in this visit, rather
    /// than on the last visit's ([`Device::quick_code`]).
    confirmed: bool,
    /// Device time (ms) when the shown code gives way to the next.
    deadline: f64,
    /// The counter whose expiry was announced.
    announced: u64,
    hint: bool,
    view: CodeView,
}

/// One mounted widget.
pub(crate) struct App {
    me: Weak<App>,
    host: Element,
    frame: HtmlElement,
    server: String,
    session: Option<String>,
    touch: bool,
    gone: Cell<bool>,
    lang: Cell<Lang>,
    device: RefCell<Option<Rc<Device>>>,
    view: RefCell<View>,
    user: RefCell<String>,
    institution: RefCell<String>,
    label: RefCell<String>,
    /// The institution's PIN policy for the session's user (0: none).
    pin_digits: Cell<u8>,
    /// What the activation form holds across its steps.
    form: RefCell<Form>,
    /// The activation form's field on screen.
    field: RefCell<Option<HtmlElement>>,
    /// The keypad on screen (code or PIN), and what is typed on it.
    pad: RefCell<Option<Keypad>>,
    typed: RefCell<String>,
    checking: Cell<bool>,
    /// A typed code waits for this visit's clock to confirm the code shown (see `submit`).
    held: Cell<bool>,
    focus_next: Cell<bool>,
    switch: RefCell<Option<HtmlElement>>,
    listeners: RefCell<Vec<Listener>>,
    live: RefCell<Option<Live>>,
    timer: RefCell<Option<Timer>>,
}

impl App {
    /// Mounts a widget into `host` (its children are replaced) and starts it.
    pub(crate) fn mount(
        host: &Element,
        server: String,
        session: Option<String>,
        lang: Lang,
        touch: bool,
    ) -> Rc<App> {
        host.replace_children_with_node_0();
        let frame = el(host, "div", "cotp");
        let app = Rc::new_cyclic(|me| App {
            me: me.clone(),
            host: host.clone(),
            frame,
            server,
            session,
            touch,
            gone: Cell::new(false),
            lang: Cell::new(lang),
            device: RefCell::new(None),
            view: RefCell::new(View::Loading),
            user: RefCell::default(),
            institution: RefCell::default(),
            label: RefCell::default(),
            pin_digits: Cell::new(0),
            form: RefCell::default(),
            field: RefCell::new(None),
            pad: RefCell::new(None),
            typed: RefCell::default(),
            checking: Cell::new(false),
            held: Cell::new(false),
            focus_next: Cell::new(false),
            switch: RefCell::new(None),
            listeners: RefCell::default(),
            live: RefCell::new(None),
            timer: RefCell::new(None),
        });
        app.listen_to_frame();
        app.render();
        spawn_local(app.clone().start());
        app
    }

    /// Stops every timer and listener and empties the host.
    pub(crate) fn unmount(&self) {
        self.gone.set(true);
        *self.timer.borrow_mut() = None;
        self.listeners.borrow_mut().clear();
        *self.live.borrow_mut() = None;
        self.host.replace_children_with_node_0();
    }

    /// The element the widget is mounted in.
    pub(crate) fn host(&self) -> &Element {
        &self.host
    }

    /// Switches the language, keeping everything typed and shown.
    pub(crate) fn set_lang(&self, lang: Lang) {
        self.lang.set(lang);
        self.keep_field();
        self.render();
    }

    fn rc(&self) -> Option<Rc<App>> {
        self.me.upgrade()
    }

    fn device(&self) -> Option<Rc<Device>> {
        self.device.borrow().clone()
    }

    /// Finds out what to show: the session's user and this browser's account for it, or, without
    /// a session, the accounts this browser holds (code-check mode).
    async fn start(self: Rc<Self>) {
        let device = match self.device() {
            Some(device) => device,
            None => match Device::open(keystore::DEFAULT_DATABASE).await {
                Ok(device) => {
                    let device = Rc::new(device);
                    *self.device.borrow_mut() = Some(device.clone());
                    device
                }
                Err(e) => return self.fail(&e),
            },
        };
        let Some(session) = self.session.clone() else {
            return match device.accounts().await {
                Ok(accounts) => match accounts.first().cloned() {
                    Some(account) => self.show_code(account, accounts),
                    None => self.activate(false),
                },
                Err(e) => self.fail(&e),
            };
        };
        match device.session(&self.server, &session).await {
            Ok((status, account)) => {
                *self.user.borrow_mut() = status.user_id;
                *self.institution.borrow_mut() = status.institution;
                self.pin_digits.set(status.pin_digits);
                match (status.user_status, account) {
                    (UserStatus::Locked, _) => self.show(View::Suspended),
                    // Another browser or app registered since this one did: say so now, not
                    // after a typed code is refused.
                    (UserStatus::Active, Some(account))
                        if status
                            .device
                            .as_ref()
                            .is_some_and(|d| taken_over(&account, &d.registered_at)) =>
                    {
                        self.show(View::Register {
                            device: status.device,
                            step: Step::Offer,
                        })
                    }
                    (UserStatus::Active, Some(account)) => self.show_code(account, Vec::new()),
                    (UserStatus::Active, None) => self.show(View::Register {
                        device: status.device,
                        step: Step::Offer,
                    }),
                    (UserStatus::Unregistered, _) => self.show(View::Register {
                        device: None,
                        step: Step::Offer,
                    }),
                }
            }
            Err(e) => self.fail(&e),
        }
    }

    fn show(&self, view: View) {
        *self.view.borrow_mut() = view;
        self.render();
    }

    /// The code of `account`, or first its PIN when it has one and none was given in this
    /// visit.
    fn show_code(&self, account: Account, choices: Vec<Account>) {
        *self.user.borrow_mut() = account.user_id.clone();
        let locked = account.pin_digits > 0
            && self
                .device()
                .is_some_and(|device| !device.is_unlocked(&account.id));
        self.typed.borrow_mut().clear();
        if locked {
            self.show(View::EnterPin { account, choices });
        } else {
            self.show(View::Code { account, choices });
        }
    }

    /// The screen for a failure. None of them loses the registration (docs/product.md rule 12).
    fn fail(&self, error: &Error) {
        let view = match error {
            Error::IndexedDbUnavailable | Error::KeyNotStorable | Error::QuotaExceeded => {
                View::NoStorage
            }
            Error::Network => View::Network,
            Error::InvalidSession => View::Expired,
            Error::ServiceClosed => View::Failed(error.code().to_owned()),
            Error::Locked => View::Suspended,
            Error::UnapprovedDevice(device) | Error::DeviceExists(device) => View::Register {
                device: Some(device.clone()),
                step: Step::Offer,
            },
            // The account's key is gone (site data cleared elsewhere): the session's status
            // then leads to registering again.
            Error::KeyMissing if self.session.is_some() => {
                if let Some(app) = self.rc() {
                    spawn_local(app.start());
                }
                return;
            }
            other => View::Failed(other.code().to_owned()),
        };
        self.show(view);
    }

    /// A button of a message screen.
    fn act(&self, action: Action) {
        let Some(app) = self.rc() else { return };
        self.focus_next.set(true);
        match action {
            Action::Register => spawn_local(async move {
                let Some(device) = app.device() else { return };
                match device.fingerprint().await {
                    Ok(fingerprint) => {
                        *app.label.borrow_mut() = fingerprint.label;
                        app.set_step(Step::Confirm);
                    }
                    Err(e) => app.fail(&e),
                }
            }),
            Action::Confirm => spawn_local(app.register()),
            Action::Cancel => self.set_step(Step::Offer),
            Action::Reload => {
                self.show(View::Loading);
                spawn_local(app.start());
            }
            Action::Language => {
                self.focus_next.set(false);
                self.set_lang(self.lang.get().other());
                if let Some(switch) = &*self.switch.borrow() {
                    let _ = switch.focus();
                }
            }
            Action::Copy => {
                self.focus_next.set(false);
                self.copy();
            }
            Action::Next => spawn_local(app.next()),
            Action::Back => self.back(),
            Action::AddId => self.activate(true),
            Action::Close => {
                self.show(View::Loading);
                spawn_local(app.start());
            }
            Action::Remove => {
                let shown = match &*self.view.borrow() {
                    View::Code { account, .. } => Some(account.clone()),
                    _ => None,
                };
                if let Some(account) = shown {
                    self.show(View::Remove(account));
                }
            }
            Action::RemoveConfirmed => spawn_local(app.remove()),
        }
    }

    fn set_step(&self, to: Step) {
        let view = match &*self.view.borrow() {
            View::Register { device, .. } => View::Register {
                device: device.clone(),
                step: to,
            },
            _ => return,
        };
        self.show(view);
    }

    /// Registers this browser for the session's user, replacing the registered device when the
    /// screen said so.
    async fn register(self: Rc<Self>) {
        let (Some(device), Some(session)) = (self.device(), self.session.clone()) else {
            return;
        };
        let replace = matches!(
            &*self.view.borrow(),
            View::Register {
                device: Some(_),
                ..
            }
        );
        let user = self.user.borrow().clone();
        let registration = Registration {
            server: self.server.clone(),
            authorization: Authorization::Session(session),
            user_id: Some(user).filter(|u| !u.is_empty()),
            replace,
            pin: None,
        };
        let digits = self.pin_digits.get();
        self.enroll(&device, registration, digits, || self.set_step(Step::Busy))
            .await;
    }

    /// Registers, or first lets the trainee choose a PIN when the institution's policy asks for
    /// `digits` of them (the PIN screen registers once it is typed twice); `busy` marks the
    /// screen busy while the server is asked.
    async fn enroll(
        &self,
        device: &Device,
        registration: Registration,
        digits: u8,
        busy: impl FnOnce(),
    ) {
        if digits > 0 {
            self.typed.borrow_mut().clear();
            self.focus_next.set(true);
            return self.show(View::ChoosePin {
                registration,
                digits,
                first: None,
            });
        }
        busy();
        let result = device.register(&registration).await;
        self.registered(result);
    }

    /// After a registration: the new account's code, or what went wrong. The activation form
    /// shows its failures on the step they concern.
    fn registered(&self, result: Result<Account, Error>) {
        self.focus_next.set(true);
        if self.session.is_none() {
            return self.activated(result);
        }
        match result {
            Ok(account) => self.show_code(account, Vec::new()),
            Err(e) => self.fail(&e),
        }
    }

    /// Rebuilds the widget's DOM from the view.
    fn render(&self) {
        if self.gone.get() {
            return;
        }
        *self.timer.borrow_mut() = None;
        *self.pad.borrow_mut() = None;
        *self.field.borrow_mut() = None;
        let lang = self.lang.get();
        let frame = &self.frame;
        frame.replace_children_with_node_0();
        attr(frame, "lang", lang.tag());
        let bar = el(frame, "div", "bar");
        text(&bar, "span", "brand", lang.t(T::Brand));
        {
            let user = self.user.borrow();
            if !user.is_empty() {
                text(&bar, "span", "who", &lang.fill(T::Id, &[&user]));
            }
        }
        let other = lang.other();
        let switch = action_button(&bar, "lang", other.t(T::LangName), Action::Language.code());
        attr(&switch, "lang", other.tag());
        *self.switch.borrow_mut() = Some(switch);
        let body = el(frame, "div", "screen");
        let view = self.view.borrow().clone();
        if !matches!(view, View::Code { .. }) {
            *self.live.borrow_mut() = None;
        }
        let heading = match view {
            View::Code { account, choices } => self.render_code(&body, account, &choices),
            View::Activate(ask) => self.render_activate(&body, ask),
            View::ChoosePin { .. } | View::EnterPin { .. } => self.render_pin(&body, &view),
            other => {
                *self.live.borrow_mut() = None;
                screens::build(&body, &self.message(&other))
            }
        };
        if self.focus_next.replace(false) {
            let _ = heading.focus();
        }
    }

    /// The content of every screen but the code screen.
    fn message(&self, view: &View) -> Message<'static> {
        let lang = self.lang.get();
        let user = self.user.borrow().clone();
        let mut m = Message {
            icon: Icon::Warn,
            title: "",
            lines: Vec::new(),
            warning: None,
            buttons: Vec::new(),
            busy: false,
        };
        let t = |key| lang.t(key);
        match view {
            View::Loading
            | View::Code { .. }
            | View::Activate(_)
            | View::ChoosePin { .. }
            | View::EnterPin { .. } => {
                m.icon = Icon::None;
                m.title = t(T::Loading);
            }
            View::Register {
                device: None,
                step: Step::Offer,
            } => {
                m.icon = Icon::None;
                m.title = t(T::RegisterTitle);
                m.lines.push(lang.fill(T::RegisterWhat, &[&user]));
                m.buttons.push((t(T::RegisterButton), Action::Register));
            }
            // This browser registered and lost its key: one step registers it again.
            View::Register {
                device: Some(device),
                step,
            } if device.this_browser && *step != Step::Confirm => {
                m.title = t(T::ErasedTitle);
                let date = local_date(lang, &device.registered_at);
                m.lines
                    .push(lang.fill(T::ErasedText, &[&user, &lang.label(&device.label), &date]));
                m.busy = *step == Step::Busy;
                let button = if m.busy {
                    T::Registering
                } else {
                    T::RegisterAgain
                };
                m.buttons.push((t(button), Action::Confirm));
            }
            View::Register {
                device: Some(device),
                step: Step::Offer,
            } => {
                m.title = t(T::UnapprovedTitle);
                let date = local_date(lang, &device.registered_at);
                let registered = lang.label(&device.label);
                m.lines
                    .push(lang.fill(T::UnapprovedText, &[&user, &registered, &date]));
                m.warning = Some(lang.fill(T::ReplaceWarning, &[&registered]));
                m.buttons.push((t(T::ReplaceButton), Action::Register));
            }
            View::Register { device, step } => {
                m.icon = Icon::None;
                m.title = t(T::ConfirmTitle);
                let label = self.label.borrow();
                m.lines
                    .push(lang.fill(T::ConfirmText, &[&lang.label(&label), &user]));
                m.warning = device
                    .as_ref()
                    .map(|d| lang.fill(T::ReplaceWarning, &[&lang.label(&d.label)]));
                m.busy = *step == Step::Busy;
                let confirm = if m.busy { T::Registering } else { T::Confirm };
                m.buttons.push((t(confirm), Action::Confirm));
                m.buttons.push((t(T::Cancel), Action::Cancel));
            }
            View::Done => {
                m.icon = Icon::Ok;
                m.title = t(T::SuccessTitle);
                m.lines.push(t(T::SuccessText).into());
            }
            View::Suspended => {
                m.icon = Icon::Stop;
                m.title = t(T::SuspendedTitle);
                m.lines.push(lang.fill(T::SuspendedText, &[&user]));
                let institution = self.institution.borrow();
                let who = if institution.is_empty() {
                    t(T::Institution)
                } else {
                    institution.as_str()
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
        }
        m
    }

    /// The code screen: the account switcher (several IDs, no session), the code view, and the
    /// keypad when there is a session to verify against.
    fn render_code(&self, body: &Element, account: Account, choices: &[Account]) -> HtmlElement {
        let lang = self.lang.get();
        if self.session.is_none() {
            text(body, "p", "intro", lang.t(T::CheckModeText));
        }
        self.switcher(body, &account, choices);
        let columns = el(
            body,
            "div",
            if self.session.is_some() {
                "cols two"
            } else {
                "cols"
            },
        );
        let view = CodeView::build(&columns, lang);
        if self.session.is_some() {
            let pad = Keypad::build(&columns, lang, self.touch, lang.t(T::TypeLabel), false);
            set_prop(&pad.input, "value", &self.typed.borrow());
            *self.pad.borrow_mut() = Some(pad);
        }
        let heading = view.heading.clone();
        // The same account keeps its code and clock across a re-render (a language switch).
        let kept = self
            .live
            .borrow_mut()
            .take()
            .filter(|l| l.account == account.id);
        let live = Live {
            account: account.id,
            code: kept.as_ref().and_then(|l| l.code.clone()),
            confirmed: kept.as_ref().is_some_and(|l| l.confirmed),
            deadline: kept.as_ref().map_or(0.0, |l| l.deadline),
            announced: kept.as_ref().map_or(u64::MAX, |l| l.announced),
            hint: kept.as_ref().is_some_and(|l| l.hint),
            view,
        };
        let known = live.code.is_some();
        if let Some((code, _)) = &live.code {
            live.view.show_code(lang, code);
            live.view.hint(live.hint);
        }
        *self.live.borrow_mut() = Some(live);
        if known {
            self.tick();
        } else if let Some(app) = self.rc() {
            spawn_local(app.refresh());
        }
        if self.session.is_none() {
            // Rule 10: more IDs, from this or other institutions, come through activation.
            let row = el(body, "div", "actions");
            action_button(&row, "ghost", lang.t(T::AddId), Action::AddId.code());
            action_button(&row, "ghost", lang.t(T::RemoveId), Action::Remove.code());
        }
        heading
    }

    /// The switcher between this browser's IDs (code-check mode), when it holds several.
    fn switcher(&self, body: &Element, account: &Account, choices: &[Account]) {
        if choices.len() < 2 {
            return;
        }
        let lang = self.lang.get();
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

    /// The PIN screens: choosing a PIN at registration (typed twice), or the PIN of an account
    /// before its code; both on the keypad, the digits hidden.
    fn render_pin(&self, body: &Element, view: &View) -> HtmlElement {
        let lang = self.lang.get();
        let card = el(body, "section", "card msg");
        let head = el(&card, "div", "head");
        let heading = match view {
            View::ChoosePin { digits, first, .. } => {
                let title = if first.is_some() {
                    T::PinAgainTitle
                } else {
                    T::PinChooseTitle
                };
                let heading = screens::heading(&head, lang.t(title));
                let institution = self.institution.borrow();
                let n = decimal(u64::from(*digits));
                text(
                    &card,
                    "p",
                    "",
                    &lang.fill(T::PinChooseText, &[&institution, &n]),
                );
                heading
            }
            View::EnterPin { account, choices } => {
                let heading = screens::heading(&head, lang.t(T::PinEnterTitle));
                self.switcher(&card, account, choices);
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
        let pad = Keypad::build(body, lang, self.touch, lang.t(T::PinLabel), true);
        set_prop(&pad.input, "value", &self.typed.borrow());
        *self.pad.borrow_mut() = Some(pad);
        heading
    }

    /// Removes the ID on the question screen from this browser (rule 10: room for another),
    /// then shows the others, or the activation form when none is left.
    async fn remove(self: Rc<Self>) {
        let (Some(device), View::Remove(account)) = (self.device(), self.view.borrow().clone())
        else {
            return;
        };
        self.show(View::Loading);
        match device.remove(&account.id).await {
            Ok(()) => self.start().await,
            Err(e) => self.fail(&e),
        }
    }

    /// The most digits the keypad on screen takes: 6 for a code, the PIN's length for a PIN.
    fn max_typed(&self) -> usize {
        match &*self.view.borrow() {
            View::ChoosePin { digits, .. } => usize::from(*digits),
            View::EnterPin { account, .. } => usize::from(account.pin_digits),
            _ => 6,
        }
    }

    /// The keypad's Confirm on a PIN screen.
    async fn confirm_pin(self: Rc<Self>) {
        let lang = self.lang.get();
        let typed = self.typed.borrow().clone();
        let view = self.view.borrow().clone();
        let digits = self.max_typed();
        if typed.len() != digits {
            let n = decimal(digits as u64);
            return self.pad_say(&lang.fill(T::PinIncomplete, &[&n]), false);
        }
        let Some(device) = self.device() else { return };
        self.typed.borrow_mut().clear();
        match view {
            View::ChoosePin {
                mut registration,
                digits,
                first,
            } => {
                let Ok(pin) = Pin::new(&typed, digits) else {
                    return;
                };
                match first {
                    None => self.show(View::ChoosePin {
                        registration,
                        digits,
                        first: Some(pin),
                    }),
                    Some(first) if first == pin => {
                        registration.pin = Some(pin);
                        self.edit(String::clear);
                        if let Some(pad) = &*self.pad.borrow() {
                            pad.busy(true);
                            pad.say(lang.t(T::Registering), false, false);
                        }
                        let result = device.register(&registration).await;
                        self.registered(result);
                    }
                    Some(_) => {
                        self.show(View::ChoosePin {
                            registration,
                            digits,
                            first: None,
                        });
                        self.pad_say(lang.t(T::PinMismatch), false);
                    }
                }
            }
            View::EnterPin { account, choices } => {
                let unlocked = match Pin::new(&typed, account.pin_digits) {
                    Ok(pin) => device.unlock(&account.id, &pin).await,
                    Err(e) => Err(e),
                };
                match unlocked {
                    Ok(()) => self.show_code(account, choices),
                    Err(e) => self.fail(&e),
                }
            }
            _ => {}
        }
    }

    /// Computes the code on server time and shows it. The first code of a screen comes at once
    /// from the clock offset of the last visit, when there is one, and the server's time
    /// confirms it right after (issue 7: a phone's round trip to the server can take a second).
    async fn refresh(self: Rc<Self>) {
        let Some(device) = self.device() else { return };
        let Some((id, shown)) = self
            .live
            .borrow()
            .as_ref()
            .map(|l| (l.account.clone(), l.code.is_some()))
        else {
            return;
        };
        if !shown && let Ok(Some(quick)) = device.quick_code(&id).await {
            self.show_now(&id, quick, false);
        }
        let now = match device.current_code(&id).await {
            Ok(now) => now,
            Err(Error::PinRequired) => {
                let view = self.view.borrow().clone();
                if let View::Code { account, choices } = view {
                    self.show(View::EnterPin { account, choices });
                }
                return;
            }
            Err(e) => return self.fail(&e),
        };
        self.show_now(&id, now, true);
    }

    /// Shows `now` as the code of account `id`, unless the screen changed while it was
    /// computed, and restarts the clock.
    fn show_now(&self, id: &str, now: CurrentCode, confirmed: bool) {
        let lang = self.lang.get();
        let moved;
        {
            let mut live = self.live.borrow_mut();
            let Some(live) = live.as_mut().filter(|l| l.account == id) else {
                return;
            };
            // Entry: the first code on the screen, or the first on this visit's clock.
            let entry = live.code.is_none() || !live.confirmed;
            let changed = live.code.as_ref().map(|c| c.1) != Some(now.counter);
            // The server takes the current step and the one before (rule 2): a quick code of
            // another step means the device clock moved since the last visit.
            moved = !live.confirmed
                && live
                    .code
                    .as_ref()
                    .is_some_and(|c| c.1 != now.counter && c.1 + 1 != now.counter);
            live.deadline = js_sys::Date::now() + now.remaining_ms as f64;
            if entry {
                // docs/product.md rule 6: little time left on entry, so say the next code is near.
                live.hint = now.remaining_secs < 10;
            } else if changed {
                live.hint = false;
            }
            live.view.show_code(lang, &now.code);
            live.view.hint(live.hint);
            live.code = Some((now.code, now.counter));
            live.confirmed = confirmed;
        }
        self.tick();
        // A code held by `submit` until this visit's clock confirmed it.
        if confirmed && self.held.replace(false) {
            if moved {
                if let Some(pad) = &*self.pad.borrow() {
                    pad.busy(false);
                }
                self.edit(String::clear);
                self.pad_say(lang.t(T::ClockMoved), false);
            } else if let Some(app) = self.rc() {
                spawn_local(app.submit());
            }
        }
    }

    /// Updates the clock once a second, on the second, and fetches the next code when the step
    /// ends; the old code stays on screen until the new one replaces it.
    fn tick(&self) {
        let lang = self.lang.get();
        let wait = {
            let mut live = self.live.borrow_mut();
            let Some(live) = live.as_mut() else { return };
            let left = live.deadline - js_sys::Date::now();
            if left > 0.0 {
                live.view.show_time(lang, left);
                let counter = live.code.as_ref().map_or(0, |c| c.1);
                if left <= 10_000.0 && live.announced != counter {
                    live.announced = counter;
                    live.view.say(lang.t(T::NearExpiry));
                }
                Some(left - f64::from(seconds_left(left) - 1) * 1000.0)
            } else {
                None
            }
        };
        let me = self.me.clone();
        *self.timer.borrow_mut() = match wait {
            Some(ms) => Some(Timer::after(ms + 5.0, move || {
                if let Some(app) = me.upgrade() {
                    app.tick();
                }
            })),
            None => {
                if let Some(app) = self.rc() {
                    spawn_local(app.refresh());
                }
                None
            }
        };
    }

    /// Copies the shown code (docs/product.md rule 11).
    fn copy(&self) {
        let Some(code) = self
            .live
            .borrow()
            .as_ref()
            .and_then(|l| l.code.as_ref().map(|c| c.0.clone()))
        else {
            return;
        };
        let me = self.me.clone();
        spawn_local(async move {
            let copied = match js::global("navigator")
                .and_then(|n| js::field(&n, "clipboard"))
                .and_then(|c| super::dom::call(&c, "writeText", &JsValue::from_str(&code)))
            {
                Some(promise) => {
                    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&promise))
                        .await
                        .is_ok()
                }
                None => false,
            };
            if let Some(app) = me.upgrade() {
                let lang = app.lang.get();
                if let Some(live) = &*app.live.borrow() {
                    live.view
                        .say(lang.t(if copied { T::Copied } else { T::CopyFailed }));
                }
            }
        });
    }

    /// A keypad button, or a key typed anywhere in the widget.
    fn key(&self, key: Key) {
        match key {
            Key::Digit(d) => {
                let max = self.max_typed();
                self.edit(|t| {
                    if t.len() < max {
                        t.push(char::from(b'0' + d));
                    }
                });
            }
            Key::Delete => self.edit(|t| {
                t.pop();
            }),
            Key::Clear => self.edit(String::clear),
            Key::Confirm | Key::Retry => {
                let pin = matches!(
                    &*self.view.borrow(),
                    View::ChoosePin { .. } | View::EnterPin { .. }
                );
                if let Some(app) = self.rc() {
                    if pin {
                        spawn_local(app.confirm_pin());
                    } else {
                        spawn_local(app.submit());
                    }
                }
            }
            Key::NativeKeyboard => {
                if let Some(pad) = &*self.pad.borrow() {
                    attr(&pad.input, "inputmode", "numeric");
                    let _ = pad.input.focus();
                }
            }
        }
    }

    /// Changes what is typed and shows it; a new edit clears the last message.
    fn edit(&self, change: impl FnOnce(&mut String)) {
        let pad = self.pad.borrow();
        let Some(pad) = pad.as_ref() else {
            return;
        };
        let mut typed = self.typed.borrow_mut();
        change(&mut typed);
        set_prop(&pad.input, "value", &typed);
        pad.say("", false, false);
    }

    /// A problem under the keypad; `retry` also offers "Try again".
    fn pad_say(&self, words: &str, retry: bool) {
        if let Some(pad) = &*self.pad.borrow() {
            pad.say(words, true, retry);
        }
    }

    /// Sends the typed code; wrong and replayed codes and network failures are told under the
    /// keypad, and a network failure keeps what was typed for "Try again".
    async fn submit(self: Rc<Self>) {
        let lang = self.lang.get();
        let code = self.typed.borrow().clone();
        let (Some(device), Some(session)) = (self.device(), self.session.clone()) else {
            return;
        };
        let Some(account) = self.live.borrow().as_ref().map(|l| l.account.clone()) else {
            return;
        };
        if code.len() != 6 {
            return self.pad_say(lang.t(T::Incomplete), false);
        }
        // A code shown on the last visit's clock offset ([`Device::quick_code`]) waits for this
        // visit's, which `refresh` is measuring: when the device clock moved in between, the
        // server would refuse it, and a refusal counts toward suspension (docs/product.md rule 4).
        // `show_now` sends it, or says the code changed.
        let quick = self
            .live
            .borrow()
            .as_ref()
            .is_some_and(|l| !l.confirmed && l.code.as_ref().is_some_and(|c| c.0 == code));
        if quick {
            self.held.set(true);
            if let Some(pad) = &*self.pad.borrow() {
                pad.busy(true);
                pad.say(lang.t(T::Checking), false, false);
            }
            return;
        }
        if self.checking.replace(true) {
            return;
        }
        let set_busy = |busy| {
            if let Some(pad) = &*self.pad.borrow() {
                pad.busy(busy);
            }
        };
        set_busy(true);
        if let Some(pad) = &*self.pad.borrow() {
            pad.say(lang.t(T::Checking), false, false);
        }
        let result = device.verify(&account, &session, &code).await;
        self.checking.set(false);
        set_busy(false);
        let lang = self.lang.get();
        match result {
            Ok(pass) => {
                self.typed.borrow_mut().clear();
                self.emit(&pass);
                self.focus_next.set(true);
                self.show(View::Done);
            }
            Err(Error::InvalidCode { attempts_left }) => {
                self.edit(String::clear);
                let left = decimal(u64::from(attempts_left));
                self.pad_say(&lang.fill(T::WrongCode, &[&left]), false);
            }
            Err(Error::Replayed) => {
                self.edit(String::clear);
                self.pad_say(lang.t(T::Replayed), false);
            }
            Err(Error::RateLimited) => self.pad_say(lang.t(T::RateLimited), false),
            Err(e) if e.retryable() => self.pad_say(lang.t(T::NetworkInline), true),
            Err(e) => {
                self.focus_next.set(true);
                self.fail(&e);
            }
        }
    }

    /// Hands the pass to the host page: a `cloud-otp-pass` event that bubbles out of the
    /// widget, through a shadow root too (composed).
    fn emit(&self, pass: &Pass) {
        let detail = Object::new();
        js::set(&detail, "pass", pass.pass.as_str());
        js::set(&detail, "expiresAt", pass.expires_at.as_str());
        let init = CustomEventInit::new();
        init.set_bubbles(true);
        init.set_composed(true);
        init.set_detail(&detail);
        if let Ok(event) = CustomEvent::new_with_event_init_dict("cloud-otp-pass", &init) {
            let _ = self.host.dispatch_event(&event);
        }
    }

    /// The widget's only listeners, on its frame, for every screen: button clicks (each button
    /// names its action in `value`), the code field, the account switcher, and keys typed and
    /// text pasted anywhere in the widget, which go to the keypad whichever button has focus.
    fn listen_to_frame(&self) {
        let tag = |event: &Event| {
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
                app.key(key);
            } else if let Some(action) = Action::parse(&value) {
                app.act(action);
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
            if prop(&input, "className") == "entry" {
                let typed = digits_only(&value, app.max_typed());
                if value != typed {
                    set_prop(&input, "value", &typed);
                }
                *app.typed.borrow_mut() = typed;
            } else if prop(&input, "inputMode") == "numeric" {
                // The activation form's number fields keep digits only, as many as they take.
                let max = js::number_field(&input, "maxLength").map_or(6, |n| n as usize);
                let digits = digits_only(&value, max);
                if value != digits {
                    set_prop(&input, "value", &digits);
                }
            }
        }));
        let me = self.me.clone();
        listeners.extend(on(&self.frame, "change", move |event| {
            let (Some(app), Some(select)) = (me.upgrade(), event.target()) else {
                return;
            };
            let id = prop(&select, "value");
            let choices = match &*app.view.borrow() {
                View::Code { choices, .. } | View::EnterPin { choices, .. } => choices.clone(),
                _ => return,
            };
            if let Some(account) = choices.iter().find(|a| a.id == id) {
                app.show_code(account.clone(), choices.clone());
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
                    return app.act(Action::Next);
                }
                ("INPUT", b"Enter") => Key::Confirm,
                ("INPUT" | "SELECT", _) => return,
                (_, [d @ b'0'..=b'9']) => Key::Digit(d - b'0'),
                (_, b"Backspace") => Key::Delete,
                _ => return,
            };
            if app.pad.borrow().is_some() {
                event.prevent_default();
                app.key(pressed);
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
            let max = app.max_typed();
            app.edit(|t| *t = digits_only(&pasted, max));
        }));
        *self.listeners.borrow_mut() = listeners;
    }
}

/// Whether the user's registered device, registered at `registered_at` (the server's RFC 3339
/// time), is another one than `account`, which the server registered at its
/// `registered_at_ms`: the same registration has the same server time, to the millisecond
/// (two browsers can register less than a second apart).
fn taken_over(account: &Account, registered_at: &str) -> bool {
    let at = js_sys::Date::parse(registered_at);
    at.is_finite() && (at - account.registered_at_ms).abs() >= 1.0
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
