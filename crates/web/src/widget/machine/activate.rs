//! The activation form's transitions (docs/product.md rule 9, the Any OTP way): customer code,
//! then login ID, then activation code, one step at a time; every failure is told on the step
//! it concerns, and nothing typed is lost.

use super::{Busy, Effect, Run, View, digits_only};
use crate::accounts::{self, Account};
use crate::api::{Authorization, Customer};
use crate::{Error, RegisteredDevice, Registration};

/// The steps of the activation form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// The institution's 4-digit customer code.
    Customer,
    /// The trainee's login ID.
    Login,
    /// The 6-digit activation code.
    Code,
}

/// What the form holds across its steps.
#[derive(Default)]
pub(crate) struct Form {
    pub(crate) customer_code: String,
    /// The institution, once the server named it.
    pub(crate) customer: Option<Customer>,
    pub(crate) user_id: String,
    pub(crate) activation_code: String,
    /// The field's text on the step shown.
    pub(crate) draft: String,
    /// The device the ID already has: activating again replaces it, once the trainee was told.
    pub(crate) replaces: Option<RegisteredDevice>,
    /// The last failure on the current step (`InvalidInput`: the field's format).
    pub(crate) error: Option<Error>,
    pub(crate) busy: bool,
    /// Whether the browser holds IDs already, so the form can be left for their codes.
    pub(crate) can_close: bool,
}

impl Form {
    /// What step `ask` keeps.
    fn slot(&mut self, ask: Ask) -> &mut String {
        match ask {
            Ask::Customer => &mut self.customer_code,
            Ask::Login => &mut self.user_id,
            Ask::Code => &mut self.activation_code,
        }
    }
}

/// A field's content that the step refuses before anything is sent.
fn invalid() -> Option<Error> {
    Some(Error::InvalidInput("format"))
}

impl Run<'_> {
    /// Opens the form at its first step; `can_close` when this browser holds IDs.
    pub(super) fn open_form(&mut self, can_close: bool) {
        self.s.form = Form {
            can_close,
            ..Form::default()
        };
        self.s.user.clear();
        self.show(View::Activate(Ask::Customer));
    }

    /// The form's step on screen, if it is.
    fn asking(&self) -> Option<Ask> {
        match self.s.view {
            View::Activate(ask) => Some(ask),
            _ => None,
        }
    }

    /// The field's text: the number fields keep digits only, as many as they take.
    pub(super) fn field(&mut self, value: String) {
        let Some(ask) = self.asking() else { return };
        let kept = match ask {
            Ask::Customer => digits_only(&value, 4),
            Ask::Login => value.clone(),
            Ask::Code => digits_only(&value, 6),
        };
        if kept != value {
            self.out.push(Effect::Field(kept.clone()));
        }
        self.s.form.draft = kept;
    }

    /// Keeps the field's text on its step, before the step is built again (a language switch).
    pub(super) fn keep_field(&mut self) {
        if let Some(ask) = self.asking() {
            let form = &mut self.s.form;
            *form.slot(ask) = form.draft.clone();
        }
    }

    /// Shows step `ask` with what it keeps.
    fn show_step(&mut self, ask: Ask) {
        let form = &mut self.s.form;
        form.draft = form.slot(ask).clone();
        self.show(View::Activate(ask));
    }

    /// Shows step `ask` with `error` (none clears the last one).
    fn ask(&mut self, ask: Ask, error: Option<Error>) {
        self.s.form.error = error;
        self.s.form.busy = false;
        self.s.focus = true;
        self.show_step(ask);
    }

    /// Marks the step busy while the server is asked.
    pub(super) fn busy_step(&mut self, ask: Ask) {
        self.s.form.busy = true;
        self.show_step(ask);
    }

    /// "Next" (or "Activate" on the last step): checks the step's field, asks the server where
    /// needed, and goes on.
    pub(super) fn next(&mut self) {
        let Some(ask) = self.asking() else { return };
        if self.s.form.busy {
            return;
        }
        let value = self.s.form.draft.clone();
        match ask {
            Ask::Customer => {
                let code = digits_only(&value, 4);
                self.s.form.customer_code.clone_from(&code);
                if code.len() != 4 {
                    return self.ask(ask, invalid());
                }
                self.busy_step(ask);
                self.out.push(Effect::Customer(code));
            }
            Ask::Login => {
                // ASCII spaces only: Unicode whitespace tables cost the module; the server
                // refuses an ID with another space anyway, and the step says so.
                let user = value.trim_ascii().to_owned();
                let form = &mut self.s.form;
                if form.user_id != user {
                    form.replaces = None;
                }
                form.user_id.clone_from(&user);
                if accounts::check_user_id(&user).is_err() {
                    return self.ask(ask, invalid());
                }
                self.ask(Ask::Code, None);
            }
            Ask::Code => {
                let code = digits_only(&value, 6);
                let form = &mut self.s.form;
                form.activation_code.clone_from(&code);
                if code.len() != 6 {
                    return self.ask(ask, invalid());
                }
                let Some(customer) = &form.customer else {
                    return self.ask(Ask::Customer, None);
                };
                let digits = customer.pin_digits;
                let registration = Registration {
                    server: self.s.server.clone(),
                    authorization: Authorization::Activation {
                        customer_code: customer.customer_code.clone(),
                        user_id: form.user_id.clone(),
                        activation_code: code,
                    },
                    user_id: Some(form.user_id.clone()),
                    replace: form.replaces.is_some(),
                    pin: None,
                };
                self.enroll(registration, digits, Busy::Form(ask));
            }
        }
    }

    /// The institution of the customer code, or the failure on the first step.
    pub(super) fn customer(&mut self, result: Result<Customer, Error>) {
        match result {
            Ok(customer) => {
                self.s.institution.clone_from(&customer.institution);
                let form = &mut self.s.form;
                if form.customer.as_ref() != Some(&customer) {
                    form.replaces = None;
                }
                form.customer = Some(customer);
                self.ask(Ask::Login, None);
            }
            Err(e) => self.failed(e),
        }
    }

    /// "Back": the previous step, with what was kept there.
    pub(super) fn back(&mut self) {
        let to = match self.asking() {
            Some(Ask::Code) => Ask::Login,
            Some(Ask::Login) => Ask::Customer,
            _ => return,
        };
        self.ask(to, None);
    }

    /// The end of an activation: the new ID's code beside the others, or the failure on the
    /// step it concerns.
    pub(super) fn activated(&mut self, result: Result<Account, Error>) {
        match result {
            Ok(account) => {
                self.s.form = Form::default();
                self.out.push(Effect::LoadAccounts(Some(account)));
            }
            Err(e) => self.failed(e),
        }
    }

    /// Tells a failure of the form on the step it concerns (docs/product.md rule 12); what
    /// cannot be fixed in the form gets its own screen.
    fn failed(&mut self, error: Error) {
        let ask = match &error {
            Error::UnknownCustomer | Error::ServiceClosed => Ask::Customer,
            Error::NotEnrolled => Ask::Login,
            Error::InvalidActivation { .. }
            | Error::ActivationExpired
            | Error::ActivationUsed
            | Error::TooManyAccounts
            | Error::Locked => Ask::Code,
            Error::DeviceExists(device) | Error::UnapprovedDevice(device) => {
                self.s.form.replaces = Some(device.clone());
                Ask::Code
            }
            Error::RateLimited | Error::Network | Error::Server(_) => {
                self.asking().unwrap_or(Ask::Code)
            }
            _ => return self.fail(error),
        };
        self.ask(ask, Some(error));
    }
}
