#!/usr/bin/env bash
# Shared by the benchmark scripts (sourced): paths, the release build, throwaway servers on
# loopback and a throwaway PostgreSQL cluster, all stopped again when the script exits.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
RUN=${BENCH_RUN_DIR:-$ROOT/target/bench-run}
PIDS=()
PG_DIRS=()
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ "$(id -u)" = 0 ]; then AS_PG=(runuser -u postgres --); else AS_PG=(); fi

say() { echo "== $*" >&2; }

build() {
  say "building (release)"
  (cd "$ROOT" && cargo build --release -q -p cloud-otp-server -p cloud-otp-bench)
}

cleanup() {
  local pid d
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  for d in "${PG_DIRS[@]}"; do
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_http URL SECONDS: polls until the URL answers, at most SECONDS.
wait_http() {
  local i
  for i in $(seq 1 $(($2 * 10))); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1 within $2 s" >&2
  return 1
}

# enroll_direct DIR N [DATABASE_URL]: a new database in DIR (SQLite in DIR/data unless a URL
# is given) with the tenant "Bench" (its API key in DIR/key) and N users enrolled straight
# through the server's storage code (the accounts in DIR/users.tsv, the time in
# DIR/enrolled.txt). Kept for later runs: the callers build it once.
enroll_direct() {
  local dir=$1 n=$2 db=${3:-} start
  local dbarg=()
  [ -n "$db" ] && dbarg=(--database "$db")
  rm -rf "$dir/data" "$dir/key" "$dir/users.tsv"
  mkdir -p "$dir"
  export CLOUD_OTP_DATA_DIR=$dir/data
  "$BIN/cloud-otp" tenant create --name Bench --customer-code 4242 "${dbarg[@]}" | tail -n1 >"$dir/key"
  say "enrolling $n users directly (once; kept for later runs)"
  start=$(date +%s)
  "$BIN/cloud-otp-bench" enroll-direct "${dbarg[@]}" --data-dir "$dir/data" --customer-code 4242 \
    --count "$n" --out "$dir/users.tsv.part"
  mv "$dir/users.tsv.part" "$dir/users.tsv"
  echo "enrolled $n users in $(($(date +%s) - start)) s" | tee "$dir/enrolled.txt" >&2
}

# start_cloud_otp DIR PORT [DATABASE_URL]: the tenant "Bench" (its API key in DIR/key, made
# once per database) and `cloud-otp serve` on 127.0.0.1:PORT; sets SERVER_PID and KEY.
start_cloud_otp() {
  local dir=$1 port=$2 db=${3:-}
  local dbarg=()
  [ -n "$db" ] && dbarg=(--database "$db")
  mkdir -p "$dir"
  export CLOUD_OTP_DATA_DIR=$dir/data
  if [ ! -s "$dir/key" ]; then
    "$BIN/cloud-otp" tenant create --name Bench --customer-code 4242 "${dbarg[@]}" |
      tail -n1 >"$dir/key"
  fi
  KEY=$(cat "$dir/key")
  # --rate-limit 0: the browser endpoints' per-address limit would refuse the floor's
  # GET /v1/time from one loopback client; /v1/check, an institution endpoint, has none.
  "$BIN/cloud-otp" serve "${dbarg[@]}" --listen "127.0.0.1:$port" --rate-limit 0 --dist "$dir/no-web-app" \
    >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_http "http://127.0.0.1:$port/v1/time" 30
}

# pg_start DIR PORT: a throwaway PostgreSQL cluster (Debian's binaries, trust auth, loopback
# only, default durability settings); sets PG_URL.
pg_start() {
  rm -rf "$1"
  pg_start_kept "$@"
}

# pg_start_kept DIR PORT: the same, but a cluster already in DIR is kept for later runs (the
# databases of 10^6 users that bench/growth.sh and bench/soak.sh build once).
pg_start_kept() {
  local dir=$1 port=$2
  [ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL not found under /usr/lib/postgresql" >&2; exit 1; }
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    "${AS_PG[@]}" "$PG_BIN/initdb" -D "$dir/data" -A trust -U cloudotp >/dev/null
  fi
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -o "-k $dir -h 127.0.0.1 -p $port" \
    -l "$dir/log" -w start >/dev/null
  PG_DIRS+=("$dir")
  PG_URL="postgres://cloudotp@127.0.0.1:$port/postgres"
}

# target NAME KIND PORT ACCOUNTS PID [KEY]: one line of a targets file.
target() {
  printf '{"name":"%s","kind":"%s","addr":"127.0.0.1:%s","accounts":"%s","pid":%s%s}\n' \
    "$1" "$2" "$3" "$4" "$5" "${6:+,\"key\":\"$6\"}"
}

# machine: what the figures were measured on.
machine() {
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
