#!/usr/bin/env bash
# Part 1 of docs/benchmarks.md, below HTTP: what a verification costs in the database alone.
# `cloud-otp-bench storage-cost` runs the server's own group read, decision (the sealed secret
# opened, the policy's verify_with_secret) and group commit of /v1/check on SQLite, one batch
# at a time on two kept connections, and reports verifications/s and CPU microseconds per
# verification, for batches of several shapes (BENCH_SHAPES: "reads:writes", 5:15 being what
# the server's queues form at 64 connections, with ":one" for reads and writes on one
# connection, the way a fused read-decide-write task would run them), BENCH_REPS (3) times
# each. Each repetition
# runs on a fresh copy of a 10^5-user database (built once in target/bench-run/storage/,
# kept), since it spends codes.
# Results: target/bench-run/storage/results.jsonl and results.md.
source "$(dirname "$0")/common.sh"

shapes=${BENCH_SHAPES:-"1:1 5:15 5:15:one 16:64 16:64:one"}
reps=${BENCH_REPS:-3}
out=$RUN/storage
db=$out/users-100000
build
mkdir -p "$out"
[ -s "$db/users.tsv" ] || enroll_direct "$db" 100000
machine >"$out/machine.txt"
rm -f "$out/results.jsonl"
{
  echo "| reads a batch | writes a batch | connections | verifications/s, median (min-max) of $reps | CPU µs per verification |"
  echo "|---:|---:|---|---:|---:|"
} >"$out/results.md"
for shape in $shapes; do
  IFS=: read -r reads writes mode <<<"$shape"
  one=()
  conns="a reader's and the writer's"
  if [ "${mode:-}" = one ]; then one=(--one-connection); conns=one; fi
  : >"$out/shape.jsonl"
  for rep in $(seq 1 "$reps"); do
    rm -rf "$out/copy"
    cp -r "$db/data" "$out/copy"
    say "reads $reads, writes $writes a batch, $conns: repetition $rep of $reps"
    # Three seconds on a fresh copy: 10^5 users have 2 * 10^5 fresh codes a step.
    "$BIN/cloud-otp-bench" storage-cost --data-dir "$out/copy" --customer-code 4242 \
      --accounts "$db/users.tsv" --reads "$reads" --writes "$writes" --duration 3 --reps 1 \
      "${one[@]}" >>"$out/shape.jsonl"
  done
  cat "$out/shape.jsonl" >>"$out/results.jsonl"
  node -e '
    const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
    const med = (f) => { const v = rows.map(f).sort((a, b) => a - b); return v[(v.length - 1) >> 1]; };
    const min = (f) => Math.min(...rows.map(f)), max = (f) => Math.max(...rows.map(f));
    const n = (x) => Math.round(x).toLocaleString("en");
    console.log(`| ${process.argv[2]} | ${process.argv[3]} | ${process.argv[4]} | ${n(med((r) => r.per_s))} (${n(min((r) => r.per_s))}-${n(max((r) => r.per_s))}) | ${med((r) => r.cpu_us).toFixed(1)} |`);
  ' "$out/shape.jsonl" "$reads" "$writes" "$conns" >>"$out/results.md"
done
rm -rf "$out/copy" "$out/shape.jsonl"
cat "$out/results.md"
echo "measured on: $(cat "$out/machine.txt")"
