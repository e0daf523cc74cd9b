#!/usr/bin/env bash
# The README's first command: sets up and runs a real demo on this machine.
# Installs dependencies, builds (Release), starts a controller on the embedded
# PostgreSQL under ./gantry-data, starts two agents, applies examples/,
# triggers the example pipeline and follows it until it passes.
# Running it again reuses the build and the data. `quickstart.sh stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DATA="${GANTRY_DATA_DIR:-$ROOT/gantry-data}"
LISTEN="${GANTRY_LISTEN:-127.0.0.1:8150}"
BUILD_DIR="${GANTRY_BUILD_DIR:-$ROOT/build-release}"
BIN="$BUILD_DIR/bin"

stop_all() {
  for f in "$DATA"/agent-*.pid "$DATA"/controller.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
  done
}

if [ "${1:-}" = "stop" ]; then
  stop_all
  echo "gantry demo stopped (data kept in $DATA)"
  exit 0
fi

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

echo "==> installing dependencies"
./deploy/install-deps.sh
echo "==> building (Release) into $BUILD_DIR"
GANTRY_BUILD_DIR="$BUILD_DIR" ./deploy/build.sh Release

mkdir -p "$DATA"
if running "$DATA/controller.pid"; then
  echo "==> controller already running (pid $(cat "$DATA/controller.pid"))"
else
  echo "==> starting gantry-controller (data dir $DATA, listening on $LISTEN)"
  rm -f "$DATA/controller.addr"
  nohup "$BIN/gantry-controller" --data-dir "$DATA" --listen "$LISTEN" \
    >>"$DATA/controller.log" 2>&1 &
  echo $! >"$DATA/controller.pid"
fi
for _ in $(seq 1 600); do
  [ -s "$DATA/controller.addr" ] && break
  if ! running "$DATA/controller.pid"; then
    echo "gantry-controller exited; the end of $DATA/controller.log:" >&2
    tail -n 20 "$DATA/controller.log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -s "$DATA/controller.addr" ] || { echo "controller did not come up; see $DATA/controller.log" >&2; exit 1; }
ADDR="$(cat "$DATA/controller.addr")"

for n in 1 2; do
  if running "$DATA/agent-$n.pid"; then continue; fi
  # An agent registered before agent certificates has no key and would be
  # refused: it registers again (docs/security.md, "Agent certificates").
  if [ -f "$DATA/agents/agent-$n/agent.json" ] && [ ! -f "$DATA/agents/agent-$n/agent.crt" ]; then
    echo "==> agent-$n has no certificate yet: registering it again"
    GANTRY_DATA_DIR="$DATA" "$BIN/gantry" --controller "$ADDR" agent delete "agent-$n" || true
    rm -f "$DATA/agents/agent-$n/agent.json"
  fi
  echo "==> starting gantry-agent agent-$n"
  mkdir -p "$DATA/agents/agent-$n"
  nohup "$BIN/gantry-agent" --controller "$ADDR" --work-dir "$DATA/agents/agent-$n" \
    --register-key-file "$DATA/agent-register.key" --ca-file "$DATA/tls/ca.crt" --name "agent-$n" \
    >>"$DATA/agent-$n.log" 2>&1 &
  echo $! >"$DATA/agent-$n.pid"
done

export GANTRY_CONTROLLER="$ADDR"
export GANTRY_DATA_DIR="$DATA"
G="$BIN/gantry"
echo "==> applying examples/"
"$G" config apply -f "$ROOT"/examples/*.yaml
echo "==> triggering pipeline hello"
set +e
"$G" pipeline trigger hello --wait
status=$?
set -e
echo
"$G" agent list || true
cat <<INFO

Gantry is running.
  controller      $ADDR   (log: $DATA/controller.log)
  agents          agent-1, agent-2   (logs: $DATA/agent-*.log)
  admin token     $DATA/admin.token
  database        embedded PostgreSQL under $DATA/pg
  TLS             CA $DATA/tls/ca.crt, $(grep -o 'fingerprint sha256:[0-9a-f]*' "$DATA/controller.log" | tail -n 1)

Try (the CLI finds the controller, token and CA through GANTRY_DATA_DIR):
  export GANTRY_DATA_DIR=$DATA
  $G pipeline list
  $G pipeline history hello
  $G pipeline show hello-deploy
  $G job log hello/1/build/compile
  $G pipeline trigger hello --wait

Stop everything:  ./deploy/quickstart.sh stop
INFO
exit $status
