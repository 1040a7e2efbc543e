//! Test institutions: what their verifications answer instead of checking the code, so an
//! institution's own CI can drive every widget outcome without a real trainee's device
//! (docs/integration.md, "Test institutions").
//!
//! A test institution is made so when it is created (`tenant create --test MODE`) and can
//! never become a real one, nor a real one a test one: its API key starts with
//! [`TEST_KEY_PREFIX`], and every pass it issues is answered with `"test": true`.

use cloud_otp_core::{Outcome, Policy, State};

use crate::validate::Invalid;

/// How a test institution's API keys begin, so a key in a CI configuration shows what it is.
pub const TEST_KEY_PREFIX: &str = "cok_test_";

/// The fixed outcome of a test institution's verifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestMode {
    /// Every well-formed code is accepted, again and again (no replay, no lock).
    AlwaysPass,
    /// Every code is wrong, with the same attempts left each time; it never suspends.
    AlwaysFail,
    /// Every code is answered as from a suspended trainee (`423 locked`).
    AlwaysSuspended,
}

impl TestMode {
    /// Checks the operator's spelling: `always-pass`, `always-fail` or `always-suspended`.
    ///
    /// ```
    /// use cloud_otp_server::test_mode::TestMode;
    /// assert_eq!(TestMode::parse("always-pass"), Ok(TestMode::AlwaysPass));
    /// assert_eq!(TestMode::parse("always-suspended"), Ok(TestMode::AlwaysSuspended));
    /// assert!(TestMode::parse("pass").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match text {
            "always-pass" => Ok(TestMode::AlwaysPass),
            "always-fail" => Ok(TestMode::AlwaysFail),
            "always-suspended" => Ok(TestMode::AlwaysSuspended),
            _ => Err(Invalid(
                "--test must be always-pass, always-fail or always-suspended",
            )),
        }
    }

    /// The operator's spelling, as `parse` takes it and `tenant list` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            TestMode::AlwaysPass => "always-pass",
            TestMode::AlwaysFail => "always-fail",
            TestMode::AlwaysSuspended => "always-suspended",
        }
    }

    /// The stored value (column `tenants.test_mode`).
    pub fn stored(self) -> &'static str {
        match self {
            TestMode::AlwaysPass => "always_pass",
            TestMode::AlwaysFail => "always_fail",
            TestMode::AlwaysSuspended => "always_suspended",
        }
    }

    /// The mode of a stored value; `None` for a value this version does not know.
    pub fn from_stored(text: &str) -> Option<Self> {
        [
            TestMode::AlwaysPass,
            TestMode::AlwaysFail,
            TestMode::AlwaysSuspended,
        ]
        .into_iter()
        .find(|m| m.stored() == text)
    }

    /// What a well-formed code gets at `now_secs`, and the state to store: the state never
    /// changes, so no code is spent and no failure counted.
    ///
    /// ```
    /// use cloud_otp_core::{Outcome, Policy, State};
    /// use cloud_otp_server::test_mode::TestMode;
    /// let policy = Policy::default();
    /// let state = State::default();
    /// let (outcome, next) = TestMode::AlwaysPass.decide(&policy, &state, 600);
    /// assert_eq!(outcome, Outcome::Accepted { step: 10 });
    /// assert_eq!(next, state);
    /// let (outcome, _) = TestMode::AlwaysFail.decide(&policy, &state, 600);
    /// assert_eq!(outcome, Outcome::Rejected { attempts_left: policy.max_failures - 1 });
    /// ```
    pub fn decide(self, policy: &Policy, state: &State, now_secs: u64) -> (Outcome, State) {
        let outcome = match self {
            TestMode::AlwaysPass => Outcome::Accepted {
                step: now_secs / policy.step.secs(),
            },
            TestMode::AlwaysFail => Outcome::Rejected {
                attempts_left: policy.max_failures.saturating_sub(1).max(1),
            },
            TestMode::AlwaysSuspended => Outcome::Locked,
        };
        (outcome, *state)
    }
}
