//! Native tests of the PIN screens: choose, again, mismatch, enter.

use super::*;

#[test]
fn a_pin_policy_has_the_pin_chosen_twice_before_registering() {
    let mut w = W::session();
    w.status_with(UserStatus::Unregistered, None, None, f64::NAN, 4);
    w.act(Action::Register);
    w.step(Event::Fingerprint(Ok("Firefox on Linux".into())));
    let out = w.act(Action::Confirm);
    assert!(registration(&out).is_none());
    assert!(matches!(
        w.s.view,
        View::ChoosePin {
            digits: 4,
            first: None,
            ..
        }
    ));
    w.type_digits("12");
    w.key(Key::Confirm);
    assert_eq!(w.s.note, Note::PinIncomplete(4));
    w.key(Key::Clear);
    w.type_digits("123456");
    assert_eq!(w.s.typed, "1234", "a PIN takes its length only");
    w.key(Key::Confirm);
    assert!(matches!(w.s.view, View::ChoosePin { first: Some(_), .. }));
    assert_eq!(w.s.typed, "");
    w.type_digits("1234");
    let r = registration(&w.key(Key::Confirm)).expect("registers");
    assert!(r.pin.is_some_and(|p| p.digits() == 4));
    assert_eq!(w.s.note, Note::Registering);
    assert!(w.s.busy);
}

#[test]
fn a_pin_typed_differently_the_second_time_starts_the_choice_again() {
    let mut w = W::session();
    w.status_with(UserStatus::Unregistered, None, None, f64::NAN, 4);
    w.act(Action::Confirm);
    w.type_digits("1234");
    w.key(Key::Confirm);
    w.type_digits("4321");
    let out = w.key(Key::Confirm);
    assert!(registration(&out).is_none());
    assert!(matches!(w.s.view, View::ChoosePin { first: None, .. }));
    assert_eq!(w.s.note, Note::PinMismatch);
}

#[test]
fn a_pin_account_asks_its_pin_before_its_code() {
    let mut w = W::session();
    w.status(UserStatus::Active, Some(account("a1", 4)));
    assert!(matches!(w.s.view, View::EnterPin { .. }));
    assert!(w.s.clock.is_none(), "no code computed");
    w.type_digits("1234");
    let out = w.key(Key::Confirm);
    assert!(matches!(&out[..], [Effect::Unlock(id, _)] if id == "a1"));
    w.unlocked.push("a1".into());
    w.step(Event::Unlocked(Ok(())));
    assert!(matches!(w.s.view, View::Code { .. }));
    // An unlock that fails has its failure screen.
    let mut w = W::session();
    w.status(UserStatus::Active, Some(account("a1", 4)));
    w.type_digits("1234");
    w.key(Key::Confirm);
    w.step(Event::Unlocked(Err(Error::Crypto("x".into()))));
    assert!(matches!(w.s.view, View::Failed(_)));
}

#[test]
fn an_unlocked_pin_account_shows_its_code_and_a_forgotten_key_asks_the_pin_again() {
    let mut w = W::session();
    w.unlocked.push("a1".into());
    w.status(UserStatus::Active, Some(account("a1", 4)));
    assert!(matches!(w.s.view, View::Code { .. }));
    w.step(Event::CodeFailed(Error::PinRequired));
    assert!(matches!(w.s.view, View::EnterPin { .. }));
}

#[test]
fn an_activation_with_a_pin_policy_chooses_the_pin_first() {
    let mut w = W::form();
    w.next("1234");
    w.step(Event::Customer(Ok(customer(6))));
    w.next("alice");
    let out = w.next("123456");
    assert!(registration(&out).is_none());
    assert!(matches!(w.s.view, View::ChoosePin { digits: 6, .. }));
}
