#!/usr/bin/env bash
# The whole test suite, on a fresh machine too:
#   1. installs what is missing (Debian packages, the Keycloak distribution),
#   2. starts PostgreSQL, nginx, Keycloak, chromedriver and Mailpit once on 127.0.0.1 (Keycloak
#      boots while the tests compile; the Caddy tests start their own Caddy),
#   3. runs `cargo test` with the services' addresses in SSOGATE_TEST_* variables.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh store_conformance`).
# Services this script started are stopped at the end; ones already running are left.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

# A service script prints its URL on stdout (and nothing else); check that it did.
service_url() {
  local out
  out="$(bash "scripts/services/$1.sh" start)" || exit 1
  if [[ "$out" =~ ^(postgres|http)://[^[:space:]]+$ ]]; then echo "$out"; return; fi
  echo "test.sh: scripts/services/$1.sh printed no single URL: $out" >&2
  exit 1
}

export KC_PORT="${KC_PORT:-18080}" KC_MGMT_PORT="${KC_MGMT_PORT:-19000}"
SSOGATE_TEST_POSTGRES_URL="$(service_url postgres)"
export SSOGATE_TEST_POSTGRES_URL

nginx_started_here=0
if ! [ -f target/services/nginx/nginx.pid ] || ! kill -0 "$(cat target/services/nginx/nginx.pid 2>/dev/null)" 2>/dev/null; then
  nginx_started_here=1
fi
SSOGATE_TEST_NGINX_URL="$(service_url nginx)"
export SSOGATE_TEST_NGINX_URL
# Tests that need an origin of their own drop a server block here and reload nginx.
export SSOGATE_TEST_NGINX_DIR="$PWD/target/services/nginx"
# Caddy (Debian's package, from install-deps.sh): each Caddy test runs its own on a free
# 127.0.0.1 port (unset when missing: those tests fail saying so).
SSOGATE_TEST_CADDY="$(command -v caddy || true)"
export SSOGATE_TEST_CADDY
# ...and a current Caddy built by install-deps.sh: every Caddy test runs behind both.
export SSOGATE_TEST_CADDY_CURRENT="${SSOGATE_CACHE_DIR:-$HOME/.cache/ssogate}/caddy-2.11.9/caddy"
# PyJWT, the independent JWT implementation (installed by install-deps.sh).
export SSOGATE_TEST_PYTHON="${SSOGATE_CACHE_DIR:-$HOME/.cache/ssogate}/pyjwt-venv/bin/python"

kc_started_here=0
if ! curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://127.0.0.1:$KC_PORT/realms/ssogate-test" | grep -q 200; then
  kc_started_here=1
fi
cleanup() {
  if [ "$kc_started_here" = 1 ]; then bash scripts/services/keycloak.sh stop || true; fi
  bash scripts/services/chromedriver.sh stop || true
  bash scripts/services/mailpit.sh stop || true
  if [ "$nginx_started_here" = 1 ]; then bash scripts/services/nginx.sh stop || true; fi
}
trap cleanup EXIT
mkdir -p target/services
bash scripts/services/keycloak.sh start > target/services/keycloak-start.out 2>&1 &
kc_pid=$!

cargo build --locked --tests

if ! wait "$kc_pid"; then
  cat target/services/keycloak-start.out >&2
  echo "test.sh: Keycloak did not start" >&2
  exit 1
fi
cat target/services/keycloak-start.out >&2
export SSOGATE_TEST_KEYCLOAK_URL="http://127.0.0.1:$KC_PORT"
SSOGATE_TEST_CHROMEDRIVER_URL="$(service_url chromedriver)"
export SSOGATE_TEST_CHROMEDRIVER_URL
export SSOGATE_TEST_KEYCLOAK_REALM="ssogate-test"
# Mailpit: the mail tests send to its SMTP port and read the messages back from its API.
export MAILPIT_SMTP_PORT="${MAILPIT_SMTP_PORT:-11025}" MAILPIT_HTTP_PORT="${MAILPIT_HTTP_PORT:-18025}"
SSOGATE_TEST_MAILPIT_API="$(service_url mailpit)"
export SSOGATE_TEST_MAILPIT_API
export SSOGATE_TEST_MAILPIT_SMTP="smtp://127.0.0.1:$MAILPIT_SMTP_PORT"

cargo test --locked "$@"
