//! The verification policy: which time steps a code may come from, replay refusal and the
//! failure lock, as one pure state machine (docs/product.md rules 1 to 4).

use subtle::ConstantTimeEq;

use crate::{Algorithm, Code, Digits, Secret, Step, counter_at, hotp};

/// How codes are checked. [`Policy::default`] keeps the rules of docs/product.md: 6 digits, SHA-1, a
/// 60-second step, steps t-1 and t accepted, nothing ahead, suspension after 5 failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The HMAC hash function.
    pub algorithm: Algorithm,
    /// Digits per code.
    pub digits: Digits,
    /// Seconds per time step.
    pub step: Step,
    /// Earlier steps still accepted (RFC 6238 section 5.2 "delay window"); 1 keeps the code
    /// that was on screen while the trainee typed valid right after it changes.
    pub steps_back: u8,
    /// Later steps accepted, for a device clock that runs fast.
    pub steps_ahead: u8,
    /// Consecutive wrong codes that suspend the user (RFC 4226 section 7.3 throttling).
    pub max_failures: u32,
}

impl Policy {
    /// The product's rules, usable in `const` context.
    ///
    /// ```
    /// use cloud_otp_core::Policy;
    /// assert_eq!(Policy::PRODUCT.max_failures, 5);
    /// assert_eq!(Policy::default(), Policy::PRODUCT);
    /// ```
    pub const PRODUCT: Policy = Policy {
        algorithm: Algorithm::Sha1,
        digits: Digits::SIX,
        step: Step::SIXTY,
        steps_back: 1,
        steps_ahead: 0,
        max_failures: 5,
    };
}

impl Default for Policy {
    fn default() -> Self {
        Policy::PRODUCT
    }
}

/// What the server remembers about one user's device between verifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct State {
    /// The time step of the last accepted code; it and every earlier step are spent.
    pub last_step: Option<u64>,
    /// Wrong codes since the last accepted one.
    pub failures: u32,
    /// Suspended until the institution unlocks the user.
    pub locked: bool,
}

/// The result of checking one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The code is right and fresh; `step` is now spent.
    Accepted {
        /// The time step the code belongs to.
        step: u64,
    },
    /// The code is wrong; `attempts_left` more wrong codes are allowed before suspension.
    Rejected {
        /// Wrong codes still allowed, at least 1.
        attempts_left: u32,
    },
    /// The code is right but its step was already used (docs/product.md rule 3). Not counted as a
    /// failure: the person holds the device, someone replays an old code.
    Replayed,
    /// The user is suspended: already before this attempt, or by this wrong code.
    Locked,
    /// Not exactly the policy's number of ASCII digits; not counted as a failure.
    Malformed,
}

/// Checks `code` at time `now_secs` against whatever produces the code of a counter.
///
/// `code_at(counter)` returns the expected code of a time step; the server passes an HMAC of
/// its stored secret, a test may pass anything. Every candidate step of the window is computed
/// and compared in constant time, so timing does not reveal which step matched. The returned
/// state is what must be stored; when it equals the input nothing needs writing.
///
/// ```
/// use cloud_otp_core::{Outcome, Policy, Secret, State, hotp, verify};
/// let p = Policy::PRODUCT;
/// let s = Secret::new(vec![42; 20]).unwrap();
/// let now = 1_800_000_000;
/// let code = hotp(p.algorithm, &s, now / 60, p.digits).to_string();
/// let codes = |c| hotp(p.algorithm, &s, c, p.digits);
/// let (out, st) = verify(&p, &State::default(), &code, now, codes);
/// assert_eq!(out, Outcome::Accepted { step: now / 60 });
/// let (again, _) = verify(&p, &st, &code, now, codes);
/// assert_eq!(again, Outcome::Replayed);
/// ```
pub fn verify(
    policy: &Policy,
    state: &State,
    code: &str,
    now_secs: u64,
    mut code_at: impl FnMut(u64) -> Code,
) -> (Outcome, State) {
    if state.locked {
        return (Outcome::Locked, *state);
    }
    let given = code.as_bytes();
    if given.len() != usize::from(policy.digits.get()) || !given.iter().all(u8::is_ascii_digit) {
        return (Outcome::Malformed, *state);
    }

    let now_step = counter_at(now_secs, policy.step);
    // Saturating arithmetic: near the epoch there is no step t-1, far in the future no t+1.
    let first = now_step.saturating_sub(u64::from(policy.steps_back));
    let last = now_step.saturating_add(u64::from(policy.steps_ahead));
    let mut fresh: Option<u64> = None;
    let mut spent = false;
    for step in first..=last {
        let (expected, n) = code_at(step).ascii();
        let matches: bool = expected[..n].ct_eq(given).into();
        let is_spent = state.last_step.is_some_and(|last| step <= last);
        if matches && is_spent {
            spent = true;
        } else if matches {
            fresh = Some(step);
        }
    }

    match fresh {
        Some(step) => {
            let next = State {
                last_step: Some(step),
                failures: 0,
                locked: false,
            };
            (Outcome::Accepted { step }, next)
        }
        None if spent => (Outcome::Replayed, *state),
        None => {
            let failures = state.failures.saturating_add(1);
            let locked = failures >= policy.max_failures;
            let next = State {
                last_step: state.last_step,
                failures,
                locked,
            };
            let outcome = if locked {
                Outcome::Locked
            } else {
                Outcome::Rejected {
                    attempts_left: policy.max_failures - failures,
                }
            };
            (outcome, next)
        }
    }
}

/// [`verify`] with the expected codes computed from `secret` by HOTP.
///
/// ```
/// use cloud_otp_core::{Outcome, Policy, Secret, State, verify_with_secret};
/// let s = Secret::new(vec![1; 20]).unwrap();
/// let (out, st) = verify_with_secret(&Policy::PRODUCT, &State::default(), &s, "12345", 0);
/// assert_eq!(out, Outcome::Malformed);
/// assert_eq!(st, State::default());
/// ```
pub fn verify_with_secret(
    policy: &Policy,
    state: &State,
    secret: &Secret,
    code: &str,
    now_secs: u64,
) -> (Outcome, State) {
    verify(policy, state, code, now_secs, |counter| {
        hotp(policy.algorithm, secret, counter, policy.digits)
    })
}
