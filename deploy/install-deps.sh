#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need.
# Packages already present are skipped, so a second run is quick and offline.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libpqxx-dev libpq-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libabsl-dev
  libssl-dev libcli11-dev googletest libgtest-dev libgmock-dev
  postgresql-15 postgresql-client-15 procps util-linux
  systemd  # systemd-analyze: the units in deploy/systemd/ are verified by the tests
  libboost-dev prometheus-cpp-dev
)

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
