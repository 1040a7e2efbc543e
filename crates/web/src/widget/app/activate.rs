//! The activation form of the standalone page (docs/product.md rule 9, the Any OTP way): customer
//! code, then login ID, then activation code, one step at a time; every failure is told on the
//! step it concerns, in plain words with its stable code, and nothing typed is lost.

use std::rc::Rc;

use web_sys::{Element, HtmlElement};

use super::{App, View};
use crate::accounts::{self, Account};
use crate::api::{Authorization, Customer};
use crate::text::decimal;
use crate::widget::dom::{action_button, attr, el, prop, set_prop, text};
use crate::widget::i18n::T;
use crate::widget::keypad::digits_only;
use crate::widget::screens::{self, Action};
use crate::{Error, RegisteredDevice, Registration};

/// The steps of the activation form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ask {
    /// The institution's 4-digit customer code.
    Customer,
    /// The trainee's login ID.
    Login,
    /// The 6-digit activation code.
    Code,
}

/// What the form holds across its steps.
#[derive(Default)]
pub(super) struct Form {
    customer_code: String,
    /// The institution, once the server named it.
    customer: Option<Customer>,
    user_id: String,
    activation_code: String,
    /// The device the ID already has: activating again replaces it, once the trainee was told.
    replaces: Option<RegisteredDevice>,
    /// The last failure on the current step: the words the trainee reads, and its stable code,
    /// kept out of the words (the alert's `data-code`, for support and the host page's scripts).
    error: Option<(String, String)>,
    busy: bool,
    /// Whether the browser holds IDs already, so the form can be left for their codes.
    can_close: bool,
}

impl App {
    /// Opens the activation form at its first step; `can_close` when this browser holds IDs.
    pub(super) fn activate(&self, can_close: bool) {
        *self.form.borrow_mut() = Form {
            can_close,
            ..Form::default()
        };
        *self.user.borrow_mut() = String::new();
        self.show(View::Activate(Ask::Customer));
    }

    /// Builds the form's current step; returns what gets focus (the field).
    pub(super) fn render_activate(&self, body: &Element, ask: Ask) -> HtmlElement {
        let lang = self.lang.get();
        let t = |key| lang.t(key);
        let form = self.form.borrow();
        let card = el(body, "section", "card msg form");
        let head = el(&card, "div", "head");
        screens::heading(&head, t(T::ActivateTitle));
        let number = match ask {
            Ask::Customer => "1",
            Ask::Login => "2",
            Ask::Code => "3",
        };
        text(&card, "p", "step", &lang.fill(T::StepOf, &[number]));
        if ask == Ask::Customer {
            text(&card, "p", "", t(T::ActivateIntro));
        }
        if let (Some(customer), false) = (&form.customer, ask == Ask::Customer) {
            let line = lang.fill(
                T::InstitutionLine,
                &[&customer.institution, &customer.customer_code],
            );
            text(&card, "p", "", &line);
        }
        if ask == Ask::Code {
            text(&card, "p", "", &lang.fill(T::Id, &[&form.user_id]));
        }
        let (label, value, max, kind) = match ask {
            Ask::Customer => (T::CustomerLabel, &form.customer_code, 4, "off"),
            Ask::Login => (T::LoginLabel, &form.user_id, 128, "username"),
            Ask::Code => (
                T::ActivationLabel,
                &form.activation_code,
                6,
                "one-time-code",
            ),
        };
        let wrap = el(&card, "label", "");
        text(&wrap, "span", "label", t(label));
        let field = el(&wrap, "input", "field");
        let max_text = decimal(max as u64);
        for (name, v) in [
            ("autocomplete", kind),
            ("maxlength", &max_text),
            ("spellcheck", "false"),
            ("autocapitalize", "off"),
            (
                "enterkeyhint",
                if ask == Ask::Code { "done" } else { "next" },
            ),
        ] {
            attr(&field, name, v);
        }
        if ask != Ask::Login {
            attr(&field, "inputmode", "numeric");
        }
        set_prop(&field, "value", value);
        if let Some((words, code)) = &form.error {
            let p = text(&card, "p", "error", words);
            attr(&p, "role", "alert");
            attr(&p, "data-code", code);
            attr(&p, "id", "cotp-error");
            attr(&field, "aria-invalid", "true");
            attr(&field, "aria-describedby", "cotp-error");
        }
        if let (Some(device), Ask::Code) = (&form.replaces, ask) {
            let date = super::local_date(lang, &device.registered_at);
            let warning = lang.fill(T::ActivateReplaces, &[&device.label, &date]);
            text(&card, "p", "warning", &warning);
        }
        if ask == Ask::Customer && !form.can_close {
            text(&card, "p", "note", t(T::EmptyText));
        }
        let row = el(&card, "div", "actions");
        let primary = match (ask, form.busy, form.replaces.is_some()) {
            (_, true, _) => t(T::Checking),
            (Ask::Code, _, true) => t(T::ActivateReplace),
            (Ask::Code, _, false) => t(T::ActivateButton),
            _ => t(T::Next),
        };
        let mut buttons = vec![action_button(&row, "primary", primary, Action::Next.code())];
        if ask != Ask::Customer {
            buttons.push(action_button(
                &row,
                "ghost",
                t(T::Back),
                Action::Back.code(),
            ));
        } else if form.can_close {
            buttons.push(action_button(
                &row,
                "ghost",
                t(T::Cancel),
                Action::Close.code(),
            ));
        }
        if form.busy {
            for b in &buttons {
                attr(b, "disabled", "");
            }
        }
        *self.field.borrow_mut() = Some(field.clone());
        field
    }

    /// Keeps what is typed in the form's field, before the same step is built again (a language
    /// switch).
    pub(super) fn keep_field(&self) {
        let (Some(ask), Some(field)) = (self.asking(), self.field.borrow().clone()) else {
            return;
        };
        let value = prop(&field, "value");
        let mut form = self.form.borrow_mut();
        match ask {
            Ask::Customer => form.customer_code = value,
            Ask::Login => form.user_id = value,
            Ask::Code => form.activation_code = value,
        }
    }

    /// The form's step on screen, if it is.
    fn asking(&self) -> Option<Ask> {
        match &*self.view.borrow() {
            View::Activate(ask) => Some(*ask),
            _ => None,
        }
    }

    /// Shows step `ask` with `error` (none clears the last one).
    fn ask(&self, ask: Ask, error: Option<(String, String)>) {
        {
            let mut form = self.form.borrow_mut();
            form.error = error;
            form.busy = false;
        }
        self.focus_next.set(true);
        self.show(View::Activate(ask));
    }

    /// "Next" (or "Activate" on the last step): checks the step's field, asks the server where
    /// needed, and goes on.
    pub(super) async fn next(self: Rc<Self>) {
        let (Some(ask), Some(device)) = (self.asking(), self.device()) else {
            return;
        };
        if self.form.borrow().busy {
            return;
        }
        let lang = self.lang.get();
        let value = self
            .field
            .borrow()
            .as_ref()
            .map(|f| prop(f, "value"))
            .unwrap_or_default();
        match ask {
            Ask::Customer => {
                let code = digits_only(&value, 4);
                self.form.borrow_mut().customer_code = code.clone();
                if code.len() != 4 {
                    return self.ask(ask, invalid_input(lang.t(T::CustomerFormat)));
                }
                self.busy(ask);
                match device.customer(&self.server, &code).await {
                    Ok(customer) => {
                        *self.institution.borrow_mut() = customer.institution.clone();
                        let mut form = self.form.borrow_mut();
                        if form.customer.as_ref() != Some(&customer) {
                            form.replaces = None;
                        }
                        form.customer = Some(customer);
                        drop(form);
                        self.ask(Ask::Login, None);
                    }
                    Err(e) => self.failed(&e),
                }
            }
            Ask::Login => {
                // ASCII spaces only: Unicode whitespace tables cost the module; the server refuses an ID
                // with another space anyway, and the step says so.
                let user = value.trim_ascii().to_owned();
                let changed = self.form.borrow().user_id != user;
                {
                    let mut form = self.form.borrow_mut();
                    form.user_id = user.clone();
                    if changed {
                        form.replaces = None;
                    }
                }
                if accounts::check_user_id(&user).is_err() {
                    return self.ask(ask, invalid_input(lang.t(T::LoginFormat)));
                }
                self.ask(Ask::Code, None);
            }
            Ask::Code => {
                let code = digits_only(&value, 6);
                self.form.borrow_mut().activation_code = code.clone();
                if code.len() != 6 {
                    return self.ask(ask, invalid_input(lang.t(T::ActivationFormat)));
                }
                let (registration, digits) = {
                    let form = self.form.borrow();
                    let Some(customer) = &form.customer else {
                        drop(form);
                        return self.ask(Ask::Customer, None);
                    };
                    let registration = Registration {
                        server: self.server.clone(),
                        authorization: Authorization::Activation {
                            customer_code: customer.customer_code.clone(),
                            user_id: form.user_id.clone(),
                            activation_code: code,
                        },
                        user_id: Some(form.user_id.clone()),
                        replace: form.replaces.is_some(),
                        pin: None,
                    };
                    (registration, customer.pin_digits)
                };
                self.enroll(&device, registration, digits, || self.busy(ask))
                    .await;
            }
        }
    }

    /// Marks the step busy while the server is asked.
    fn busy(&self, ask: Ask) {
        self.form.borrow_mut().busy = true;
        self.show(View::Activate(ask));
    }

    /// "Back": the previous step, with what was typed there.
    pub(super) fn back(&self) {
        let to = match self.asking() {
            Some(Ask::Code) => Ask::Login,
            Some(Ask::Login) => Ask::Customer,
            _ => return,
        };
        self.ask(to, None);
    }

    /// The end of an activation: the new ID's code beside the others, or the failure on the
    /// step it concerns.
    pub(super) fn activated(&self, result: Result<Account, Error>) {
        match result {
            Ok(account) => {
                *self.form.borrow_mut() = Form::default();
                let Some(app) = self.rc() else { return };
                wasm_bindgen_futures::spawn_local(async move {
                    let Some(device) = app.device() else { return };
                    match device.accounts().await {
                        Ok(all) => app.show_code(account, all),
                        Err(e) => app.fail(&e),
                    }
                });
            }
            Err(e) => self.failed(&e),
        }
    }

    /// Tells a failure of the form on the step it concerns (docs/product.md rule 12); what cannot be
    /// fixed in the form gets its own screen.
    fn failed(&self, error: &Error) {
        let lang = self.lang.get();
        let form = self.form.borrow();
        let customer = form
            .customer
            .as_ref()
            .map_or(form.customer_code.clone(), |c| c.institution.clone());
        let (ask, words) = match error {
            Error::UnknownCustomer => (
                Ask::Customer,
                lang.fill(T::UnknownCustomer, &[&form.customer_code]),
            ),
            Error::ServiceClosed => (
                Ask::Customer,
                lang.fill(T::ServiceClosed, &[&form.customer_code]),
            ),
            Error::NotEnrolled => (
                Ask::Login,
                lang.fill(T::NotEnrolled, &[&form.user_id, &customer]),
            ),
            Error::InvalidActivation { attempts_left: 0 } => {
                (Ask::Code, lang.t(T::ActivationDead).into())
            }
            Error::InvalidActivation { attempts_left } => (
                Ask::Code,
                lang.fill(T::ActivationWrong, &[&decimal(u64::from(*attempts_left))]),
            ),
            Error::ActivationExpired => (Ask::Code, lang.t(T::ActivationExpired).into()),
            Error::ActivationUsed => (Ask::Code, lang.t(T::ActivationUsed).into()),
            Error::DeviceExists(_) | Error::UnapprovedDevice(_) => {
                (Ask::Code, lang.t(T::ActivateExists).into())
            }
            Error::TooManyAccounts => (Ask::Code, lang.t(T::TooManyIds).into()),
            Error::RateLimited => (
                self.asking().unwrap_or(Ask::Code),
                lang.t(T::RateLimited).into(),
            ),
            Error::Network | Error::Server(_) => (
                self.asking().unwrap_or(Ask::Code),
                lang.t(T::NetworkForm).into(),
            ),
            Error::Locked => (Ask::Code, lang.fill(T::SuspendedText, &[&form.user_id])),
            other => {
                drop(form);
                return self.fail(other);
            }
        };
        drop(form);
        if let Error::DeviceExists(device) | Error::UnapprovedDevice(device) = error {
            self.form.borrow_mut().replaces = Some(device.clone());
        }
        self.ask(ask, Some((words, error.code().to_owned())));
    }
}

/// A field's content that the step refuses before anything is sent.
fn invalid_input(words: &str) -> Option<(String, String)> {
    Some((words.to_owned(), "invalid_input".to_owned()))
}
