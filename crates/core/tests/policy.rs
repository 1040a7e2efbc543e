//! The verification state machine against rules 1 to 4 of docs/product.md, edge cases included.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails loudly on unexpected input.

use cloud_otp_core::{
    Algorithm, Code, Digits, Outcome, Policy, Secret, State, Step, hotp, verify, verify_with_secret,
};

const NOW: u64 = 1_800_000_030; // Step 30_000_000, 30 s into it.

fn secret() -> Secret {
    Secret::new(b"cloud-otp policy test key".to_vec()).unwrap()
}

fn code_at_step(step: u64) -> String {
    hotp(Algorithm::Sha1, &secret(), step, Digits::SIX).to_string()
}

fn check(state: &State, code: &str, now: u64) -> (Outcome, State) {
    verify_with_secret(&Policy::PRODUCT, state, &secret(), code, now)
}

/// A six-digit code that is none of the codes of the steps around `now`.
fn wrong_code(now: u64) -> String {
    let step = now / 60;
    let taken: Vec<String> = (step.saturating_sub(2)..=step + 2)
        .map(code_at_step)
        .collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !taken.contains(c))
        .unwrap()
}

#[test]
fn current_and_previous_step_are_accepted_and_nothing_else() {
    let t = NOW / 60;
    let fresh = State::default();
    assert_eq!(
        check(&fresh, &code_at_step(t), NOW).0,
        Outcome::Accepted { step: t }
    );
    assert_eq!(
        check(&fresh, &code_at_step(t - 1), NOW).0,
        Outcome::Accepted { step: t - 1 }
    );
    assert_eq!(
        check(&fresh, &code_at_step(t - 2), NOW).0,
        Outcome::Rejected { attempts_left: 4 }
    );
    assert_eq!(
        check(&fresh, &code_at_step(t + 1), NOW).0,
        Outcome::Rejected { attempts_left: 4 }
    );
}

#[test]
fn an_accepted_code_and_every_earlier_one_are_refused_afterwards() {
    let t = NOW / 60;
    let (out, state) = check(&State::default(), &code_at_step(t), NOW);
    assert_eq!(out, Outcome::Accepted { step: t });
    assert_eq!(
        state,
        State {
            last_step: Some(t),
            failures: 0,
            locked: false
        }
    );
    // Same code again, a second later: replayed, and not counted as a failure.
    assert_eq!(
        check(&state, &code_at_step(t), NOW + 1),
        (Outcome::Replayed, state)
    );
    // The previous step's code is inside the window but older than the accepted one.
    assert_eq!(
        check(&state, &code_at_step(t - 1), NOW + 1),
        (Outcome::Replayed, state)
    );
    // The next step's code, once its time comes, is accepted.
    let later = NOW + 60;
    assert_eq!(
        check(&state, &code_at_step(t + 1), later).0,
        Outcome::Accepted { step: t + 1 }
    );
}

#[test]
fn five_wrong_codes_lock_and_a_right_code_before_that_resets() {
    let wrong = wrong_code(NOW);
    let mut state = State::default();
    for left in [4, 3, 2, 1] {
        let (out, next) = check(&state, &wrong, NOW);
        assert_eq!(
            out,
            Outcome::Rejected {
                attempts_left: left
            }
        );
        state = next;
    }
    assert_eq!(state.failures, 4);
    // A right code after four failures resets the count.
    let (out, reset) = check(&state, &code_at_step(NOW / 60), NOW);
    assert_eq!(out, Outcome::Accepted { step: NOW / 60 });
    assert_eq!(reset.failures, 0);

    let mut state = reset;
    for _ in 0..4 {
        state = check(&state, &wrong, NOW).1;
    }
    let (out, locked) = check(&state, &wrong, NOW);
    assert_eq!(out, Outcome::Locked);
    assert!(locked.locked);
    assert_eq!(locked.failures, 5);
    // Once locked, even the right code of a later step is refused, and nothing changes.
    let later = NOW + 60;
    assert_eq!(
        check(&locked, &code_at_step(later / 60), later),
        (Outcome::Locked, locked)
    );
}

#[test]
fn malformed_input_is_not_counted() {
    let state = State {
        last_step: None,
        failures: 3,
        locked: false,
    };
    for bad in [
        "",
        "12345",
        "1234567",
        "12345a",
        " 123456",
        "123456 ",
        "١٢٣٤٥٦",
        "12 456",
        "+12345",
        "-12345",
    ] {
        assert_eq!(
            check(&state, bad, NOW),
            (Outcome::Malformed, state),
            "input {bad:?}"
        );
    }
}

#[test]
fn window_arithmetic_near_the_epoch_and_far_future() {
    // At t = 0 there is no step -1: only step 0 is a candidate.
    let (out, _) = check(&State::default(), &code_at_step(0), 0);
    assert_eq!(out, Outcome::Accepted { step: 0 });
    let (out, _) = check(&State::default(), &code_at_step(0), 59);
    assert_eq!(out, Outcome::Accepted { step: 0 });
    // At u64::MAX seconds the window ends at the last representable step without overflow.
    let policy = Policy {
        steps_ahead: 3,
        steps_back: 255,
        ..Policy::PRODUCT
    };
    let last = u64::MAX / 60;
    let code = code_at_step(last);
    let (out, _) = verify_with_secret(&policy, &State::default(), &secret(), &code, u64::MAX);
    assert_eq!(out, Outcome::Accepted { step: last });
    // A state whose last step is already the final step refuses everything as spent or wrong.
    let spent = State {
        last_step: Some(u64::MAX),
        failures: 0,
        locked: false,
    };
    assert_eq!(
        verify_with_secret(&policy, &spent, &secret(), &code, u64::MAX).0,
        Outcome::Replayed
    );
}

#[test]
fn steps_ahead_and_other_digit_counts() {
    let policy = Policy {
        steps_ahead: 1,
        digits: Digits::new(8).unwrap(),
        step: Step::new(30).unwrap(),
        ..Policy::PRODUCT
    };
    let t = NOW / 30;
    let ahead = hotp(Algorithm::Sha1, &secret(), t + 1, policy.digits).to_string();
    assert_eq!(ahead.len(), 8);
    let (out, _) = verify_with_secret(&policy, &State::default(), &secret(), &ahead, NOW);
    assert_eq!(out, Outcome::Accepted { step: t + 1 });
    // Six digits under an eight-digit policy is malformed.
    let (out, _) = verify_with_secret(&policy, &State::default(), &secret(), "123456", NOW);
    assert_eq!(out, Outcome::Malformed);
}

#[test]
fn verify_takes_any_code_source() {
    // The browser and tests can supply codes from anywhere, e.g. a WebCrypto HMAC.
    let source = |_: u64| cloud_otp_core::truncate(&[0u8; 20], Digits::SIX).unwrap();
    let (out, _) = verify(&Policy::PRODUCT, &State::default(), "000000", NOW, source);
    assert_eq!(out, Outcome::Accepted { step: NOW / 60 });
    let _: Code = source(0);
}
