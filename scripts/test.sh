#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, runs every decoder's fuzzer
# briefly (5 s each, build-fuzz/), then every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/fuzz.sh 5
cd build && ctest --output-on-failure --timeout 600 "$@"
