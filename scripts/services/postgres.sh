#!/usr/bin/env bash
# Starts the Debian PostgreSQL cluster on 127.0.0.1 (if it is not running), makes sure
# the test role exists, drops test databases left by earlier runs, and prints the
# admin URL the tests create their per-test databases with.
#
#   scripts/services/postgres.sh start    # prints postgres://ssogate:ssogate@127.0.0.1:PORT/postgres
#
# The `postgresql` package is installed by scripts/install-deps.sh.
set -euo pipefail

log() { echo "postgres: $*" >&2; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

cmd="${1:-start}"
[ "$cmd" = start ] || { log "usage: $0 start"; exit 2; }

if ! command -v pg_lsclusters >/dev/null; then
  log "pg_lsclusters not found: run scripts/install-deps.sh first"; exit 1
fi
line="$(pg_lsclusters -h | head -n 1)"
if [ -z "$line" ]; then
  ver="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
  log "creating cluster $ver/main"
  pg_createcluster "$ver" main >/dev/null
  line="$(pg_lsclusters -h | head -n 1)"
fi
read -r ver name port status _ <<<"$line"
if [ "$status" != online ]; then
  log "starting cluster $ver/$name on port $port"
  # Its messages (e.g. "Removed stale pid file.") must not reach stdout: the caller
  # captures the URL printed below.
  pg_ctlcluster "$ver" "$name" start >&2
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$port" || { log "not ready on 127.0.0.1:$port"; exit 1; }

psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -tA "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'ssogate'")" != 1 ]; then
  psql_admin -c "CREATE ROLE ssogate LOGIN CREATEDB PASSWORD 'ssogate'" >&2
fi
# Per-test databases are named ssogate_test_*; drop the ones earlier runs left behind.
for db in $(psql_admin -c "SELECT datname FROM pg_database WHERE datname LIKE 'ssogate\_test\_%'"); do
  psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >&2 || true
done
echo "postgres://ssogate:ssogate@127.0.0.1:$port/postgres"
