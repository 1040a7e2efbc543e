#!/usr/bin/env bash
# Makes this machine ready to build, run and test cloud-otp. Safe to re-run; quick when done.
#
# Usage: scripts/bootstrap.sh run|test
#   run   what `scripts/run.sh` needs: the wasm target and the standard library's source
#         (rust-src, which scripts/build-web.sh compiles for the browser), wasm-bindgen-cli at the
#         pinned version, trunk, binaryen (wasm-opt), node and npm with the npm packages of
#         www/build (Trunk's post-build hook and the minifier it runs).
#   test  all of that, plus Debian's chromium, chromium-driver, oathtool, python3-pyotp (a second
#         authenticator library), postgresql, curl and fonts-nanum (Korean screenshots); the other
#         two engines the tests run in: firefox-esr with geckodriver (built by cargo), and
#         webkit2gtk-driver (WebKitWebDriver and its MiniBrowser) with xvfb to give it a display;
#         and the npm packages of tests/e2e.
# Nothing here downloads a browser, a driver or a prebuilt tool: Debian packages and
# `cargo install --locked` from the crates.io registry only.
set -euo pipefail

mode="${1:-test}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tools go to ~/.cargo/bin even when CARGO_HOME points elsewhere (scripts/test.sh in CI mode
# downloads crates into a registry cache of its own; the tools it installs are kept).
tools_root="$HOME/.cargo"
export PATH="$tools_root/bin:$PATH"

# The one wasm-bindgen version: the CLI must match the crate exactly (the `=` pin in Cargo.toml).
wasm_bindgen_version="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' "$root/Cargo.toml")"
# The newest trunk needs a newer rustc than this machine's 1.95; 0.21.14 builds and works offline.
trunk_version="0.21.14"

say() { printf 'bootstrap: %s\n' "$*" >&2; }

# Trunk's post-build hook (www/build/post-build.mjs) runs on node, with npm packages.
apt_packages=(binaryen)
command -v node >/dev/null || apt_packages+=(nodejs)
command -v npm >/dev/null || apt_packages+=(npm)
if [ "$mode" = test ]; then
  # fonts-nanum: Korean glyphs for the screenshots of the Korean screens.
  apt_packages+=(chromium chromium-driver oathtool python3-pyotp postgresql curl fonts-nanum)
  # Firefox and the Safari engine (docs/browsers.md). MiniBrowser has no headless mode: Xvfb;
  # it speaks the C library's locale, compiled by the tests from the locales package's sources.
  apt_packages+=(firefox-esr webkit2gtk-driver xvfb locales)
fi
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! rustup component list --installed | grep -qx 'rust-src'; then
  say "adding the rust component rust-src (scripts/build-web.sh builds std for the browser)"
  rustup component add rust-src
fi

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wasm_bindgen_version" ]; then
  say "installing wasm-bindgen-cli $wasm_bindgen_version"
  cargo install --root "$tools_root" wasm-bindgen-cli --version "$wasm_bindgen_version" --locked --force
fi

if [ "$(trunk --version 2>/dev/null)" != "trunk $trunk_version" ]; then
  say "installing trunk $trunk_version"
  cargo install --root "$tools_root" trunk --version "$trunk_version" --locked --force
fi

# Dependency policy (deny.toml) and bounded fuzzing (scripts/fuzz.sh), for the tests only.
cargo_tool() { # NAME VERSION: `cargo install` unless that version is on PATH.
  if [ "$("$1" --version 2>/dev/null | awk '{print $NF}')" != "$2" ]; then
    say "installing $1 $2"
    cargo install --root "$tools_root" "$1" --version "$2" --locked --force
  fi
}
if [ "$mode" = test ]; then
  cargo_tool cargo-deny 0.20.2
  cargo_tool cargo-fuzz 0.13.2
  # Firefox's WebDriver, for the browser-module and end-to-end tests; not a Debian package. Its
  # --version line is "geckodriver 0.37.1 (commit date)", so it is checked on its own.
  geckodriver_version="0.37.1"
  if [ "$(geckodriver --version 2>/dev/null | awk 'NR == 1 {print $2}')" != "$geckodriver_version" ]; then
    say "installing geckodriver $geckodriver_version"
    cargo install --root "$tools_root" geckodriver --version "$geckodriver_version" --locked --force
  fi
fi

# Every crate the builds need, from the registry, so that the offline builds after this never miss
# one: the workspace's for every platform (cargo-deny reads windows-sys too), and the standard
# library's own dependencies, which scripts/build-web.sh compiles again for the browser
# (build-std reads them from rust-src's lock file; a registry cache that never held them fails
# with "no matching package named `moto-rt` found"). Quick when they are there.
cargo fetch --locked --quiet
RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
  cargo fetch --locked --quiet --target wasm32-unknown-unknown

# npm packages, from the registry by their lock files: www/build's for the web build, and
# tests/e2e's (Playwright and selenium-webdriver, driving Debian's browsers) for the tests.
npm_packages() { # DIR: `npm ci` unless its lock file is installed already.
  local stamp="$root/$1/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$root/$1/package-lock.json" -nt "$stamp" ]; then
    say "installing the npm packages of $1"
    (cd "$root/$1" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_packages www/build
if [ "$mode" = test ]; then
  npm_packages tests/e2e
fi
