#!/usr/bin/env bash
# Runs every test of cloud-otp, installing what is missing first (scripts/bootstrap.sh test).
# This is the README's test command and exactly what CI runs (.ci/run).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TERM_COLOR=never
if [ "${CI:-}" = true ]; then
  # A CI run builds once from a clean checkout: incremental caches (about 2 GB) would only fill
  # its disk.
  export CARGO_INCREMENTAL=0
  # A newcomer's machine has never downloaded a crate or an npm package. CI downloads into
  # caches of its own, under target/, so a fetch step that is missing fails here and not for
  # them. The tools installed before (~/.cargo/bin, Debian's packages) stay on PATH.
  export CARGO_HOME="$root/target/cargo-home"
  export npm_config_cache="$root/target/npm-cache"
  mkdir -p "$CARGO_HOME"
fi

stage() { printf '\n==> %s\n' "$*"; }

stage "bootstrap"
# A full disk fails the build far from its cause; show the space at the start.
df -h "$root" | tail -n 1
scripts/bootstrap.sh test

stage "format and lints"
cargo fmt --all -- --check
# The server with the demo (cargo feature `demo`, which the e2e tests use) and without it (the
# production build).
cargo clippy --locked --workspace --all-targets --features cloud-otp-server/demo -- -D warnings
cargo clippy --locked -p cloud-otp-server --all-targets --no-default-features -- -D warnings
# The core must build for the browser; its tests need native processes (oathtool), so only its lib.
cargo clippy --locked -p cloud-otp-core --target wasm32-unknown-unknown -- -D warnings
cargo clippy --locked -p cloud-otp-web --target wasm32-unknown-unknown --all-targets -- -D warnings

stage "dependency policy (deny.toml; advisories need the network and are not checked)"
# --offline only keeps it from fetching the advisory database; the bootstrap fetched every
# platform's crates, which it reads.
cargo deny --offline check licenses bans sources

stage "core, server (SQLite and PostgreSQL) and doc tests"
cargo test --locked --workspace --features cloud-otp-server/demo
# Built without the demo, `serve --demo` names the feature it needs (tests/serving.rs).
cargo test --locked -p cloud-otp-server --no-default-features --test serving

stage "browser module in Chromium, Firefox and WebKit"
# With the demo: the end-to-end tests below start `cloud-otp serve --demo`.
cargo build --locked -p cloud-otp-server --features demo
crates/web/run-browser-tests.sh target/debug/cloud-otp

stage "web app build (Trunk) and end-to-end tests (Chromium; the main flows also in Firefox and WebKit)"
# The post-build patches on their own first (www/build/patch.test.mjs), then the real build.
(cd www/build && node --test)
scripts/build-web.sh
CLOUD_OTP_BIN=target/debug/cloud-otp CLOUD_OTP_DIST=dist tests/e2e/run.sh

stage "fuzzing, 20 seconds per target"
scripts/fuzz.sh 20

stage "all tests passed"
