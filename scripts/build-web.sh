#!/usr/bin/env bash
# Builds the trainee web app (index.html, www/, the cloud-otp-web module) into dist/ with Trunk,
# as small as it can be. scripts/run.sh and scripts/test.sh build it here; extra arguments go
# to `trunk build` (for example --dist DIR).
#
# The standard library is compiled again for the browser with panics that stop on the spot
# (-Cpanic=immediate-abort): the module then carries none of std's panic machinery (message
# formatting, the panic hook, the panic count), 4.3 KB of the app's 71 KB after gzip
# (docs/benchmarks-history.md). A panic in the browser already ended in a trap with no message (the
# module installs no console hook), and the workspace lints forbid unwrap, expect and panic, so
# nobody sees a difference. Both are unstable options of rustc and cargo: RUSTC_BOOTSTRAP=1 lets
# this machine's stable toolchain use them, in this build only, and rust-src
# (scripts/bootstrap.sh) is the source they compile.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort"
exec trunk build --release --offline --locked "$@"
