//! Native tests of the activation form (each step, each failure on its step, back, close) and
//! of the IDs of code-check mode (add, remove, switch, the language).

use super::*;

#[test]
fn activation_goes_customer_code_then_login_id_then_activation_code_then_the_code() {
    let mut w = W::form();
    assert_eq!(step_of(&w), Some(Ask::Customer));
    assert!(!w.s.form.can_close);
    let out = w.step(Event::Field("12a345".into()));
    assert!(matches!(&out[..], [Effect::Field(v)] if v == "1234"));
    let out = w.act(Action::Next);
    assert!(w.s.form.busy);
    assert!(matches!(out.last(), Some(Effect::Customer(c)) if c == "1234"));
    assert!(w.act(Action::Next).is_empty(), "busy: nothing sent twice");
    w.step(Event::Customer(Ok(customer(0))));
    assert_eq!(step_of(&w), Some(Ask::Login));
    assert_eq!(w.s.institution, "Academy");
    w.next("  alice ");
    assert_eq!(step_of(&w), Some(Ask::Code));
    assert_eq!(w.s.form.user_id, "alice");
    let r = registration(&w.next("123456")).expect("activates");
    assert!(
        r.authorization
            == Authorization::Activation {
                customer_code: "1234".into(),
                user_id: "alice".into(),
                activation_code: "123456".into(),
            }
    );
    assert!(w.s.form.busy);
    let out = w.step(Event::Registered(Ok(account("a1", 0))));
    assert!(matches!(&out[..], [Effect::LoadAccounts(Some(a))] if a.id == "a1"));
    w.step(Event::Accounts {
        show: Some(account("a1", 0)),
        result: Ok(vec![account("a2", 0), account("a1", 0)]),
    });
    assert!(matches!(&w.s.view, View::Code { account, .. } if account.id == "a1"));
    assert!(!w.s.has_pad(), "code-check mode has no keypad");
}

#[test]
fn each_field_refuses_its_format_on_its_own_step() {
    let mut w = W::form();
    w.next("12");
    assert_eq!(step_of(&w), Some(Ask::Customer));
    assert!(matches!(w.s.form.error, Some(Error::InvalidInput(_))));
    w.next("1234");
    w.step(Event::Customer(Ok(customer(0))));
    assert!(w.s.form.error.is_none());
    w.next("   ");
    assert_eq!(step_of(&w), Some(Ask::Login));
    assert!(matches!(w.s.form.error, Some(Error::InvalidInput(_))));
    w.next("alice");
    w.next("12345");
    assert_eq!(step_of(&w), Some(Ask::Code));
    assert!(matches!(w.s.form.error, Some(Error::InvalidInput(_))));
}

#[test]
fn each_server_failure_is_told_on_the_step_it_concerns() {
    let at_code = || {
        let mut w = W::form();
        w.next("1234");
        w.step(Event::Customer(Ok(customer(0))));
        w.next("alice");
        w.next("123456");
        w
    };
    let mut w = W::form();
    w.next("9999");
    w.step(Event::Customer(Err(Error::UnknownCustomer)));
    assert_eq!(step_of(&w), Some(Ask::Customer));
    assert!(!w.s.form.busy);
    assert_eq!(w.s.form.customer_code, "9999", "nothing typed is lost");
    assert_eq!(w.s.form.draft, "9999");
    for (error, ask) in [
        (Error::NotEnrolled, Ask::Login),
        (Error::InvalidActivation { attempts_left: 2 }, Ask::Code),
        (Error::ActivationExpired, Ask::Code),
        (Error::ActivationUsed, Ask::Code),
        (Error::TooManyAccounts, Ask::Code),
        (Error::Locked, Ask::Code),
        (Error::ServiceClosed, Ask::Customer),
        (Error::Network, Ask::Code),
    ] {
        let mut w = at_code();
        w.step(Event::Registered(Err(error.clone())));
        assert_eq!(step_of(&w), Some(ask), "{}", error.code());
        assert_eq!(w.s.form.error.as_ref(), Some(&error));
    }
    let mut w = at_code();
    w.step(Event::Registered(Err(Error::KeyNotStorable)));
    assert!(matches!(w.s.view, View::NoStorage), "not the form's to fix");
}

#[test]
fn an_id_with_a_device_is_activated_again_only_as_a_replacement() {
    let mut w = W::form();
    w.next("1234");
    w.step(Event::Customer(Ok(customer(0))));
    w.next("alice");
    w.next("123456");
    w.step(Event::Registered(Err(Error::DeviceExists(other_device(
        false,
    )))));
    assert_eq!(step_of(&w), Some(Ask::Code));
    assert!(w.s.form.replaces.is_some());
    let r = registration(&w.act(Action::Next)).expect("activates");
    assert!(r.replace);
    // Another login ID forgets the device.
    w.step(Event::Registered(Err(Error::Network)));
    w.act(Action::Back);
    w.next("bob");
    assert!(w.s.form.replaces.is_none());
}

#[test]
fn back_shows_the_step_before_with_what_it_kept() {
    let mut w = W::form();
    w.next("1234");
    w.step(Event::Customer(Ok(customer(0))));
    w.next("alice");
    w.act(Action::Back);
    assert_eq!(step_of(&w), Some(Ask::Login));
    assert_eq!(w.s.form.draft, "alice");
    w.act(Action::Back);
    assert_eq!(step_of(&w), Some(Ask::Customer));
    assert_eq!(w.s.form.draft, "1234");
    assert!(w.act(Action::Back).is_empty(), "no step before the first");
}

#[test]
fn add_id_opens_the_form_that_close_leaves() {
    let mut w = W::check_mode();
    w.step(Event::Accounts {
        show: None,
        result: Ok(vec![account("a1", 0)]),
    });
    assert!(matches!(w.s.view, View::Code { .. }));
    w.act(Action::AddId);
    assert_eq!(step_of(&w), Some(Ask::Customer));
    assert!(w.s.form.can_close);
    let out = w.act(Action::Close);
    assert!(matches!(w.s.view, View::Loading));
    assert!(matches!(out.last(), Some(Effect::Start)));
}

#[test]
fn remove_asks_first_then_removes_the_shown_id() {
    let mut w = W::check_mode();
    w.step(Event::Accounts {
        show: None,
        result: Ok(vec![account("a1", 0), account("a2", 0)]),
    });
    w.act(Action::Remove);
    assert!(matches!(&w.s.view, View::Remove(a) if a.id == "a1"));
    let out = w.act(Action::RemoveConfirmed);
    assert!(matches!(&out.last(), Some(Effect::Remove(id)) if id == "a1"));
    let out = w.step(Event::Removed(Ok(())));
    assert!(matches!(out[..], [Effect::Start]));
    w.step(Event::Accounts {
        show: None,
        result: Ok(Vec::new()),
    });
    assert_eq!(step_of(&w), Some(Ask::Customer), "none left: the form");
}

#[test]
fn the_switcher_shows_the_chosen_id() {
    let mut w = W::check_mode();
    w.step(Event::Accounts {
        show: None,
        result: Ok(vec![account("a1", 0), account("a2", 0)]),
    });
    let out = w.step(Event::Switch("a2".into()));
    assert!(matches!(&w.s.view, View::Code { account, .. } if account.id == "a2"));
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::Compute { id, .. } if id == "a2"))
    );
    assert_eq!(w.s.user, "bob");
    assert!(!renders(&w.step(Event::Switch("none".into()))));
}

#[test]
fn a_language_switch_keeps_what_is_typed_and_focuses_the_switch() {
    let mut w = W::form();
    w.step(Event::Field("12".into()));
    let out = w.act(Action::Language);
    assert_eq!(w.s.lang, Lang::Ko);
    assert_eq!(w.s.form.draft, "12");
    assert!(matches!(
        out[..],
        [Effect::Render { focus: false }, Effect::FocusLanguage]
    ));
    let mut w = W::code_screen();
    w.type_digits("12");
    let out = w.step(Event::SetLang(Lang::Ko));
    assert_eq!(w.s.typed, "12");
    assert_eq!(w.shown(), Some(("123456".into(), 7)), "the code is kept");
    assert!(
        matches!(out[1], Effect::ShowTime(_)),
        "and its clock goes on"
    );
}
