#!/usr/bin/env bash
# Part 4 of docs/benchmarks.md: how /v1/check cost grows with the number of enrolled users,
# 10^3, 10^5 and 10^6 (BENCH_SIZES), at 64 connections, through the real server, on SQLite or
# with BENCH_BACKEND=postgres on PostgreSQL (one kept cluster per size).
# Users are enrolled straight through the server's storage code (`cloud-otp-bench
# enroll-direct`: the same Storage::register_device call, rows and sealed secrets as
# POST /v1/users/{id}/authenticator, without HTTP); the databases are kept in
# target/bench-run/growth/ and reused by later runs (BENCH_FRESH=1 makes them anew).
# Two measurements, one run each, sizes interleaved point by point:
#   bursts:    1,000 requests (900 correct, 100 wrong) at 64 connections, 5 repetitions, on
#              every size: 10^3 users allow only 2,000 accepted codes per 60-s step, so this
#              is the one workload all three sizes can carry.
#   sustained: 10 s at 64 connections, 3 repetitions, on 10^5 and 10^6 users.
source "$(dirname "$0")/common.sh"

sizes=${BENCH_SIZES:-1000 100000 1000000}
backend=${BENCH_BACKEND:-sqlite}
case $backend in sqlite | postgres) ;; *) echo "BENCH_BACKEND must be sqlite or postgres" >&2; exit 2 ;; esac
out=$RUN/growth
[ "$backend" = postgres ] && out=$RUN/growth-postgres
mkdir -p "$out"
rm -f "$out"/*.jsonl "$out"/*.md

build
port=18100
: >"$out/bursts.targets"
: >"$out/sustained.targets"
pg_port=15460
for n in $sizes; do
  dir=$out/users-$n
  db=
  if [ "$backend" = postgres ]; then
    [ "${BENCH_FRESH:-0}" = 1 ] && rm -rf "$dir"
    pg_start_kept "$dir/pg" "$pg_port"
    pg_port=$((pg_port + 1))
    db=$PG_URL
  fi
  if [ "${BENCH_FRESH:-0}" = 1 ] || [ ! -s "$dir/users.tsv" ]; then
    enroll_direct "$dir" "$n" "$db"
  fi
  start_cloud_otp "$dir" "$port" "$db"
  name="cloud-otp ($backend, $n users)"
  target "$name" cloud-otp "$port" "$dir/users.tsv" "$SERVER_PID" "$KEY" >>"$out/bursts.targets"
  if [ "$n" -ge 100000 ]; then
    target "$name" cloud-otp "$port" "$dir/users.tsv" "$SERVER_PID" "$KEY" >>"$out/sustained.targets"
  fi
  port=$((port + 1))
done

machine >"$out/machine.txt"
say "bursts of 1,000 requests at 64 connections"
timeout 900 "$BIN/cloud-otp-bench" run --targets "$out/bursts.targets" --connections 64 \
  --reps 5 --duration 10 --warmup 0 --max-requests 1000 --out "$out/bursts.jsonl"
if [ -s "$out/sustained.targets" ]; then
  say "10 s at 64 connections"
  timeout 900 "$BIN/cloud-otp-bench" run --targets "$out/sustained.targets" --connections 64 \
    --reps 3 --duration 10 --warmup 1 --out "$out/sustained.jsonl"
fi
{
  echo "Bursts of 1,000 requests:"
  echo
  "$BIN/cloud-otp-bench" report "$out/bursts.jsonl"
  if [ -s "$out/sustained.jsonl" ]; then
    echo
    echo "Sustained, 10 s:"
    echo
    "$BIN/cloud-otp-bench" report "$out/sustained.jsonl"
  fi
} | tee "$out/results.md"
echo "measured on: $(cat "$out/machine.txt")"
