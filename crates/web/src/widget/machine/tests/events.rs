//! Native tests of what the host page is told (docs/widget.md "Events"): each outcome, the
//! event that leads to it and the one `Effect::Emit` it yields, after the screen it shows, and
//! never again on a redraw, a language switch or a tick.

use super::*;

/// What `out` tells the page, in order: `pass`, or the code of `cloud-otp-error`.
fn told(out: &[Effect]) -> Vec<String> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Emit(Outcome::Pass(_)) => Some("pass".to_owned()),
            Effect::Emit(Outcome::Error(code)) => Some(code.clone()),
            _ => None,
        })
        .collect()
}

/// `out` tells the page `code` once, after the screen's render if there is one; a language
/// switch (the host's and the trainee's) and the clock's ticks tell it nothing more.
fn once(w: &mut W, out: &[Effect], code: &str) {
    assert_eq!(told(out), [code]);
    let emit = out.iter().position(|e| matches!(e, Effect::Emit(_)));
    let render = out.iter().position(|e| matches!(e, Effect::Render { .. }));
    assert!(render < emit, "told after the screen is drawn");
    for again in [
        w.step(Event::SetLang(Lang::Ko)),
        w.act(Action::Language),
        w.step(Event::Tick),
    ] {
        assert_eq!(told(&again), Vec::<String>::new(), "{code} is told once");
    }
    w.now += 30_000.0;
    assert!(told(&w.step(Event::Tick)).is_empty());
}

/// The code screen with `000000` sent.
fn sent() -> W {
    let mut w = W::code_screen();
    w.type_digits("000000");
    w.key(Key::Confirm);
    w
}

#[test]
fn a_wrong_code_is_told_with_the_attempts_left_the_runner_reads_from_the_note() {
    let mut w = sent();
    let out = w.step(Event::Verified(Err(Error::InvalidCode {
        attempts_left: 3,
    })));
    assert_eq!(w.s.note, Note::WrongCode(3));
    once(&mut w, &out, "invalid_code");
    // Typing clears the note: a later outcome is not told with attempts.
    w.type_digits("1");
    assert_eq!(w.s.note, Note::None);
}

#[test]
fn a_replayed_code_rate_limiting_and_a_network_failure_are_told_under_the_keypad() {
    for (error, code, note) in [
        (Error::Replayed, "replayed", Note::Replayed),
        (Error::RateLimited, "rate_limited", Note::RateLimited),
        (Error::Network, "network_error", Note::Network),
        (Error::Server(503), "server_error", Note::Network),
    ] {
        let mut w = sent();
        let out = w.step(Event::Verified(Err(error)));
        assert_eq!(w.s.note, note);
        assert!(matches!(w.s.view, View::Code { .. }));
        once(&mut w, &out, code);
    }
}

#[test]
fn a_suspension_is_told_when_a_code_is_refused_and_when_the_status_says_so_on_mount() {
    let mut w = sent();
    let out = w.step(Event::Verified(Err(Error::Locked)));
    assert!(matches!(w.s.view, View::Suspended));
    once(&mut w, &out, "locked");
    let mut w = W::session();
    let out = w.status(UserStatus::Locked, Some(account("a1", 0)));
    assert!(matches!(w.s.view, View::Suspended));
    once(&mut w, &out, "locked");
    // "Check again" asks again: still suspended is a new answer, told again.
    w.act(Action::Reload);
    let out = w.status(UserStatus::Locked, Some(account("a1", 0)));
    assert_eq!(told(&out), ["locked"]);
}

#[test]
fn another_registered_device_is_told_on_mount_when_taken_over_and_when_a_code_is_refused() {
    let mut w = W::session();
    let out = w.status_with(UserStatus::Active, None, Some(other_device(false)), 1.0, 0);
    assert_eq!(register_step(&w), Some((true, Step::Offer)));
    once(&mut w, &out, "unapproved_device");
    // The registration and the confirmation tell nothing more.
    assert!(told(&w.act(Action::Register)).is_empty());
    assert!(told(&w.step(Event::Fingerprint(Ok("Firefox on Linux".into())))).is_empty());
    let mut w = W::session();
    let out = w.status_with(
        UserStatus::Active,
        Some(account("a1", 0)),
        Some(other_device(false)),
        8_000.0,
        0,
    );
    once(&mut w, &out, "unapproved_device");
    let mut w = sent();
    let out = w.step(Event::Verified(Err(Error::UnapprovedDevice(other_device(
        false,
    )))));
    once(&mut w, &out, "unapproved_device");
    let mut w = W::session();
    w.status(UserStatus::Unregistered, None);
    w.act(Action::Confirm);
    let out = w.step(Event::Registered(Err(Error::DeviceExists(other_device(
        false,
    )))));
    once(&mut w, &out, "device_exists");
}

#[test]
fn an_erased_registration_is_told_as_key_missing_once_the_status_shows_it() {
    let mut w = sent();
    // The refused code only asks the status again: nothing is told yet.
    let out = w.step(Event::Verified(Err(Error::KeyMissing)));
    assert!(told(&out).is_empty());
    let out = w.status_with(UserStatus::Active, None, Some(other_device(true)), 1.0, 0);
    once(&mut w, &out, "key_missing");
    // And on mount, when the browser's data was erased between visits.
    let mut w = W::session();
    let out = w.status_with(UserStatus::Active, None, Some(other_device(true)), 1.0, 0);
    once(&mut w, &out, "key_missing");
}

#[test]
fn an_expired_session_a_network_failure_and_no_key_storage_are_told_with_their_screens() {
    let mut w = W::session();
    let out = w.step(Event::Status(Err(Error::InvalidSession)));
    assert!(matches!(w.s.view, View::Expired));
    once(&mut w, &out, "invalid_session");
    let mut w = W::session();
    let out = w.step(Event::Status(Err(Error::Network)));
    assert!(matches!(w.s.view, View::Network));
    once(&mut w, &out, "network_error");
    for (error, code) in [
        (Error::IndexedDbUnavailable, "indexeddb_unavailable"),
        (Error::KeyNotStorable, "key_not_storable"),
        (Error::QuotaExceeded, "quota_exceeded"),
    ] {
        let mut w = W::session();
        w.status(UserStatus::Unregistered, None);
        w.act(Action::Confirm);
        let out = w.step(Event::Registered(Err(error)));
        assert!(matches!(w.s.view, View::NoStorage));
        once(&mut w, &out, code);
    }
}

#[test]
fn any_other_failure_screen_is_told_by_its_code() {
    let mut w = W::session();
    let out = w.step(Event::Status(Err(Error::ServiceClosed)));
    once(&mut w, &out, "service_closed");
    let mut w = sent();
    let refused = Error::Refused {
        status: 403,
        code: "origin_not_allowed".into(),
    };
    let out = w.step(Event::Verified(Err(refused)));
    assert!(matches!(&w.s.view, View::Failed(c) if c == "origin_not_allowed"));
    once(&mut w, &out, "origin_not_allowed");
}

#[test]
fn the_pass_is_told_alone_and_the_screens_on_the_way_tell_nothing() {
    let mut w = W::session();
    let mut out = w.status(UserStatus::Unregistered, None);
    out.extend(w.act(Action::Register));
    out.extend(w.step(Event::Fingerprint(Ok("Firefox on Linux".into()))));
    out.extend(w.act(Action::Confirm));
    out.extend(w.step(Event::Registered(Ok(account("a1", 0)))));
    out.extend(w.code("a1", "123456", 7, true));
    w.type_digits("12345");
    out.extend(w.key(Key::Confirm));
    assert!(told(&out).is_empty(), "an incomplete code is no outcome");
    w.type_digits("6");
    w.key(Key::Confirm);
    let out = w.step(Event::Verified(Ok(pass())));
    assert_eq!(told(&out), ["pass"]);
    assert!(told(&w.step(Event::SetLang(Lang::Ko))).is_empty());
}
