#!/usr/bin/env bash
# How long a real agent takes to be welcomed again after its controller is
# killed with -9 and started again on the same data dir and port.
#
# Usage: tests/bench/agent_reconnect.sh CONTROLLER AGENT DOWN_SECONDS ROUNDS [WORK_DIR]
#   e.g. tests/bench/agent_reconnect.sh build/bin/gantry-controller build/bin/gantry-agent 0 20
#
# Starts the controller (embedded PostgreSQL under WORK_DIR/ctl; the default
# WORK_DIR is /tmp/gantry-reconnect) and one agent, then ROUNDS times: lets
# the session run 2 s, kills the controller with -9, waits DOWN_SECONDS,
# starts it again, and prints the time from the restarted controller's
# "gantry-controller serving on" log line to the agent's next "connected to"
# line (the Welcome), both log timestamps (ms) on this machine. PORT (default
# 18155) picks the controller's port. Logs stay in WORK_DIR.
set -euo pipefail
CTL=$1
AGENT=$2
DOWN=$3
ROUNDS=$4
WORK=${5:-/tmp/gantry-reconnect}
PORT=${PORT:-18155}
mkdir -p "$WORK"
: >"$WORK/ctl.log"
: >"$WORK/agent.log"

# Lines of `file` after line `from`.
after() { tail -n +$(($2 + 1)) "$1"; }
ms() { date -d "$1" +%s%3N; }

start_controller() {
  local from
  from=$(wc -l <"$WORK/ctl.log")
  "$CTL" --data-dir "$WORK/ctl" --listen "127.0.0.1:$PORT" >>"$WORK/ctl.log" 2>&1 &
  CTL_PID=$!
  until after "$WORK/ctl.log" "$from" | grep -q "serving on"; do sleep 0.05; done
  SERVING=$(after "$WORK/ctl.log" "$from" | grep -m1 "serving on" | cut -c1-23)
}

start_controller
"$AGENT" --controller "127.0.0.1:$PORT" --work-dir "$WORK/agent" \
  --register-key-file "$WORK/ctl/agent-register.key" --ca-file "$WORK/ctl/tls/ca.crt" --name reconnect-bench \
  >>"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
trap 'kill $AGENT_PID $CTL_PID 2>/dev/null || true' EXIT
until grep -q "connected to" "$WORK/agent.log"; do sleep 0.05; done

for i in $(seq 1 "$ROUNDS"); do
  sleep 2  # a welcomed, heartbeating session, as before a real restart
  agent_from=$(wc -l <"$WORK/agent.log")
  kill -9 "$CTL_PID"
  wait "$CTL_PID" 2>/dev/null || true
  sleep "$DOWN"
  start_controller
  until after "$WORK/agent.log" "$agent_from" | grep -q "connected to"; do sleep 0.05; done
  welcomed=$(after "$WORK/agent.log" "$agent_from" | grep -m1 "connected to" | cut -c1-23)
  echo "round $i: down ${DOWN}s, serving $SERVING, welcomed $welcomed," \
    "agent back after $(($(ms "$welcomed") - $(ms "$SERVING"))) ms"
done
