//! Cross-check against Debian's `oathtool`, an independent implementation, for random keys and
//! times (the test command installs it; this test fails rather than skips without it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails loudly on unexpected input.

use std::process::Command;

use cloud_otp_core::{Algorithm, Digits, Secret, Step, hotp, totp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn oathtool(args: &[String]) -> String {
    let out = Command::new("oathtool")
        .args(args)
        .output()
        .expect("oathtool must be installed (apt-get install oathtool)");
    assert!(
        out.status.success(),
        "oathtool {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn totp_matches_oathtool() {
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec(any::<u8>(), 10..=64),
        prop_oneof![
            Just(Algorithm::Sha1),
            Just(Algorithm::Sha256),
            Just(Algorithm::Sha512)
        ],
        0u64..=4_000_000_000,
        prop_oneof![Just(30u64), Just(60u64)],
        6u64..=8,
    );
    runner
        .run(&strategy, |(key, alg, now, step, digits)| {
            let secret = Secret::new(key.clone()).unwrap();
            let ours = totp(
                alg,
                &secret,
                now,
                Step::new(step).unwrap(),
                Digits::new(digits).unwrap(),
            )
            .to_string();
            let mode = format!("--totp={}", alg.as_str().to_lowercase());
            let theirs = oathtool(&[
                mode,
                format!("--time-step-size={step}s"),
                format!("--now=@{now}"),
                format!("--digits={digits}"),
                hex(&key),
            ]);
            prop_assert_eq!(
                ours,
                theirs,
                "key {} alg {} now {} step {}",
                hex(&key),
                alg,
                now,
                step
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn hotp_matches_oathtool() {
    let mut runner = TestRunner::new(Config {
        cases: 32,
        ..Config::default()
    });
    runner
        .run(
            &(
                proptest::collection::vec(any::<u8>(), 10..=40),
                0u64..=u32::MAX as u64,
            ),
            |(key, counter)| {
                let secret = Secret::new(key.clone()).unwrap();
                let ours = hotp(Algorithm::Sha1, &secret, counter, Digits::SIX).to_string();
                let theirs = oathtool(&[format!("--counter={counter}"), hex(&key)]);
                prop_assert_eq!(ours, theirs);
                Ok(())
            },
        )
        .unwrap();
}
