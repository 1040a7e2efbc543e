#!/usr/bin/env bash
# Runs every test of cloud-otp, installing what is missing first (scripts/bootstrap.sh test).
# This is the README's test command and exactly what CI runs (.ci/run).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TERM_COLOR=never

stage() { printf '\n==> %s\n' "$*"; }

stage "bootstrap"
scripts/bootstrap.sh test

stage "format and lints"
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked -p cloud-otp-core -p cloud-otp-web --target wasm32-unknown-unknown --all-targets -- -D warnings

stage "core, server (SQLite and PostgreSQL) and doc tests"
cargo test --locked --workspace

stage "browser module in headless Chromium"
crates/web/run-browser-tests.sh

stage "all tests passed"
