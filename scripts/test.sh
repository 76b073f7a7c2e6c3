#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, runs every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build && ctest --output-on-failure --timeout 600 "$@"
