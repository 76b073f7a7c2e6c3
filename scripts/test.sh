#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, runs every decoder's fuzzer
# briefly (5 s each, build-fuzz/), then every test suite with ctest, two at a time (the suites
# use loopback ports they pick free, and namespaces named after their process).
# Extra arguments go to ctest (e.g. -R dht to run some suites).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/fuzz.sh 5
cd build && ctest --output-on-failure --timeout 600 -j"$(nproc)" "$@"
