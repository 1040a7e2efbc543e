#!/usr/bin/env bash
# Runs every wasm test of crates/web in three engines, one after the other: headless Chromium
# (chromedriver), headless Firefox ESR (geckodriver) and WebKitGTK's MiniBrowser
# (WebKitWebDriver, under Xvfb), including tests/server.rs against a real cloud-otp server. For
# each engine: starts the server on SQLite in a fresh temporary data directory on a free
# loopback port, creates a tenant whose origin is the test runner's page, opens sessions and an
# activation code with curl, runs the tests with those values, and stops the server.
#
# Usage: crates/web/run-browser-tests.sh [PATH_TO_cloud-otp_BINARY] [-- extra cargo test args]
#   The binary may also come from $CLOUD_OTP_BIN; without either, it is built with cargo.
#   CLOUD_OTP_ENGINES: the engines, default "chromium firefox webkit".
#   CHROMEDRIVER defaults to /usr/bin/chromedriver, GECKODRIVER to the geckodriver on PATH
#   (scripts/bootstrap.sh builds it), SAFARIDRIVER to /usr/bin/WebKitWebDriver;
#   CARGO_TARGET_DIR is honoured.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
chromedriver="${CHROMEDRIVER:-/usr/bin/chromedriver}"
geckodriver="${GECKODRIVER:-$(command -v geckodriver || true)}"
webkitdriver="${SAFARIDRIVER:-/usr/bin/WebKitWebDriver}"
read -r -a engines <<<"${CLOUD_OTP_ENGINES:-chromium firefox webkit}"
# The runner's default of 20 s per test binary is tight on a busy 2-core machine.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"

bin="${CLOUD_OTP_BIN:-}"
if [[ $# -gt 0 && "$1" != "--" ]]; then
  bin="$1"
  shift
fi
[[ "${1:-}" == "--" ]] && shift
if [[ -z "$bin" ]]; then
  cargo build --locked --quiet --manifest-path "$root/Cargo.toml" -p cloud-otp-server --bin cloud-otp
  bin="$target_dir/debug/cloud-otp"
fi
[[ -x "$bin" ]] || { echo "run-browser-tests: no cloud-otp binary at $bin" >&2; exit 1; }

# A loopback port nobody listens on (a connection attempt is refused), below the kernel's
# range of ports for outgoing connections: a port in that range may be the local end of a
# connection that closed less than a minute ago (TIME_WAIT), which no probe sees and which makes
# a listener's bind fail with "Address already in use" (seen right after the server tests).
ephemeral_low=32768
read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
(( ephemeral_low > 11000 )) || ephemeral_low=32768
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((10000 + RANDOM % (ephemeral_low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "run-browser-tests: no free port found" >&2
  return 1
}

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

cd "$root"

# Starts a server with a fresh database for ENGINE and exports what tests/server.rs reads: each
# engine registers the same users from scratch. The values are read at compile time, so only
# that test binary is compiled again.
start_server() {
  local engine="$1" runner_port origin server_port api_key token user activation_code
  # The runner serves the test page here (it honours WASM_BINDGEN_TEST_ADDRESS in headless
  # mode, both for its server and for the URL it opens), so this is the page's origin.
  runner_port="$(free_port)"
  origin="http://127.0.0.1:$runner_port"
  export WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$runner_port"
  server_port="$(free_port)"
  while [[ "$server_port" == "$runner_port" ]]; do server_port="$(free_port)"; done
  server="http://127.0.0.1:$server_port"
  export CLOUD_OTP_DATA_DIR="$work/$engine"
  mkdir -p "$CLOUD_OTP_DATA_DIR"

  api_key="$("$bin" tenant create --name "Browser test institute" --customer-code "$customer_code" \
    --origin "$origin" | tail -n1)"
  [[ -n "$api_key" ]] || { echo "run-browser-tests: tenant create printed no API key" >&2; return 1; }

  "$bin" serve --listen "127.0.0.1:$server_port" >"$work/$engine.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$server/v1/time" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/$engine.log" >&2; return 1; }
    sleep 0.1
  done
  curl -fsS "$server/v1/time" >/dev/null || { cat "$work/$engine.log" >&2; return 1; }

  # POST with the institution's API key; prints the answer, fails on an HTTP error.
  institution() {
    curl -fsS -X POST -H "authorization: Bearer $api_key" -H 'content-type: application/json' \
      --data "$2" "$server$1"
  }
  sessions=""
  for user in alice bob carol dave erin grace henry; do
    for _ in 1 2; do
      token="$(institution /v1/sessions "{\"user_id\":\"$user\",\"purpose\":\"course_entry\"}" | json_field session)"
      [[ -n "$token" ]] || { echo "run-browser-tests: no session for $user" >&2; return 1; }
      sessions="${sessions:+$sessions,}$user:$token"
    done
  done
  activation_code="$(institution /v1/users/frank/activation '{}' | json_field activation_code)"
  [[ -n "$activation_code" ]] || { echo "run-browser-tests: no activation code" >&2; return 1; }

  export CLOUD_OTP_TEST_SERVER="$server"
  export CLOUD_OTP_TEST_SESSIONS="$sessions"
  export CLOUD_OTP_TEST_ACTIVATION="$customer_code:frank:$activation_code"
}

# The value of a string field in a flat JSON answer.
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

customer_code="4321"
for engine in "${engines[@]}"; do
  printf '\n--- browser-module tests in %s ---\n' "$engine"
  start_server "$engine"
  # The runner takes the first driver it finds set, in the order geckodriver, safaridriver,
  # chromedriver: each engine gets exactly one, or a Chromium run would silently be a Firefox run.
  run=(env -u GECKODRIVER -u SAFARIDRIVER -u CHROMEDRIVER -u GECKODRIVER_REMOTE
    -u SAFARIDRIVER_REMOTE -u CHROMEDRIVER_REMOTE)
  case "$engine" in
    chromium) run+=("CHROMEDRIVER=$chromedriver") ;;
    firefox)
      [[ -x "$geckodriver" ]] || { echo "run-browser-tests: no geckodriver (scripts/bootstrap.sh test)" >&2; exit 1; }
      # Debian's binary is firefox-esr; the runner adds -headless. The prefs that would answer
      # the storage-persistence prompt are off: the module must never wait on it
      # (docs/browsers.md).
      cat >"$work/firefox.json" <<JSON
{"moz:firefoxOptions": {"binary": "${FIREFOX:-/usr/bin/firefox-esr}", "prefs": {
  "dom.storageManager.prompt.testing": false, "dom.storageManager.prompt.testing.allow": false}}}
JSON
      run+=("GECKODRIVER=$geckodriver" "WASM_BINDGEN_TEST_WEBDRIVER_JSON=$work/firefox.json") ;;
    webkit)
      # WebKitWebDriver stands in for safaridriver (the runner sends it no capabilities, and it
      # starts its own MiniBrowser); MiniBrowser has no headless mode, so Xvfb gives it a screen.
      run+=("SAFARIDRIVER=$webkitdriver" xvfb-run -a) ;;
    *) echo "run-browser-tests: unknown engine $engine (chromium, firefox, webkit)" >&2; exit 1 ;;
  esac
  if ! "${run[@]}" cargo test --locked -p cloud-otp-web --target wasm32-unknown-unknown "$@"; then
    echo "--- server log ($engine) ---" >&2
    tail -n 50 "$work/$engine.log" >&2
    exit 1
  fi
  stop_server
done
