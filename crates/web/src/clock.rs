//! Server time in the browser: the offset between the device clock and the server's, measured
//! from one `GET /v1/time` round trip, and the TOTP step and remaining time on the corrected
//! clock (docs/product.md rule 8: the device clock and its time zone never matter).
//!
//! Everything here is a pure function of the times it is given, except [`device_now_ms`], the
//! one place that reads the device clock.

use cloud_otp_core::{Step, counter_at, remaining_secs};

/// The device clock, in Unix milliseconds (`Date.now()`; `SystemTime` is not available on
/// wasm32-unknown-unknown). Date.now() is UTC, so the device's time zone plays no part.
pub fn device_now_ms() -> f64 {
    js_sys::Date::now()
}

/// One clock measurement: the device time when a request left and when its answer arrived,
/// and the server time in that answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Device time when the request was sent (Unix ms).
    pub sent_ms: f64,
    /// Device time when the answer arrived (Unix ms).
    pub received_ms: f64,
    /// The server's time in the answer (Unix ms).
    pub server_ms: f64,
}

/// Server time minus device time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offset(i64);

impl Offset {
    /// No correction: what the module uses before it has heard from the server.
    pub const ZERO: Offset = Offset(0);

    /// An offset of `ms` milliseconds (server ahead of the device when positive).
    pub fn from_millis(ms: i64) -> Offset {
        Offset(ms)
    }

    /// The offset in milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// The offset that a sample shows, assuming the server read its clock halfway through the
    /// round trip (the same estimate as NTP's, RFC 5905 section 8, with one server timestamp).
    ///
    /// ```
    /// use cloud_otp_web::clock::{Offset, Sample};
    /// // The device is 3 hours behind; the round trip took 200 ms.
    /// let s = Sample { sent_ms: 1_000.0, received_ms: 1_200.0, server_ms: 10_801_100.0 };
    /// assert_eq!(Offset::from_sample(&s).millis(), 10_800_000);
    /// ```
    pub fn from_sample(sample: &Sample) -> Offset {
        // A device clock stepped backwards during the request gives a negative round trip:
        // then the arrival time is the best guess of when the server answered.
        let midpoint = if sample.received_ms >= sample.sent_ms {
            sample.sent_ms + (sample.received_ms - sample.sent_ms) / 2.0
        } else {
            sample.received_ms
        };
        Offset((sample.server_ms - midpoint).round() as i64)
    }
}

/// The server's time now, in Unix milliseconds, given the device time and the offset; never
/// before the epoch.
///
/// ```
/// use cloud_otp_web::clock::{Offset, server_time_ms};
/// assert_eq!(server_time_ms(1_000.0, Offset::from_millis(-500)), 500);
/// assert_eq!(server_time_ms(1_000.0, Offset::from_millis(-5_000)), 0);
/// ```
pub fn server_time_ms(device_ms: f64, offset: Offset) -> u64 {
    let ms = device_ms.floor() as i64;
    ms.saturating_add(offset.millis()).max(0) as u64
}

/// Where a moment falls in the TOTP time steps: the counter of its code and how long that code
/// still has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTime {
    /// The TOTP counter (RFC 6238 section 4.2, T0 = 0).
    pub counter: u64,
    /// Milliseconds until the next code: from the step length down to 1.
    pub remaining_ms: u64,
    /// Whole seconds until the next code, as the core counts them: from the step down to 1.
    pub remaining_secs: u64,
}

/// The step of the server time `server_ms`.
///
/// ```
/// use cloud_otp_core::Step;
/// use cloud_otp_web::clock::step_time;
/// let t = step_time(119_250, Step::SIXTY);
/// assert_eq!((t.counter, t.remaining_ms, t.remaining_secs), (1, 750, 1));
/// ```
pub fn step_time(server_ms: u64, step: Step) -> StepTime {
    let secs = server_ms / 1000;
    let step_ms = step.secs().saturating_mul(1000);
    StepTime {
        counter: counter_at(secs, step),
        remaining_ms: step_ms - server_ms % step_ms,
        remaining_secs: remaining_secs(secs, step),
    }
}

/// Whether the server time `server_ms` is at least `guard_ms` from both ends of its step: then
/// a clock offset that is off by less than `guard_ms` still gives the same step, and the same
/// code.
///
/// ```
/// use cloud_otp_core::Step;
/// use cloud_otp_web::clock::clear_of_step_edges;
/// assert!(clear_of_step_edges(30_000, Step::SIXTY, 5_000));
/// assert!(clear_of_step_edges(55_000, Step::SIXTY, 5_000));
/// assert!(!clear_of_step_edges(55_001, Step::SIXTY, 5_000));
/// assert!(!clear_of_step_edges(64_999, Step::SIXTY, 5_000));
/// assert!(clear_of_step_edges(65_000, Step::SIXTY, 5_000));
/// ```
pub fn clear_of_step_edges(server_ms: u64, step: Step, guard_ms: u64) -> bool {
    let step_ms = step.secs().saturating_mul(1000);
    let into = server_ms % step_ms;
    into >= guard_ms && step_ms - into >= guard_ms
}
