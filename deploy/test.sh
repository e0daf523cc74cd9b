#!/usr/bin/env bash
# The README's second command: installs dependencies, builds, and runs every
# test (unit and end-to-end) with ctest. End-to-end suites start their own
# PostgreSQL from the machine's binaries; nothing else needs to be running.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
# Playwright for the dashboard's browser tests, as the lockfile pins it.
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
./deploy/build.sh RelWithDebInfo
BUILD_DIR="${GANTRY_BUILD_DIR:-build}"
cd "$BUILD_DIR"
ctest --output-on-failure -j 2 --timeout 600 "$@"
