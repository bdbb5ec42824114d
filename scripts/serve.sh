#!/usr/bin/env bash
# Runs the gateway on its embedded default (SQLite ./ssogate.db, console mail outbox,
# http://127.0.0.1:8080), installing the build dependencies first if they are missing.
# Arguments go to `ssogate serve` (e.g. `--config ssogate.toml`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh --build-only
exec cargo run --release --locked -- serve "$@"
