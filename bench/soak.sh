#!/usr/bin/env bash
# Part 4 of docs/benchmarks.md, memory: /v1/check at 64 connections for 10 minutes
# (BENCH_SOAK_SECS, 600) on the 10^6-user database of bench/growth.sh (built first if it is
# missing), the server's resident memory sampled once a second. Usage: bench/soak.sh
# [sqlite|postgres]. Results: target/bench-run/soak-BACKEND/ (results.md: the usual table,
# then the memory of the first and the last minute).
source "$(dirname "$0")/common.sh"

backend=${1:-sqlite}
case $backend in sqlite | postgres) ;; *) echo "usage: bench/soak.sh [sqlite|postgres]" >&2; exit 2 ;; esac
secs=${BENCH_SOAK_SECS:-600}
growth=$RUN/growth
[ "$backend" = postgres ] && growth=$RUN/growth-postgres
dir=$growth/users-1000000
out=$RUN/soak-$backend
rm -rf "$out"
mkdir -p "$out"

if [ ! -s "$dir/users.tsv" ]; then
  say "no 10^6-user database yet: building it with bench/growth.sh"
  BENCH_BACKEND=$backend BENCH_SIZES=1000000 "$ROOT/bench/growth.sh"
fi
build
db=
if [ "$backend" = postgres ]; then
  pg_start_kept "$dir/pg" 15470
  db=$PG_URL
fi
start_cloud_otp "$dir" 18120 "$db"
target "cloud-otp ($backend, 10^6 users, soak)" cloud-otp 18120 "$dir/users.tsv" "$SERVER_PID" "$KEY" >"$out/targets.jsonl"
machine >"$out/machine.txt"
say "$secs s at 64 connections, memory sampled every second"
timeout $((secs + 300)) "$BIN/cloud-otp-bench" run --targets "$out/targets.jsonl" --connections 64 \
  --reps 1 --duration "$secs" --warmup 5 --max-requests 1000000000 --sample-rss \
  --out "$out/results.jsonl"
"$BIN/cloud-otp-bench" report "$out/results.jsonl" --soak | tee "$out/results.md"
echo "measured on: $(cat "$out/machine.txt")"
