#!/usr/bin/env bash
# Part 1 of docs/benchmarks.md: POST /v1/check throughput and latency at 1, 16, 64 and 256
# connections on loopback, correct codes over many distinct users plus 10% wrong codes, beside
# the HTTP floor (GET /v1/time of the same server, same client and connections).
# Usage: bench/server.sh sqlite|postgres
#   sqlite:   cloud-otp on SQLite and privacyIDEA 3.14 (SQLite, gunicorn, 4 workers), point
#             by point in one run, each repetition of each point back to back.
#   postgres: cloud-otp on a throwaway PostgreSQL cluster.
# Knobs: BENCH_USERS (100000), BENCH_PI_TOKENS (300), BENCH_REPS (3), BENCH_DURATION (10 s per
# point), BENCH_CONNECTIONS (1,16,64,256). Results: target/bench-run/server-BACKEND/.
source "$(dirname "$0")/common.sh"

backend=${1:-}
case $backend in sqlite | postgres) ;; *) echo "usage: bench/server.sh sqlite|postgres" >&2; exit 2 ;; esac
users=${BENCH_USERS:-100000}
tokens=${BENCH_PI_TOKENS:-300}
reps=${BENCH_REPS:-3}
duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-1,16,64,256}
out=$RUN/server-$backend
rm -rf "$out"
mkdir -p "$out"

build
db=
if [ "$backend" = postgres ]; then
  pg_start "$out/pg" 15432
  db=$PG_URL
fi
start_cloud_otp "$out/cloud-otp" 18080 "$db"
say "enrolling $users users through POST /v1/users/{id}/authenticator"
"$BIN/cloud-otp-bench" --threads 2 enroll --addr 127.0.0.1:18080 --key "$KEY" \
  --count "$users" --concurrency 16 --out "$out/users.tsv"
# The floor first: GET /v1/time on the same server through the same client and connections,
# measured back to back with each point of the others (docs/benchmarks.md, "The floor").
floor="HTTP floor (GET /v1/time)"
{
  target "$floor" http-floor 18080 "$out/users.tsv" "$SERVER_PID"
  target "cloud-otp ($backend)" cloud-otp 18080 "$out/users.tsv" "$SERVER_PID" "$KEY"
} >"$out/targets.jsonl"

baseline=()
if [ "$backend" = sqlite ]; then
  say "starting privacyIDEA"
  pi_pid=$("$ROOT/bench/privacyidea.sh" "$out/privacyidea" 15000)
  PIDS+=("$pi_pid")
  wait_http "http://127.0.0.1:15000/" 60
  say "enrolling $tokens privacyIDEA TOTP tokens through POST /token/init"
  BENCH_PI_PASSWORD=${BENCH_PI_PASSWORD:-benchpass} "$BIN/cloud-otp-bench" enroll-privacyidea \
    --addr 127.0.0.1:15000 --admin admin --count "$tokens" --concurrency 4 --out "$out/tokens.tsv"
  target "privacyIDEA 3.14" privacyidea 15000 "$out/tokens.tsv" "$pi_pid" >>"$out/targets.jsonl"
  baseline=(--baseline "privacyIDEA 3.14")
fi

say "measuring: connections $connections, $reps repetitions, $duration s per point"
machine >"$out/machine.txt"
timeout 1800 "$BIN/cloud-otp-bench" --threads 1 run --targets "$out/targets.jsonl" \
  --connections "$connections" --reps "$reps" --duration "$duration" --warmup 1 \
  --out "$out/results.jsonl"
"$BIN/cloud-otp-bench" report "$out/results.jsonl" "${baseline[@]}" --floor "$floor" | tee "$out/results.md"
echo "measured on: $(cat "$out/machine.txt")"
