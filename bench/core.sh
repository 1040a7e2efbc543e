#!/usr/bin/env bash
# Part 3 of docs/benchmarks.md: native HOTP computations per second (criterion, crates/core/
# benches/hotp.rs) beside Node's crypto.createHmac and the npm otpauth library doing the same
# work (bench/node/hotp.mjs), taken back to back, BENCH_REPS (3) times.
# Results: target/bench-run/core/.
source "$(dirname "$0")/common.sh"

reps=${BENCH_REPS:-3}
out=$RUN/core
rm -rf "$out"
mkdir -p "$out"
if [ ! -d "$ROOT/bench/node/node_modules/otpauth" ]; then
  say "installing bench/node (npm ci)"
  (cd "$ROOT/bench/node" && npm ci --silent --no-audit --no-fund)
fi
machine >"$out/machine.txt"
(cd "$ROOT" && cargo bench -q -p cloud-otp-core --bench hotp --no-run)
for rep in $(seq 1 "$reps"); do
  say "repetition $rep of $reps"
  (cd "$ROOT" && cargo bench -q -p cloud-otp-core --bench hotp -- \
    --warm-up-time 1 --measurement-time 3 --noplot) >"$out/criterion-$rep.txt" 2>&1
  # criterion prints "core/NAME  time: [low est high]"; est is the 2nd value.
  awk '/^core\// { name = $1 } /time:/ && !/%/ {
         for (i = 1; i <= NF; i++) if ($i == "time:") { v = $(i + 3); u = $(i + 4) }
         gsub(/\[/, "", v)
         ns = (u == "ns") ? v : (u == "µs" || u == "us") ? v * 1000 : (u == "ps") ? v / 1000 : v * 1e6
         printf "cloud-otp-core %s (Rust)\t%.0f\n", substr(name, 6), 1e9 / ns }' \
    "$out/criterion-$rep.txt" >>"$out/ops.tsv"
  node "$ROOT/bench/node/hotp.mjs" |
    sed -E 's/.*"impl":"([^"]*)".*"ops_per_s":([0-9.]+).*/\1\t\2/' >>"$out/ops.tsv"
done

# Median (min-max) per implementation, and its ratio to Node's createHmac.
{
  echo "| implementation | HOTP computations/s, median (min-max) of $reps | vs node createHmac |"
  echo "|---|---:|---:|"
  base=$(awk -F'\t' '$1 == "node createHmac" { print $2 }' "$out/ops.tsv" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  cut -f1 "$out/ops.tsv" | awk '!seen[$0]++' | while IFS= read -r impl; do
    awk -F'\t' -v k="$impl" '$1 == k { print $2 }' "$out/ops.tsv" | sort -n |
      awk -v k="$impl" -v base="$base" '{ a[NR] = $1 } END {
        m = a[int((NR + 1) / 2)]
        printf "| %s | %.0f (%.0f-%.0f) | %.2fx |\n", k, m, a[1], a[NR], m / base }'
  done
} | tee "$out/results.md"
echo "measured on: $(cat "$out/machine.txt")"
