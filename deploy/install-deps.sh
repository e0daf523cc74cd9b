#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need.
# Packages already present are skipped, so a second run is quick and offline.
#
#   deploy/install-deps.sh          the build, tests and demo
#   deploy/install-deps.sh --fuzz   also clang and libFuzzer, for deploy/fuzz.sh
#                                   and the sanitizer build (docs/fuzzing.md)
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libpqxx-dev libpq-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libabsl-dev
  libssl-dev libcli11-dev googletest libgtest-dev libgmock-dev
  libxxhash-dev  # XXH3-128: the agents' check of artifact transfers
  postgresql-15 postgresql-client-15 procps util-linux
  systemd  # systemd-analyze: the units in deploy/systemd/ are verified by the tests
  libboost-dev prometheus-cpp-dev
  zsh  # the zsh completion script is run by the tests, like the bash one
  chromium  # the dashboard's browser tests (Playwright drives it)
)
if [ "${1:-}" = "--fuzz" ]; then
  PACKAGES+=(clang libfuzzer-14-dev)
elif [ $# -gt 0 ]; then
  echo "usage: deploy/install-deps.sh [--fuzz]" >&2
  exit 2
fi

# Node and npm run the browser tests; the machine's own Node is used when
# there is one (it may not come from a Debian package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
