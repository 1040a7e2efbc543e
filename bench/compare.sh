#!/usr/bin/env bash
# Before/after: cloud-otp built from a git revision (default: HEAD, the last commit) against
# the working tree, same workload as bench/server.sh sqlite, point by point in one run.
# Usage: bench/compare.sh [REV|DIR]   Knobs: as bench/server.sh, and BENCH_BACKEND=postgres to
# compare on PostgreSQL (a throwaway cluster for each side). Results: target/bench-run/compare/.
# DIR is a copy of a source tree (for a baseline that was never committed, such as the working
# tree before a change: `git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C DIR`);
# it is built in DIR/target.
source "$(dirname "$0")/common.sh"

rev=${1:-HEAD}
users=${BENCH_USERS:-100000}
reps=${BENCH_REPS:-3}
duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-1,16,64,256}
out=$RUN/compare
rm -rf "$out/now" "$out/before" "$out/pg-now" "$out/pg-before" "$out"/*.jsonl "$out"/*.md
mkdir -p "$out"

build
if [ -d "$rev" ]; then
  src=$(cd "$rev" && pwd)
  rev=$(basename "$src")
  if [ ! -x "$src/target/release/cloud-otp" ]; then
    say "building cloud-otp in $src"
    (cd "$src" && CARGO_TARGET_DIR=$src/target cargo build --release -q -p cloud-otp-server)
  fi
else
  commit=$(git -C "$ROOT" rev-parse "$rev")
  src=$out/src-${commit:0:10}
fi
if [ ! -x "$src/target/release/cloud-otp" ]; then
  say "building cloud-otp at $rev (a clone in $src)"
  rm -rf "$src"
  git clone -q "$ROOT" "$src"
  git -C "$src" checkout -q --detach "$commit"
  (cd "$src" && CARGO_TARGET_DIR=$src/target cargo build --release -q -p cloud-otp-server)
fi

now_db=
before_db=
if [ "${BENCH_BACKEND:-sqlite}" = postgres ]; then
  pg_start "$out/pg-now" 15442
  now_db=$PG_URL
  pg_start "$out/pg-before" 15443
  before_db=$PG_URL
fi
now_bin=$BIN
start_cloud_otp "$out/now" 18090 "$now_db"
now_pid=$SERVER_PID
now_key=$KEY
BIN=$src/target/release start_cloud_otp "$out/before" 18091 "$before_db"
before_pid=$SERVER_PID
before_key=$KEY
BIN=$now_bin
say "enrolling $users users on each"
"$BIN/cloud-otp-bench" --threads 2 enroll --addr 127.0.0.1:18090 --key "$now_key" \
  --count "$users" --concurrency 16 --out "$out/now/users.tsv"
"$BIN/cloud-otp-bench" --threads 2 enroll --addr 127.0.0.1:18091 --key "$before_key" \
  --count "$users" --concurrency 16 --out "$out/before/users.tsv"
floor="HTTP floor (GET /v1/time, now)"
{
  target "$floor" http-floor 18090 "$out/now/users.tsv" "$now_pid"
  target "cloud-otp $rev" cloud-otp 18091 "$out/before/users.tsv" "$before_pid" "$before_key"
  target "cloud-otp now" cloud-otp 18090 "$out/now/users.tsv" "$now_pid" "$now_key"
} >"$out/targets.jsonl"
machine >"$out/machine.txt"
timeout 1500 "$BIN/cloud-otp-bench" run --targets "$out/targets.jsonl" \
  --connections "$connections" --reps "$reps" --duration "$duration" --warmup 1 \
  --out "$out/results.jsonl"
"$BIN/cloud-otp-bench" report "$out/results.jsonl" --baseline "cloud-otp $rev" --floor "$floor" | tee "$out/results.md"
echo "measured on: $(cat "$out/machine.txt")"
