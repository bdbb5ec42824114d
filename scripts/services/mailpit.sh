#!/usr/bin/env bash
# Starts Mailpit (built by scripts/install-deps.sh) on 127.0.0.1: an SMTP server that keeps
# what it receives, and its HTTP API (GET /api/v1/messages) that the mail tests read back.
# It accepts any SMTP login, also without TLS (the tests send over loopback only).
#   scripts/services/mailpit.sh start   # prints its HTTP URL (SMTP: MAILPIT_SMTP_PORT)
#   scripts/services/mailpit.sh stop
set -euo pipefail
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SMTP_PORT="${MAILPIT_SMTP_PORT:-11025}"
HTTP_PORT="${MAILPIT_HTTP_PORT:-18025}"
BIN="${SSOGATE_CACHE_DIR:-$HOME/.cache/ssogate}/mailpit-1.33.1/mailpit"
RUN_DIR="${SSOGATE_RUN_DIR:-$REPO_DIR/target/services}"
PID_FILE="$RUN_DIR/mailpit.pid"
mkdir -p "$RUN_DIR"
ready() { curl -s --max-time 2 "http://127.0.0.1:$HTTP_PORT/api/v1/info" | grep -q '"Version"'; }
case "${1:-}" in
  start)
    if ! ready; then
      [ -x "$BIN" ] || { echo "mailpit: not installed at $BIN (scripts/install-deps.sh)" >&2; exit 1; }
      setsid "$BIN" --smtp "127.0.0.1:$SMTP_PORT" --listen "127.0.0.1:$HTTP_PORT" \
        --smtp-auth-accept-any --smtp-auth-allow-insecure --smtp-disable-rdns \
        --disable-version-check --max 20000 \
        >"$RUN_DIR/mailpit.log" 2>&1 </dev/null &
      echo $! >"$PID_FILE"
      for _ in $(seq 100); do
        ready && break
        sleep 0.1
      done
    fi
    ready || { echo "mailpit: not ready" >&2; cat "$RUN_DIR/mailpit.log" >&2; exit 1; }
    echo "http://127.0.0.1:$HTTP_PORT"
    ;;
  stop)
    if [ -f "$PID_FILE" ]; then kill "$(cat "$PID_FILE")" 2>/dev/null || true; rm -f "$PID_FILE"; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
