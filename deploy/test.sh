#!/usr/bin/env bash
# The README's second command: installs dependencies, builds, and runs every
# test (unit and end-to-end) with ctest. End-to-end suites start their own
# PostgreSQL from the machine's binaries; nothing else needs to be running.
#
#   deploy/test.sh [CTEST_ARGS...]             the suite, in build/
#   deploy/test.sh --sanitize [CTEST_ARGS...]  the suite built with ASan and
#                                              UBSan, in build-asan/ (slow: not
#                                              run by CI; docs/fuzzing.md)
set -euo pipefail
cd "$(dirname "$0")/.."
SANITIZE=0
if [ "${1:-}" = "--sanitize" ]; then
  SANITIZE=1
  shift
fi
./deploy/install-deps.sh
# Playwright for the dashboard's browser tests, as the lockfile pins it.
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
if [ "$SANITIZE" = 1 ]; then
  BUILD_DIR="${GANTRY_BUILD_DIR:-build-asan}"
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    GENERATOR=()
    if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
    cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DGANTRY_SANITIZE=ON >/dev/null
  fi
  cmake --build "$BUILD_DIR" -j "$(nproc)"
  # Any ASan or UBSan report aborts the process it is in (so the test
  # fails). Leaks are not checked: gRPC and protobuf keep objects for the
  # life of the process on purpose, and every binary would report them.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
else
  ./deploy/build.sh RelWithDebInfo
  BUILD_DIR="${GANTRY_BUILD_DIR:-build}"
fi
cd "$BUILD_DIR"
ctest --output-on-failure -j 2 --timeout 600 "$@"
