#!/usr/bin/env bash
# Runs the end-to-end tests of the web app against the real server, which each test file starts
# itself: in Debian's headless Chromium, and engines.test.mjs also in Firefox ESR (geckodriver)
# and WebKitGTK (WebKitWebDriver under Xvfb). Build first:
#   cargo build --locked -p cloud-otp-server --features demo && scripts/build-web.sh
# Environment (paths relative to the repository root):
#   CLOUD_OTP_BIN   the server binary (default target/debug/cloud-otp)
#   CLOUD_OTP_DIST  the built web app (default dist)
#   CHROMIUM        the browser (default /usr/bin/chromium)
#   CLOUD_OTP_ENGINES  the engines of engines.test.mjs (default "chromium firefox webkit")
# Screenshots of every screen go to target/screenshots/ (desktop-*.png, mobile-*.png, and
# chromium-*.png, firefox-*.png, webkit-*.png).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CLOUD_OTP_BIN="${CLOUD_OTP_BIN:-$root/target/debug/cloud-otp}"
export CLOUD_OTP_DIST="${CLOUD_OTP_DIST:-$root/dist}"

[[ -x "$CLOUD_OTP_BIN" ]] || { echo "e2e: no server binary at $CLOUD_OTP_BIN (cargo build -p cloud-otp-server --features demo)" >&2; exit 1; }
[[ -f "$CLOUD_OTP_DIST/cloud-otp-web_bg.wasm" ]] || { echo "e2e: no built web app in $CLOUD_OTP_DIST (scripts/build-web.sh)" >&2; exit 1; }
[[ -d "$here/node_modules/playwright-core" ]] || (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

cd "$here"
# One file at a time: each starts its own server and browser, and the machine has two cores.
exec node --test --test-concurrency=1 "$@"
