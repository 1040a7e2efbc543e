//! Native tests of the code screen: the clock, the keypad, and every answer to a sent code,
//! including the clock-moved hold of a code shown on the last visit's clock.

use super::*;

#[test]
fn a_registered_user_sees_the_code_and_its_clock_ticks_each_second() {
    let mut w = W::session();
    w.status(UserStatus::Active, Some(account("a1", 0)));
    let out = w.code("a1", "123456", 7, true);
    assert_eq!(w.shown(), Some(("123456".into(), 7)));
    assert!(matches!(out[0], Effect::ShowCode));
    assert!(matches!(out[1], Effect::ShowTime(ms) if ms == 25_000.0));
    // The next tick comes on the second (25 s left: in 1 s, and 5 ms).
    assert!(matches!(out[2], Effect::Timer(ms) if ms == 1_005.0));
    assert!(!w.s.clock.as_ref().is_some_and(|c| c.hint));
    w.now += 15_500.0;
    let out = w.step(Event::Tick);
    assert!(matches!(out[0], Effect::ShowTime(ms) if ms == 9_500.0));
    assert!(
        matches!(out[1], Effect::Say(T::NearExpiry)),
        "expiry told once"
    );
    w.now += 500.0;
    let out = w.step(Event::Tick);
    assert!(!out.iter().any(|e| matches!(e, Effect::Say(_))));
}

#[test]
fn the_next_code_is_computed_when_the_step_ends_and_the_old_one_stays_until_then() {
    let mut w = W::code_screen();
    w.now += 25_000.0;
    let out = w.step(Event::Tick);
    assert!(matches!(&out[..], [Effect::Compute { quick: false, .. }]));
    assert_eq!(w.shown(), Some(("123456".into(), 7)));
    w.code("a1", "654321", 8, true);
    assert_eq!(w.shown(), Some(("654321".into(), 8)));
}

#[test]
fn little_time_left_on_entry_shows_the_wait_hint_and_the_next_code_clears_it() {
    let mut w = W::session();
    w.status(UserStatus::Active, Some(account("a1", 0)));
    w.step(Event::Code {
        id: "a1".into(),
        code: current("123456", 7, 8_000),
        confirmed: true,
    });
    assert!(w.s.clock.as_ref().is_some_and(|c| c.hint));
    w.step(Event::Code {
        id: "a1".into(),
        code: current("654321", 8, 30_000),
        confirmed: true,
    });
    assert!(!w.s.clock.as_ref().is_some_and(|c| c.hint));
}

#[test]
fn a_code_computed_for_another_account_is_not_shown() {
    let mut w = W::code_screen();
    w.code("other", "999999", 9, true);
    assert_eq!(w.shown(), Some(("123456".into(), 7)));
}

#[test]
fn typed_digits_stop_at_six_delete_removes_one_and_clear_removes_all() {
    let mut w = W::code_screen();
    w.type_digits("1234567");
    assert_eq!(w.s.typed, "123456");
    let out = w.key(Key::Delete);
    assert_eq!(w.s.typed, "12345");
    assert!(matches!(out[..], [Effect::Entry, Effect::Note]));
    w.key(Key::Clear);
    assert_eq!(w.s.typed, "");
}

#[test]
fn pasted_and_typed_text_keeps_its_digits_only() {
    let mut w = W::code_screen();
    w.step(Event::Paste("123 456 7".into()));
    assert_eq!(w.s.typed, "123456");
    let out = w.step(Event::Typed("12-34".into()));
    assert_eq!(w.s.typed, "1234");
    assert!(matches!(out[..], [Effect::Entry]), "the field is corrected");
    let out = w.step(Event::Typed("1234".into()));
    assert!(out.is_empty());
}

#[test]
fn an_incomplete_code_is_not_sent() {
    let mut w = W::code_screen();
    w.type_digits("123");
    let out = w.key(Key::Confirm);
    assert!(verifies(&out).is_none());
    assert_eq!(w.s.note, Note::Incomplete);
}

#[test]
fn a_right_code_hands_the_pass_to_the_page_and_says_done() {
    let mut w = W::code_screen();
    w.type_digits("123456");
    let out = w.key(Key::Confirm);
    assert_eq!(verifies(&out).as_deref(), Some("123456"));
    assert_eq!(w.s.note, Note::Checking);
    assert!(w.s.busy);
    // A second confirm while the first is checked sends nothing.
    assert!(verifies(&w.key(Key::Confirm)).is_none());
    let out = w.step(Event::Verified(Ok(pass())));
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::Emit(Outcome::Pass(p)) if p.pass == "p"))
    );
    assert!(focuses(&out));
    assert!(matches!(w.s.view, View::Done));
    assert!(w.s.clock.is_none(), "the clock stops");
}

#[test]
fn a_wrong_code_is_cleared_and_the_attempts_left_are_told() {
    let mut w = W::code_screen();
    w.type_digits("000000");
    w.key(Key::Confirm);
    w.step(Event::Verified(Err(Error::InvalidCode {
        attempts_left: 3,
    })));
    assert_eq!(w.s.note, Note::WrongCode(3));
    assert_eq!(w.s.typed, "");
    assert!(!w.s.busy);
    assert!(matches!(w.s.view, View::Code { .. }));
    // The next code can be sent.
    w.type_digits("111111");
    assert!(verifies(&w.key(Key::Confirm)).is_some());
}

#[test]
fn a_replayed_code_is_cleared_and_told() {
    let mut w = W::code_screen();
    w.type_digits("123456");
    w.key(Key::Confirm);
    w.step(Event::Verified(Err(Error::Replayed)));
    assert_eq!(w.s.note, Note::Replayed);
    assert_eq!(w.s.typed, "");
}

#[test]
fn a_network_failure_keeps_the_code_and_try_again_sends_it_again() {
    let mut w = W::code_screen();
    w.type_digits("123456");
    w.key(Key::Confirm);
    w.step(Event::Verified(Err(Error::Network)));
    assert_eq!(w.s.note, Note::Network);
    assert_eq!(w.s.typed, "123456");
    assert_eq!(verifies(&w.key(Key::Retry)).as_deref(), Some("123456"));
    w.step(Event::Verified(Err(Error::RateLimited)));
    assert_eq!(w.s.note, Note::RateLimited);
    assert_eq!(w.s.typed, "123456");
}

#[test]
fn a_code_shown_on_the_last_visits_clock_is_sent_once_this_visits_clock_confirms_it() {
    let mut w = W::session();
    w.status(UserStatus::Active, Some(account("a1", 0)));
    w.code("a1", "123456", 7, false);
    w.type_digits("123456");
    let out = w.key(Key::Confirm);
    assert!(
        verifies(&out).is_none(),
        "not sent before the clock is confirmed"
    );
    assert!(matches!(
        &out.last(),
        Some(Effect::Recheck { counter: 7, .. })
    ));
    // The step after is taken too (rule 2).
    let out = w.step(Event::Rechecked {
        id: "a1".into(),
        code: "123456".into(),
        counter: 7,
        result: Ok(current("123456", 8, 25_000)),
    });
    assert_eq!(verifies(&out).as_deref(), Some("123456"));
    assert!(w.s.clock.as_ref().is_some_and(|c| c.confirmed));
}

#[test]
fn a_code_shown_on_a_moved_clock_is_not_sent_and_the_right_one_is_shown() {
    let mut w = W::session();
    w.status(UserStatus::Active, Some(account("a1", 0)));
    w.code("a1", "123456", 7, false);
    w.type_digits("123456");
    w.key(Key::Confirm);
    let out = w.step(Event::Rechecked {
        id: "a1".into(),
        code: "123456".into(),
        counter: 7,
        result: Ok(current("999999", 12, 25_000)),
    });
    assert!(verifies(&out).is_none(), "no attempt spent");
    assert_eq!(w.s.note, Note::ClockMoved);
    assert_eq!(w.s.typed, "");
    assert!(!w.s.busy);
    assert_eq!(w.shown(), Some(("999999".into(), 12)));
    // The shown code is now on this visit's clock: sent at once.
    w.type_digits("999999");
    assert!(verifies(&w.key(Key::Confirm)).is_some());
}

#[test]
fn a_code_typed_other_than_the_quick_one_or_a_failed_recheck_is_sent_as_is() {
    let mut w = W::session();
    w.status(UserStatus::Active, Some(account("a1", 0)));
    w.code("a1", "123456", 7, false);
    w.type_digits("111111");
    assert_eq!(verifies(&w.key(Key::Confirm)).as_deref(), Some("111111"));
    let mut w = W::session();
    w.status(UserStatus::Active, Some(account("a1", 0)));
    w.code("a1", "123456", 7, false);
    w.type_digits("123456");
    w.key(Key::Confirm);
    let out = w.step(Event::Rechecked {
        id: "a1".into(),
        code: "123456".into(),
        counter: 7,
        result: Err(Error::Network),
    });
    assert_eq!(verifies(&out).as_deref(), Some("123456"));
}

#[test]
fn copy_copies_the_shown_code_and_says_whether_it_worked() {
    let mut w = W::code_screen();
    let out = w.act(Action::Copy);
    assert!(matches!(&out[..], [Effect::Copy(c)] if c == "123456"));
    let out = w.step(Event::Copied(false));
    assert!(matches!(out[..], [Effect::Say(T::CopyFailed)]));
}

#[test]
fn the_native_keyboard_opens_only_on_a_keypad() {
    let mut w = W::code_screen();
    assert!(matches!(
        w.key(Key::NativeKeyboard)[..],
        [Effect::NativeKeyboard]
    ));
    let mut w = W::form();
    assert!(w.key(Key::NativeKeyboard).is_empty());
    w.key(Key::Digit(1));
    assert_eq!(w.s.typed, "", "no keypad, nothing typed");
}
