//! Native tests of the session's first screen and its registration: offer, confirm, busy, the
//! code; cancel; suspended; another device (unapproved, taken over); erased data; offline.

use super::*;

#[test]
fn an_unregistered_user_is_offered_registration_then_confirms_then_waits_then_sees_the_code() {
    let mut w = W::session();
    w.status(UserStatus::Unregistered, None);
    assert_eq!(register_step(&w), Some((false, Step::Offer)));
    assert_eq!(w.s.user, "alice");
    let out = w.act(Action::Register);
    assert!(matches!(out[..], [Effect::Fingerprint]));
    let out = w.step(Event::Fingerprint(Ok("Firefox on Linux".into())));
    assert!(focuses(&out), "the confirmation's heading gets focus");
    assert_eq!(register_step(&w), Some((false, Step::Confirm)));
    assert_eq!(w.s.label, "Firefox on Linux");
    let out = w.act(Action::Confirm);
    assert_eq!(register_step(&w), Some((false, Step::Busy)));
    let r = registration(&out).expect("registers");
    assert!(!r.replace && r.pin.is_none());
    assert_eq!(r.user_id.as_deref(), Some("alice"));
    assert!(r.authorization == Authorization::Session("sess".into()));
    let out = w.step(Event::Registered(Ok(account("a1", 0))));
    assert!(matches!(w.s.view, View::Code { .. }));
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::Compute { quick: true, .. }))
    );
}

#[test]
fn cancel_on_the_confirmation_goes_back_to_the_offer() {
    let mut w = W::session();
    w.status(UserStatus::Unregistered, None);
    w.act(Action::Register);
    w.step(Event::Fingerprint(Ok("Firefox on Linux".into())));
    w.act(Action::Cancel);
    assert_eq!(register_step(&w), Some((false, Step::Offer)));
}

#[test]
fn a_failed_registration_shows_the_failure_screen() {
    let mut w = W::session();
    w.status(UserStatus::Unregistered, None);
    w.act(Action::Confirm);
    w.step(Event::Registered(Err(Error::Network)));
    assert!(matches!(w.s.view, View::Network));
    w.step(Event::Registered(Err(Error::Server(500))));
    assert!(matches!(&w.s.view, View::Failed(code) if code == "server_error"));
}

#[test]
fn a_suspended_user_sees_the_suspension_and_can_check_again() {
    let mut w = W::session();
    w.status(UserStatus::Locked, Some(account("a1", 0)));
    assert!(matches!(w.s.view, View::Suspended));
    let out = w.act(Action::Reload);
    assert!(matches!(w.s.view, View::Loading));
    assert!(matches!(out.last(), Some(Effect::Start)));
    // Suspended by a wrong code, too.
    let mut w = W::code_screen();
    w.type_digits("000000");
    w.key(Key::Confirm);
    w.step(Event::Verified(Err(Error::Locked)));
    assert!(matches!(w.s.view, View::Suspended));
}

#[test]
fn another_registered_device_is_named_and_registering_replaces_it() {
    let mut w = W::session();
    w.status_with(UserStatus::Active, None, Some(other_device(false)), 1.0, 0);
    assert_eq!(register_step(&w), Some((true, Step::Offer)));
    w.act(Action::Register);
    w.step(Event::Fingerprint(Ok("Firefox on Linux".into())));
    assert_eq!(register_step(&w), Some((true, Step::Confirm)));
    let r = registration(&w.act(Action::Confirm)).expect("registers");
    assert!(r.replace);
}

#[test]
fn a_browser_taken_over_by_a_later_registration_is_told_before_a_code_is_typed() {
    let mut w = W::session();
    // Registered 3 s after this browser's account.
    w.status_with(
        UserStatus::Active,
        Some(account("a1", 0)),
        Some(other_device(false)),
        8_000.0,
        0,
    );
    assert_eq!(register_step(&w), Some((true, Step::Offer)));
    // The same registration, to the millisecond: the code.
    let mut w = W::session();
    w.status_with(
        UserStatus::Active,
        Some(account("a1", 0)),
        Some(other_device(false)),
        5_000.4,
        0,
    );
    assert!(matches!(w.s.view, View::Code { .. }));
}

#[test]
fn a_verification_refused_for_an_unapproved_device_offers_to_register_instead() {
    let mut w = W::code_screen();
    w.type_digits("123456");
    w.key(Key::Confirm);
    w.step(Event::Verified(Err(Error::UnapprovedDevice(other_device(
        false,
    )))));
    assert_eq!(register_step(&w), Some((true, Step::Offer)));
}

#[test]
fn erased_data_asks_the_status_again_and_one_step_registers_again() {
    let mut w = W::code_screen();
    w.type_digits("123456");
    w.key(Key::Confirm);
    let out = w.step(Event::Verified(Err(Error::KeyMissing)));
    assert!(matches!(out.last(), Some(Effect::Start)));
    w.status_with(UserStatus::Active, None, Some(other_device(true)), 1.0, 0);
    assert_eq!(register_step(&w), Some((true, Step::Offer)));
    // No confirmation step: the one button registers, replacing the lost registration.
    let out = w.act(Action::Confirm);
    assert_eq!(register_step(&w), Some((true, Step::Busy)));
    assert!(registration(&out).is_some_and(|r| r.replace));
}

#[test]
fn offline_at_start_shows_the_network_screen_and_try_again_starts_over() {
    let mut w = W::session();
    w.step(Event::Status(Err(Error::Network)));
    assert!(matches!(w.s.view, View::Network));
    let out = w.act(Action::Reload);
    assert!(matches!(out.last(), Some(Effect::Start)));
    w.status(UserStatus::Unregistered, None);
    assert_eq!(register_step(&w), Some((false, Step::Offer)));
}

#[test]
fn storage_and_session_failures_get_their_screens() {
    let mut w = W::session();
    w.step(Event::Failed(Error::IndexedDbUnavailable));
    assert!(matches!(w.s.view, View::NoStorage));
    w.step(Event::Status(Err(Error::InvalidSession)));
    assert!(matches!(w.s.view, View::Expired));
    w.step(Event::Status(Err(Error::ServiceClosed)));
    assert!(matches!(&w.s.view, View::Failed(c) if c == "service_closed"));
}

#[test]
fn a_test_institution_is_marked_testing_only_and_a_real_one_is_not() {
    for test in [true, false] {
        let mut w = W::session();
        let status = SessionStatus {
            user_id: "alice".into(),
            user_status: UserStatus::Unregistered,
            device: None,
            institution: "CI Academy".into(),
            customer_code: Some("7001".into()),
            pin_digits: 0,
            test,
        };
        w.step(Event::Status(Ok(Status {
            status,
            account: None,
            device_at_ms: f64::NAN,
        })));
        assert_eq!(w.s.test, test);
        assert_eq!(register_step(&w), Some((false, Step::Offer)));
    }
}
