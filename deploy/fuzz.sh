#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang and runs each for N minutes.
#
#   deploy/fuzz.sh [MINUTES] [TARGET...]     default: 10 minutes, every target
#   deploy/fuzz.sh --merge [TARGET...]       add new coverage to fuzz/corpus/
#
# Targets: config_parser_fuzz, locator_fuzz, artifact_path_fuzz and
# agent_message_fuzz (agent input on a real Scheduler; it starts a private
# PostgreSQL under /tmp, so it needs PostgreSQL installed). Each runs on a
# working corpus, build-fuzz/corpus/TARGET, seeded from fuzz/corpus/TARGET.
# A crash stops that target and leaves its input in build-fuzz/crashes/TARGET/;
# the script goes on with the next target and exits 1 at the end. Add the
# input to fuzz/corpus/TARGET/ with the fix: the default test suite replays
# that directory (ctest -R _corpus). --merge copies the working corpus's
# inputs that add coverage into fuzz/corpus/ (libFuzzer's -merge=1).
# Needs clang and libFuzzer (Debian: clang, libfuzzer-14-dev).
# $GANTRY_FUZZ_BUILD_DIR overrides build-fuzz; $FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${GANTRY_FUZZ_BUILD_DIR:-build-fuzz}"
ALL_TARGETS=(config_parser_fuzz locator_fuzz artifact_path_fuzz agent_message_fuzz)

MERGE=0
MINUTES=10
if [ "${1:-}" = "--merge" ]; then
  MERGE=1
  shift
elif [[ "${1:-}" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  MINUTES="$1"
  shift
fi
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz.sh: clang++ not found (deploy/install-deps.sh --fuzz installs clang and libfuzzer-14-dev)" >&2
  exit 2
fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  GENERATOR=()
  if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGANTRY_FUZZ=ON >/dev/null
fi
FUZZERS=()
for t in "${TARGETS[@]}"; do FUZZERS+=("${t}_fuzzer"); done
cmake --build "$BUILD_DIR" --target "${FUZZERS[@]}" -j "$(nproc)"

failed=()
for t in "${TARGETS[@]}"; do
  bin="$BUILD_DIR/bin/${t}_fuzzer"
  seeds="fuzz/corpus/$t"
  work="$BUILD_DIR/corpus/$t"
  crashes="$BUILD_DIR/crashes/$t"
  mkdir -p "$work" "$crashes"
  dict=()
  if [ -f "fuzz/$t.dict" ]; then dict=(-dict="fuzz/$t.dict"); fi
  if [ "$MERGE" = 1 ]; then
    "$bin" -merge=1 "${dict[@]}" "$seeds" "$work"
    continue
  fi
  seconds=$(awk "BEGIN { printf \"%d\", $MINUTES * 60 }")
  echo "== $t: $MINUTES min; working corpus $work, crashes in $crashes"
  # -timeout: an input that takes 10 s is a bug (a hang) as much as a crash.
  # -rss_limit_mb: the config limits promise far less than this.
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
      -artifact_prefix="$crashes/" -print_final_stats=1 "${dict[@]}" ${FUZZ_ARGS:-} \
      "$work" "$seeds"; then
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs under $BUILD_DIR/crashes/)" >&2
  exit 1
fi
