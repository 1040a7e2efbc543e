//! The fingerprint's human label for the browsers trainees use, against real user agents kept
//! in tests/data/user_agents.csv: one loop, and a failure names the line, the user agent and
//! both labels. The parsing is pure Rust, so this is a native test (`cargo test`).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests are not part of the module a trainee downloads: formatting costs nothing here
// (crates/web/clippy.toml keeps it out of the module).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use cloud_otp_web::fingerprint::Components;

const USER_AGENTS: &str = include_str!("data/user_agents.csv");

#[test]
fn every_browser_trainees_use_gets_its_label() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (index, line) in USER_AGENTS.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.splitn(3, ',');
        let (Some(touch), Some(expected), Some(user_agent)) =
            (fields.next(), fields.next(), fields.next())
        else {
            panic!("user_agents.csv line {}: three fields expected", index + 1);
        };
        let touch: u32 = touch.parse().expect("maxTouchPoints is a number");
        let label = Components::new(user_agent, touch, "", 0, None, None).label();
        if label != expected {
            wrong.push(format!(
                "line {}: {user_agent:?} (maxTouchPoints {touch}) is labelled {label:?}, not {expected:?}",
                index + 1
            ));
        }
        checked += 1;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Six browsers on six systems, and a few more forms: the file was read, not skipped.
    assert!(
        checked >= 30,
        "only {checked} user agents in user_agents.csv"
    );
}

#[test]
fn the_label_never_changes_what_is_hashed() {
    // An iPad's label says iPad, but its fingerprint keeps the macOS it always had: devices
    // registered before the label knew iPads keep their fingerprint.
    let ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
              Gecko) Version/18.1 Safari/605.1.15";
    let ipad = Components::new(ua, 5, "Apple Inc. / Apple GPU", 8, None, Some(24.0));
    let mac = Components::new(ua, 0, "Apple Inc. / Apple GPU", 8, None, Some(24.0));
    assert_eq!(ipad.label(), "Safari on iPad");
    assert_eq!(mac.label(), "Safari on macOS");
    assert_eq!(ipad.canonical(), mac.canonical());
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 \
                  (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";
    assert!(
        Components::new(iphone, 5, "", 0, None, None)
            .canonical()
            .contains("\nos=iOS\n")
    );
}
