#!/usr/bin/env bash
# Builds and runs the chaos run (docs/reliability.md).
#   tests/chaos/run.sh [RUNS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${GANTRY_BUILD_DIR:-build}"
cmake --build "$BUILD_DIR" --target chaos_run gantry-controller gantry-agent gantry
CHAOS_RUNS="${1:-200}" CHAOS_SEED="${2:-$(date +%s)}" GANTRY_BIN_DIR="$PWD/$BUILD_DIR/bin" \
  "$BUILD_DIR/bin/chaos_run"
