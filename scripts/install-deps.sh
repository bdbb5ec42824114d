#!/usr/bin/env bash
# Installs what building and testing ssogate needs, idempotently:
# Debian packages (samael/xmlsec build deps, PostgreSQL, nginx, Caddy, wrk, python3-venv), the
# Keycloak distribution from Maven Central, Caddy v2.11.9 and Mailpit v1.33.1 built with
# `go install`, and a Python venv with PyJWT from PyPI (an independent JWT implementation the
# tests verify ssogate's tokens with), all into a cache folder outside git.
#
#   scripts/install-deps.sh              # everything the test suite needs
#   scripts/install-deps.sh --build-only # only what building and running ssogate needs
set -euo pipefail

BUILD_ONLY=0
[ "${1:-}" = "--build-only" ] && BUILD_ONLY=1

KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.7.3}"
CACHE_DIR="${SSOGATE_CACHE_DIR:-$HOME/.cache/ssogate}"

APT_PACKAGES=(pkg-config libssl-dev libxml2-dev libxmlsec1-dev libclang-dev)
[ "$BUILD_ONLY" = 1 ] || APT_PACKAGES+=(postgresql unzip curl maven nginx caddy wrk python3-venv chromium chromium-driver)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Packaged services (nginx on 0.0.0.0:80, ...) must not start on install: the tests
  # run their own, on 127.0.0.1. policy-rc.d (if the machine has none) tells
  # invoke-rc.d so, for the duration of this install only.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  ok=1
  $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null || ok=0
  [ "$policy_added" = 0 ] || $SUDO rm -f /usr/sbin/policy-rc.d
  [ "$ok" = 1 ] || { echo "install-deps: apt-get install failed" >&2; exit 1; }
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi

[ "$BUILD_ONLY" = 1 ] && { echo "install-deps: ok (build dependencies)"; exit 0; }

# Keycloak: the official distribution, downloaded once.
KC_HOME="$CACHE_DIR/keycloak-$KEYCLOAK_VERSION"
if [ ! -x "$KC_HOME/bin/kc.sh" ]; then
  mkdir -p "$CACHE_DIR"
  zip="$CACHE_DIR/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  if [ ! -f "$zip" ]; then
    echo "install-deps: downloading Keycloak $KEYCLOAK_VERSION from Maven Central"
    mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
      -DoutputDirectory="$CACHE_DIR" >&2
  fi
  rm -rf "$KC_HOME.tmp" && mkdir -p "$KC_HOME.tmp"
  unzip -q "$zip" -d "$KC_HOME.tmp"
  mv "$KC_HOME.tmp/keycloak-$KEYCLOAK_VERSION" "$KC_HOME" && rm -rf "$KC_HOME.tmp"
fi

# A current Caddy (Debian's is 2.6.2), built from source through the Go module proxy
# once; the Caddy tests run behind both.
CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
CADDY_BIN="$CACHE_DIR/caddy-${CADDY_VERSION#v}/caddy"
if [ ! -x "$CADDY_BIN" ]; then
  command -v go >/dev/null || { echo "install-deps: go not found (needed to build Caddy $CADDY_VERSION)" >&2; exit 1; }
  echo "install-deps: building Caddy $CADDY_VERSION with go install (a few minutes, once)"
  mkdir -p "$(dirname "$CADDY_BIN")"
  (cd /tmp && GOBIN="$(dirname "$CADDY_BIN")" go install "github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION") >&2
fi

# Mailpit, the SMTP server the mail tests send to (its HTTP API reads the messages back),
# built the same way once. `go install` builds it without the web UI; the API is in.
MAILPIT_VERSION="${MAILPIT_VERSION:-v1.33.1}"
MAILPIT_BIN="$CACHE_DIR/mailpit-${MAILPIT_VERSION#v}/mailpit"
if [ ! -x "$MAILPIT_BIN" ]; then
  command -v go >/dev/null || { echo "install-deps: go not found (needed to build Mailpit $MAILPIT_VERSION)" >&2; exit 1; }
  echo "install-deps: building Mailpit $MAILPIT_VERSION with go install (a minute or two, once)"
  mkdir -p "$(dirname "$MAILPIT_BIN")"
  (cd /tmp && GOBIN="$(dirname "$MAILPIT_BIN")" go install "github.com/axllent/mailpit@$MAILPIT_VERSION") >&2
fi

# PyJWT (with `cryptography` for EdDSA/ES256) in a venv of Debian's python3.
PY_VENV="$CACHE_DIR/pyjwt-venv"
if ! "$PY_VENV/bin/python" -c 'import jwt, cryptography' >/dev/null 2>&1; then
  echo "install-deps: creating $PY_VENV with PyJWT from PyPI"
  rm -rf "$PY_VENV"
  /usr/bin/python3 -m venv "$PY_VENV"
  "$PY_VENV/bin/pip" install -q --disable-pip-version-check 'PyJWT[crypto]>=2.8,<3' >&2
fi
echo "install-deps: ok (Keycloak at $KC_HOME, Caddy $CADDY_VERSION at $CADDY_BIN, Mailpit $MAILPIT_VERSION at $MAILPIT_BIN, PyJWT in $PY_VENV)"
