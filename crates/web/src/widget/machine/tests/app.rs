//! Native tests of the installable app's page (www/app.js): codes with no network on the last
//! visit's clock, with the offline notice, and the Home Screen advice dismissed for good; and
//! that a widget a site embeds shows such a code as it always did.

use super::*;

/// A code-check widget, `a1` on screen with its quick code shown (the last visit's clock),
/// waiting for this visit's; `app` for the installable app's page.
fn code_screen(app: bool) -> W {
    let mut w = W::check_mode();
    w.s.app = app;
    w.step(Event::Accounts {
        show: None,
        result: Ok(vec![account("a1", 0)]),
    });
    w.code("a1", "123456", 7, false);
    w
}

fn offline(w: &mut W, code: &str, counter: u64) -> Vec<Effect> {
    w.step(Event::Offline {
        id: "a1".into(),
        code: current(code, counter, 25_000),
    })
}

fn notice(w: &W) -> bool {
    w.s.clock.as_ref().is_some_and(|c| c.offline)
}

fn confirmed(w: &W) -> bool {
    w.s.clock.as_ref().is_some_and(|c| c.confirmed)
}

#[test]
fn with_no_network_the_app_shows_the_code_on_the_last_visits_clock_and_says_it_is_offline() {
    let mut w = code_screen(true);
    assert!(!notice(&w), "no notice before the server is asked");
    let out = offline(&mut w, "123456", 7);
    assert!(matches!(out[0], Effect::ShowCode));
    assert_eq!(w.shown(), Some(("123456".into(), 7)));
    assert!(notice(&w), "the notice shows");
    assert!(!confirmed(&w), "not on this visit's clock");
    assert!(matches!(w.s.view, View::Code { .. }), "no network screen");
}

#[test]
fn offline_each_new_step_asks_the_server_again_and_an_answer_ends_the_offline_notice() {
    let mut w = code_screen(true);
    offline(&mut w, "123456", 7);
    w.now += 25_000.0;
    let out = w.step(Event::Tick);
    assert!(matches!(&out[..], [Effect::Compute { quick: false, .. }]));
    // Still no network: the next code, on the last visit's clock.
    offline(&mut w, "654321", 8);
    assert_eq!(w.shown(), Some(("654321".into(), 8)));
    assert!(notice(&w));
    // The network is back: this visit's clock, and the notice goes.
    w.now += 25_000.0;
    w.step(Event::Tick);
    w.code("a1", "111111", 9, true);
    assert!(!notice(&w));
    assert_eq!(w.shown(), Some(("111111".into(), 9)));
}

#[test]
fn an_offline_code_for_another_account_is_not_shown_and_sets_no_notice() {
    let mut w = code_screen(true);
    w.step(Event::Offline {
        id: "a2".into(),
        code: current("999999", 7, 25_000),
    });
    assert_eq!(w.shown(), Some(("123456".into(), 7)));
    assert!(!notice(&w));
}

#[test]
fn with_no_network_and_no_clock_stored_the_app_shows_the_network_screen() {
    let mut w = code_screen(true);
    let out = w.step(Event::CodeFailed(Error::Network));
    assert!(renders(&out));
    assert!(matches!(w.s.view, View::Network));
}

#[test]
fn an_embedded_widget_shows_such_a_code_as_before_without_the_notice() {
    let mut w = code_screen(false);
    offline(&mut w, "123456", 7);
    assert_eq!(w.shown(), Some(("123456".into(), 7)));
    assert!(!notice(&w));
    assert!(confirmed(&w), "as it always was: the code of the visit");
}

#[test]
fn the_home_screen_advice_shows_until_dismissed_and_its_dismissal_is_remembered() {
    let mut w = code_screen(true);
    w.s.advice = true;
    let out = w.act(Action::Dismiss);
    assert!(!w.s.advice);
    assert!(out.iter().any(|e| matches!(e, Effect::Dismissed)));
    assert!(renders(&out), "the screen is drawn again without it");
    assert_eq!(w.shown(), Some(("123456".into(), 7)), "the code stays");
    assert_eq!(Action::parse("dismiss"), Some(Action::Dismiss));
}
