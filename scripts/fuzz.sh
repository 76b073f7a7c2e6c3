#!/usr/bin/env bash
# Runs every libFuzzer harness (fuzz/) for SECONDS each and ends with one line:
#   fuzz: N harnesses, E executions, C crashes
# Builds them first in build-fuzz/ with clang-14 (-DDMOE_FUZZ=ON: AddressSanitizer and UBSan);
# corpora grow in build-fuzz/corpus/<harness>/ from the seeds fuzz-seeds writes (the tests'
# kinds of messages) and configs/*.ini; a crashing input is saved as
# build-fuzz/crashes/<harness>-crash-<sha1> and makes the script exit 1.
#   scripts/fuzz.sh SECONDS [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [HARNESS...]}
shift
build=build-fuzz
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(tensor expert_call expert_reply dht_request dht_response
                                         error_reply config expert_pattern declaration)
if [ ! -f "$build/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDMOE_FUZZ=ON >/dev/null
fi
cmake --build "$build" --target fuzzers -- -j"$(nproc)" | tail -1
seeds="$build/seeds.$$"  # per run, so two runs (on other harnesses) can go side by side
trap 'rm -rf "$seeds"' EXIT
"$build/fuzz/fuzz-seeds" "$seeds"
mkdir -p "$seeds/config" "$build/crashes" "$build/logs"
cp configs/*.ini "$seeds/config/"
total=0
crashes=0
for h in "${harnesses[@]}"; do
  mkdir -p "$build/corpus/$h"
  log="$build/logs/$h.log"
  # Leak checks stay on; -rss_limit_mb and -timeout turn a blow-up or a hang into a crash too.
  if "$build/fuzz/fuzz-$h" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
       -timeout=20 -artifact_prefix="$build/crashes/$h-" "$build/corpus/$h" "$seeds/$h" \
       >"$log" 2>&1; then
    status=ok
  else
    status="CRASH (see $log)"
    crashes=$((crashes + 1))
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  runs=${runs:-0}
  total=$((total + runs))
  echo "fuzz-$h: $runs executions in ${seconds}s, $status"
done
echo "fuzz: ${#harnesses[@]} harnesses, $total executions, $crashes crashes"
[ "$crashes" -eq 0 ]
