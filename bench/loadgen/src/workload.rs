//! The workload: enrolled accounts and which code each request carries.
//!
//! A TOTP code is accepted once per user per step (RFC 6238 section 5.2), so a workload of
//! correct codes needs many users. The policy of both servers accepts the current step t
//! and the step before, so each user can be accepted twice per step: first with the code of
//! t-1, then with the code of t. [`Accounts::pick`] hands out each (user, step) pair at most
//! once, marking it before the request is sent, so concurrent requests never collide on a
//! user and a `replayed` answer means the server disagreed with the generator.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use cloud_otp_core::{Algorithm, Digits, Secret, Step, counter_at, hotp};

/// One enrolled account: the identifier the server knows it by and its TOTP secret.
#[derive(Debug)]
pub struct Account {
    /// User ID (cloud-otp) or token serial (privacyIDEA).
    pub id: String,
    /// The shared secret.
    pub secret: Secret,
}

/// Reads an accounts file: one `id<TAB>base32-secret` per line.
pub fn read_accounts(path: &Path) -> std::io::Result<Vec<Account>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut out = Vec::new();
    for (n, line) in file.lines().enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: line {}: expected id<TAB>base32-secret",
                    path.display(),
                    n + 1
                ),
            )
        };
        let (id, secret) = line.split_once('\t').ok_or_else(bad)?;
        let secret = Secret::from_base32(secret).map_err(|_| bad())?;
        out.push(Account {
            id: id.to_owned(),
            secret,
        });
    }
    Ok(out)
}

/// Appends accounts to a writer in the accounts-file format.
pub fn write_account(out: &mut impl Write, id: &str, secret: &Secret) -> std::io::Result<()> {
    writeln!(out, "{id}\t{}", secret.to_base32())
}

/// What one request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Index of the account.
    pub account: usize,
    /// The 6-digit code sent.
    pub code: String,
    /// The step whose code this is, for a correct code; `None` for a deliberately wrong one.
    pub step: Option<u64>,
}

/// The accounts of one target and the generator's record of which steps were handed out.
#[derive(Debug)]
pub struct Accounts {
    accounts: Vec<Account>,
    /// Visiting order: a fixed pseudo-random permutation, so consecutive requests touch
    /// users spread over the whole table rather than neighbouring rows.
    order: Vec<u32>,
    /// Per account: the last step handed out, 0 for none.
    last: Vec<AtomicU64>,
    cursor: AtomicU64,
    step: Step,
}

/// A small deterministic generator (xorshift64*) for the visiting order; quality is
/// irrelevant here, reproducibility is not.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// The 6-digit SHA-1 code of `secret` at `step`, zero-padded.
pub fn code_at(secret: &Secret, step: u64) -> String {
    hotp(Algorithm::Sha1, secret, step, Digits::SIX).to_string()
}

impl Accounts {
    /// Wraps `accounts` (60-second steps, 6 digits, SHA-1: the product's and the comparison's
    /// settings).
    pub fn new(accounts: Vec<Account>) -> Self {
        let n = accounts.len();
        let mut order: Vec<u32> = (0..u32::try_from(n).unwrap_or(u32::MAX)).collect();
        let mut seed = 0x9E37_79B9_7F4A_7C15;
        for i in (1..order.len()).rev() {
            let j = usize::try_from(xorshift(&mut seed) % (i as u64 + 1)).unwrap_or(0);
            order.swap(i, j);
        }
        Accounts {
            last: (0..n).map(|_| AtomicU64::new(0)).collect(),
            accounts,
            order,
            cursor: AtomicU64::new(0),
            step: Step::SIXTY,
        }
    }

    /// The number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The account at `index`.
    pub fn get(&self, index: usize) -> &Account {
        &self.accounts[index]
    }

    /// The TOTP step at `unix_secs`.
    pub fn step_at(&self, unix_secs: u64) -> u64 {
        counter_at(unix_secs, self.step)
    }

    /// The earliest step of `last`'s account still acceptable at step `now`, if any.
    fn next_step(last: u64, now: u64) -> Option<u64> {
        let s = (last + 1).max(now.saturating_sub(1));
        (s <= now).then_some(s)
    }

    /// Reads the steps handed out by an earlier run (one number per line, in account order),
    /// so that a new run does not hand out codes the server has already accepted. A file
    /// for a different number of accounts is ignored.
    pub fn load_steps(&self, path: &Path) -> std::io::Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let steps: Vec<u64> = text.lines().filter_map(|l| l.parse().ok()).collect();
        if steps.len() == self.last.len() {
            for (slot, step) in self.last.iter().zip(steps) {
                slot.store(step, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Writes the steps handed out, for [`Accounts::load_steps`].
    pub fn save_steps(&self, path: &Path) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for slot in &self.last {
            writeln!(out, "{}", slot.load(Ordering::Relaxed))?;
        }
        out.flush()
    }

    /// How many correct codes can still be handed out during step `now`.
    pub fn available(&self, now: u64) -> u64 {
        self.last
            .iter()
            .map(|l| match Self::next_step(l.load(Ordering::Relaxed), now) {
                Some(s) => now - s + 1,
                None => 0,
            })
            .sum()
    }

    /// A correct code for a user not yet served at its step, or `None` when every user has
    /// been served for step `now` and the one before.
    pub fn pick(&self, now: u64) -> Option<Job> {
        let n = self.order.len() as u64;
        for _ in 0..n {
            let pos = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
            let index = self.order[usize::try_from(pos).unwrap_or(0)] as usize;
            let last = self.last[index].load(Ordering::Relaxed);
            let Some(step) = Self::next_step(last, now) else {
                continue;
            };
            if self.last[index]
                .compare_exchange(last, step, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                let code = code_at(&self.accounts[index].secret, step);
                return Some(Job {
                    account: index,
                    code,
                    step: Some(step),
                });
            }
        }
        None
    }

    /// A wrong code (the current code plus 500000, modulo 10^6) for the user served just
    /// before. Each user gets at most one wrong code per visit of the cursor and a correct one
    /// resets the failure count, so no user reaches the lock threshold of 5.
    pub fn wrong(&self, now: u64) -> Option<Job> {
        let n = self.order.len() as u64;
        if n == 0 {
            return None;
        }
        let pos = (self.cursor.load(Ordering::Relaxed) + n - 1) % n;
        let index = self.order[usize::try_from(pos).unwrap_or(0)] as usize;
        let right = hotp(
            Algorithm::Sha1,
            &self.accounts[index].secret,
            now,
            Digits::SIX,
        )
        .value();
        Some(Job {
            account: index,
            code: format!("{:06}", (right + 500_000) % 1_000_000),
            step: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn accounts(n: usize) -> Accounts {
        Accounts::new(
            (0..n)
                .map(|i| Account {
                    id: format!("u{i}"),
                    secret: Secret::new(vec![u8::try_from(i).unwrap(); 20]).unwrap(),
                })
                .collect(),
        )
    }

    #[test]
    fn each_user_twice_per_step_then_exhausted() {
        let a = accounts(3);
        let now = 1000;
        assert_eq!(a.available(now), 6);
        let mut seen = Vec::new();
        while let Some(job) = a.pick(now) {
            seen.push((job.account, job.step.unwrap()));
        }
        seen.sort_unstable();
        assert_eq!(
            seen,
            [
                (0, 999),
                (0, 1000),
                (1, 999),
                (1, 1000),
                (2, 999),
                (2, 1000)
            ]
        );
        assert_eq!(a.available(now), 0);
        assert_eq!(a.available(now + 1), 3);
        assert_eq!(a.pick(now + 1).unwrap().step, Some(1001));
    }

    #[test]
    fn steps_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("bench-steps-{}", std::process::id()));
        let a = accounts(2);
        a.pick(70).unwrap();
        a.save_steps(&dir).unwrap();
        let b = accounts(2);
        b.load_steps(&dir).unwrap();
        assert_eq!(b.available(70), a.available(70));
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn codes_are_rfc4226_codes() {
        // RFC 4226 Appendix D: secret "12345678901234567890", counter 1 -> 287082.
        let secret = Secret::new(b"12345678901234567890".to_vec()).unwrap();
        assert_eq!(code_at(&secret, 1), "287082");
    }

    #[test]
    fn wrong_code_differs_from_the_right_one() {
        let a = accounts(2);
        a.pick(50).unwrap();
        let job = a.wrong(50).unwrap();
        assert_ne!(job.code, code_at(&a.get(job.account).secret, 50));
        assert_eq!(job.code.len(), 6);
        assert_eq!(job.step, None);
    }
}
