//! The activation form's steps (docs/product.md rule 9): the step's field, what the earlier
//! steps found, and the step's failure in plain words with its stable code in the alert's
//! `data-code` (for support and the host page's scripts).

use web_sys::{Element, HtmlElement};

use super::{Screen, local_date};
use crate::Error;
use crate::text::decimal;
use crate::widget::dom::{action_button, attr, el, set_prop, text};
use crate::widget::i18n::{Lang, T};
use crate::widget::machine::{Action, Ask, Form, State};
use crate::widget::screens;

/// Builds step `ask` of the form; returns what gets focus (the field).
pub(super) fn render(body: &Element, s: &State, ask: Ask, screen: &mut Screen) -> HtmlElement {
    let lang = s.lang;
    let t = |key| lang.t(key);
    let form = &s.form;
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
    let (label, max, kind) = match ask {
        Ask::Customer => (T::CustomerLabel, 4, "off"),
        Ask::Login => (T::LoginLabel, 128, "username"),
        Ask::Code => (T::ActivationLabel, 6, "one-time-code"),
    };
    let wrap = el(&card, "label", "");
    text(&wrap, "span", "label", t(label));
    let field = el(&wrap, "input", "field");
    let max_text = decimal(max);
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
    set_prop(&field, "value", &form.draft);
    if let Some(error) = &form.error {
        let p = text(&card, "p", "error", &words(lang, form, ask, error));
        attr(&p, "role", "alert");
        attr(&p, "data-code", error.code());
        attr(&p, "id", "cotp-error");
        attr(&field, "aria-invalid", "true");
        attr(&field, "aria-describedby", "cotp-error");
    }
    if let (Some(device), Ask::Code) = (&form.replaces, ask) {
        let date = local_date(lang, &device.registered_at);
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
    screen.field = Some(field.clone());
    field
}

/// The words of a failure on step `ask`.
fn words(lang: Lang, form: &Form, ask: Ask, error: &Error) -> String {
    let customer = form
        .customer
        .as_ref()
        .map_or(form.customer_code.as_str(), |c| c.institution.as_str());
    let key = match error {
        Error::InvalidInput(_) => match ask {
            Ask::Customer => T::CustomerFormat,
            Ask::Login => T::LoginFormat,
            Ask::Code => T::ActivationFormat,
        },
        Error::UnknownCustomer => return lang.fill(T::UnknownCustomer, &[&form.customer_code]),
        Error::ServiceClosed => return lang.fill(T::ServiceClosed, &[&form.customer_code]),
        Error::NotEnrolled => return lang.fill(T::NotEnrolled, &[&form.user_id, customer]),
        Error::InvalidActivation { attempts_left: 0 } => T::ActivationDead,
        Error::InvalidActivation { attempts_left } => {
            return lang.fill(T::ActivationWrong, &[&decimal(u64::from(*attempts_left))]);
        }
        Error::ActivationExpired => T::ActivationExpired,
        Error::ActivationUsed => T::ActivationUsed,
        Error::DeviceExists(_) | Error::UnapprovedDevice(_) => T::ActivateExists,
        Error::TooManyAccounts => T::TooManyIds,
        Error::RateLimited => T::RateLimited,
        Error::Locked => return lang.fill(T::SuspendedText, &[&form.user_id]),
        _ => T::NetworkForm,
    };
    lang.t(key).into()
}
