//! HOTP computations per second (RFC 4226 section 5.3: HMAC-SHA-1, dynamic truncation, 6
//! digits), the work every code check does once per step in its window. Run by
//! bench/core.sh beside Node's crypto.createHmac and the npm `otpauth` library doing the
//! same work (docs/benchmarks.md, part 3).

use std::hint::black_box;

use cloud_otp_core::{Algorithm, Digits, Policy, Secret, State, hotp, verify_with_secret};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn benches(c: &mut Criterion) {
    // The RFC 4226 Appendix D secret; any 20 bytes cost the same.
    let Ok(secret) = Secret::new(b"12345678901234567890".to_vec()) else {
        return;
    };
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(1));
    let mut counter = 0u64;
    group.bench_function("hotp_sha1_6", |b| {
        b.iter(|| {
            counter = counter.wrapping_add(1);
            hotp(
                Algorithm::Sha1,
                black_box(&secret),
                black_box(counter),
                Digits::SIX,
            )
        })
    });
    // A whole decision of the product policy: the codes of steps t-1 and t, compared in
    // constant time.
    let state = State::default();
    group.bench_function("verify_product_policy", |b| {
        b.iter(|| {
            verify_with_secret(
                &Policy::PRODUCT,
                black_box(&state),
                &secret,
                black_box("123456"),
                black_box(1_800_000_000),
            )
        })
    });
    group.finish();
}

criterion_group!(core, benches);
criterion_main!(core);
