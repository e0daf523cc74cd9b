#!/usr/bin/env bash
# The systemd units in deploy/systemd/ pass `systemd-analyze verify` with no
# warning at all (an unknown or misspelt key is only a warning there), and
# carry what the operations guide promises: a dedicated user, restart on
# failure, hardening. ExecStart's /usr/local/bin/ is pointed at the built
# binaries, since verify checks that the command exists.
# Usage: systemd_units_test.sh UNITS_DIR BIN_DIR
set -euo pipefail
units_dir=$1
bin_dir=$2

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIPPED: systemd-analyze is not installed (Debian package systemd; deploy/install-deps.sh installs it)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for unit in gantry-controller.service gantry-agent.service; do
  sed "s|/usr/local/bin/|$bin_dir/|g" "$units_dir/$unit" >"$work/$unit"
  if ! out=$(systemd-analyze verify "$work/$unit" 2>&1); then
    echo "FAIL: $unit: systemd-analyze verify failed:"; echo "$out"; status=1
  elif [ -n "$out" ]; then
    echo "FAIL: $unit: systemd-analyze verify warned:"; echo "$out"; status=1
  fi
  for want in '^User=gantry' '^Restart=on-failure$' '^NoNewPrivileges=yes$' '^ProtectSystem=' \
    '^PrivateTmp=yes$' '^ProtectKernelTunables=yes$' '^CapabilityBoundingSet=$' '^StateDirectory='; do
    if ! grep -q "$want" "$units_dir/$unit"; then
      echo "FAIL: $unit has no line matching $want"; status=1
    fi
  done
done
if ! grep -q '^u gantry ' "$units_dir/gantry.sysusers" || ! grep -q '^u gantry-agent ' "$units_dir/gantry.sysusers"; then
  echo "FAIL: gantry.sysusers does not create both users"; status=1
fi
[ $status -eq 0 ] && echo "OK: both units verify cleanly"
exit $status
