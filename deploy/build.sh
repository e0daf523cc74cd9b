#!/usr/bin/env bash
# Configures and builds Gantry into build/ (or $GANTRY_BUILD_DIR).
# Usage: deploy/build.sh [Release|RelWithDebInfo|Debug]
# The build type applies when the directory is first configured.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_TYPE="${1:-RelWithDebInfo}"
BUILD_DIR="${GANTRY_BUILD_DIR:-build}"
GENERATOR=()
if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
