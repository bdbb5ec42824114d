#!/usr/bin/env bash
# Starts/stops a local Keycloak (official quarkus dist, dev mode, in-memory DB)
# with the ssogate-test realm imported, for ssogate's integration tests.
#
#   scripts/services/keycloak.sh start   # idempotent; prints the start time
#   scripts/services/keycloak.sh stop
#
# Env: KEYCLOAK_VERSION (26.7.3), SSOGATE_CACHE_DIR ($HOME/.cache/ssogate),
#      KC_PORT (18080), KC_MGMT_PORT (19000), SSOGATE_RUN_DIR (<repo>/target/services),
#      KC_START_TIMEOUT (300 s), KC_JAVA_HEAP ("-Xms64m -Xmx384m").
# The distribution is installed by scripts/install-deps.sh.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.7.3}"
CACHE_DIR="${SSOGATE_CACHE_DIR:-$HOME/.cache/ssogate}"
KC_PORT="${KC_PORT:-18080}"
KC_MGMT_PORT="${KC_MGMT_PORT:-19000}"
RUN_DIR="${SSOGATE_RUN_DIR:-$REPO_DIR/target/services}"
START_TIMEOUT="${KC_START_TIMEOUT:-300}"
KC_HOME="$CACHE_DIR/keycloak-$KEYCLOAK_VERSION"
REALM_JSON="$REPO_DIR/tests/keycloak/ssogate-test-realm.json"
PID_FILE="$RUN_DIR/keycloak.pid"
LOG_FILE="$RUN_DIR/keycloak.log"
REALM_URL="http://127.0.0.1:$KC_PORT/realms/ssogate-test"
READY_URL="http://127.0.0.1:$KC_MGMT_PORT/health/ready"

log() { echo "keycloak: $*" >&2; }

http_status() { # prints the HTTP status of a GET, 000 when nothing answers
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" 2>/dev/null || true
}

running_pid() { # prints the recorded pid if that process is alive
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

pick_java_home() {
  local j
  for j in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk*; do
    if [ -x "$j/bin/java" ]; then export JAVA_HOME="$j"; return; fi
  done
  # otherwise: the caller's JAVA_HOME, or `java` on PATH (Keycloak 26 needs 17+)
}

wait_ready() { # $1 = pid, $2 = start time (date +%s%N)
  local pid="$1" t0="$2" deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    if curl -s --max-time 5 "$READY_URL" 2>/dev/null | grep -q '"status" *: *"UP"' &&
       [ "$(http_status "$REALM_URL")" = 200 ]; then
      break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited before becoming ready; log tail ($LOG_FILE):"
      tail -n 60 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "not ready after ${START_TIMEOUT}s; log tail ($LOG_FILE):"
      tail -n 60 "$LOG_FILE" >&2 || true
      stop
      exit 1
    fi
    sleep 0.5
  done
  local t1; t1="$(date +%s%N)"
  awk -v a="$t0" -v b="$t1" -v p="$pid" -v port="$KC_PORT" \
    'BEGIN { printf "keycloak: ready on http://127.0.0.1:%s (pid %s) after %.1f s\n", port, p, (b - a) / 1e9 }'
}

start() {
  if [ "$(http_status "$REALM_URL")" = 200 ]; then
    log "already running on port $KC_PORT (realm ssogate-test answers)"
    return 0
  fi
  mkdir -p "$RUN_DIR"
  local pid
  if pid="$(running_pid)"; then
    log "pid $pid is still starting; waiting for it"
    wait_ready "$pid" "$(date +%s%N)"
    return 0
  fi
  if [ "$(http_status "http://127.0.0.1:$KC_PORT/")" != 000 ]; then
    log "port $KC_PORT is taken by something that does not serve realm ssogate-test"
    exit 1
  fi
  if [ ! -x "$KC_HOME/bin/kc.sh" ]; then
    log "no distribution at $KC_HOME; run scripts/install-deps.sh"
    exit 1
  fi
  # --import-realm only reads <dist>/data/import (not configurable for start-dev);
  # the dev-mem database is empty at each boot, so the realm is imported every time.
  mkdir -p "$KC_HOME/data/import"
  cp "$REALM_JSON" "$KC_HOME/data/import/ssogate-test-realm.json"

  pick_java_home
  local t0; t0="$(date +%s%N)"
  : >"$LOG_FILE"
  # No fixed --hostname: Keycloak's URLs follow the host of each request, so tests use
  # http://127.0.0.1 everywhere, and the browser test reaches it as http://localhost —
  # another site than ssogate at 127.0.0.1, so real cross-site cookie rules apply.
  # New session, so the server outlives the caller's process group; the pid
  # written is kc.sh's, which forwards TERM to its java child.
  KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=admin \
  KC_HEALTH_ENABLED=true \
  JAVA_OPTS_KC_HEAP="${KC_JAVA_HEAP:--Xms64m -Xmx384m}" \
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    "$KC_HOME/bin/kc.sh" start-dev \
      --db=dev-mem --import-realm \
      --http-host=127.0.0.1 --http-port="$KC_PORT" \
      --http-management-port="$KC_MGMT_PORT" \
    >>"$LOG_FILE" 2>&1 </dev/null &
  local i
  for i in $(seq 50); do [ -s "$PID_FILE" ] && break; sleep 0.1; done
  pid="$(cat "$PID_FILE")"
  log "starting (pid $pid, JAVA_HOME=${JAVA_HOME:-<PATH java>}, log $LOG_FILE)"
  wait_ready "$pid" "$t0"
}

any_alive() {
  local p
  for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}

stop() {
  local pid kids
  if ! pid="$(running_pid)"; then
    log "not running"
    rm -f "$PID_FILE"
    return 0
  fi
  kids="$(pgrep -P "$pid" || true)"
  kill -TERM "$pid" $kids 2>/dev/null || true
  local i
  for i in $(seq 60); do
    any_alive "$pid" $kids || break
    sleep 0.5
  done
  if any_alive "$pid" $kids; then
    log "still alive after 30 s; sending KILL"
    kill -KILL "$pid" $kids 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "stopped (pid $pid${kids:+, java $kids})"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
