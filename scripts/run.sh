#!/usr/bin/env bash
# Builds cloud-otp (the web app with Trunk, the server with cargo) and starts the server with
# the demo institution on SQLite. This is the README's run command; extra arguments go to
# `cloud-otp serve` (for example --listen 127.0.0.1:9090 or --database postgres://...; the demo refuses
# a non-loopback address unless --demo-on-public-address is given, see docs/security.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"

scripts/bootstrap.sh run
scripts/build-web.sh >&2
# The demo is a cargo feature (crates/server/Cargo.toml), off in a production build.
cargo build --release --locked -p cloud-otp-server --features demo >&2
exec target/release/cloud-otp serve --demo --dist dist "$@"
