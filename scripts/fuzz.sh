#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time: scripts/fuzz.sh [SECONDS per
# target, default 60]. Exits non-zero on the first crash; the input that crashed is kept in
# fuzz/artifacts/TARGET/ (turn it into a regression test, see docs/security.md).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler (libFuzzer is
# built from source). cargo-fuzz passes nightly -Z flags to rustc; RUSTC_BOOTSTRAP=1 lets the
# stable compiler accept them. AddressSanitizer's runtime ships with stable rustc; set
# FUZZ_SANITIZER=none where it is missing.
set -euo pipefail

seconds="${1:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/fuzz}"

command -v cargo-fuzz >/dev/null || {
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 1
}

targets="$(cargo fuzz list)"
cargo fuzz build --sanitizer "$sanitizer"
for target in $targets; do
  mkdir -p "corpus/$target"
  echo "fuzzing $target for ${seconds}s"
  # The first directory collects new inputs; seeds/ are the committed starting points.
  cargo fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
echo "fuzz: $(echo $targets | wc -w) targets, ${seconds}s each, no crash"
