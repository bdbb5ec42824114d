#!/usr/bin/env bash
# Starts chromedriver (Debian chromium-driver) on 127.0.0.1 for the browser tests.
#   scripts/services/chromedriver.sh start   # prints its URL
#   scripts/services/chromedriver.sh stop
set -euo pipefail
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PORT="${CHROMEDRIVER_PORT:-19515}"
RUN_DIR="${SSOGATE_RUN_DIR:-$REPO_DIR/target/services}"
PID_FILE="$RUN_DIR/chromedriver.pid"
mkdir -p "$RUN_DIR"
case "${1:-}" in
  start)
    if ! curl -s --max-time 2 "http://127.0.0.1:$PORT/status" | grep -q '"ready" *: *true'; then
      command -v chromedriver >/dev/null || { echo "chromedriver: not installed (scripts/install-deps.sh)" >&2; exit 1; }
      setsid chromedriver --port="$PORT" --allowed-ips=127.0.0.1 >"$RUN_DIR/chromedriver.log" 2>&1 </dev/null &
      echo $! >"$PID_FILE"
      for _ in $(seq 100); do
        curl -s --max-time 2 "http://127.0.0.1:$PORT/status" | grep -q '"ready" *: *true' && break
        sleep 0.1
      done
    fi
    curl -s --max-time 2 "http://127.0.0.1:$PORT/status" | grep -q '"ready" *: *true' || { echo "chromedriver: not ready" >&2; cat "$RUN_DIR/chromedriver.log" >&2; exit 1; }
    echo "http://127.0.0.1:$PORT"
    ;;
  stop)
    if [ -f "$PID_FILE" ]; then kill "$(cat "$PID_FILE")" 2>/dev/null || true; rm -f "$PID_FILE"; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
