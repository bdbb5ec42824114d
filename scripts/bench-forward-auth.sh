#!/usr/bin/env bash
# Forward-auth throughput against a reference route: builds ssogate in release with the
# `bench` feature (which adds GET /bench/baseline: same router and middleware, no work),
# starts it on 127.0.0.1 with a fresh SQLite database, and alternates wrk runs against
#   baseline  GET /bench/baseline
#   verify    GET /auth/verify with a valid session (200, identity headers, token)
#   anon      GET /auth/verify without a session (401 with the sign-in URL)
# printing req/s and p99 of each run, the medians, and the ratios to the baseline
# (goals: verify >= 0.7x, anon >= 0.9x). Each run's ratio is to the mean of the baseline
# runs just before and just after it (seconds apart, they see the same load of this
# shared machine), and the median of those ratios is reported. Not part of the test suite.
#
# Env: ROUNDS (5), DURATION (5s), CONNECTIONS (32), THREADS (1), BENCH_PORT (18190).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-5}" DURATION="${DURATION:-5s}" CONNECTIONS="${CONNECTIONS:-32}" THREADS="${THREADS:-1}"
PORT="${BENCH_PORT:-18190}"
command -v wrk >/dev/null || { echo "bench: wrk not found; run scripts/install-deps.sh" >&2; exit 1; }

cargo build --release --locked --features bench --bin ssogate --example bench_session >&2
TARGET="${CARGO_TARGET_DIR:-target}/release"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

export SSOGATE_DATABASE__URL="sqlite://$WORK/ssogate.db"
export SSOGATE_SECRETS__MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
export SSOGATE_SERVER__LISTEN="127.0.0.1:$PORT"
export SSOGATE_SERVER__TRUSTED_PROXIES='["127.0.0.1/32"]'
export SSOGATE_LOG__LEVEL=warn
cat > "$WORK/apps.toml" <<TOML
[[apps]]
name = "bench"
origins = ["http://bench.test"]
TOML
"$TARGET/ssogate" apply "$WORK/apps.toml" >&2
SID="$("$TARGET/examples/bench_session" "$SSOGATE_DATABASE__URL")"
"$TARGET/ssogate" serve > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

BASE="http://127.0.0.1:$PORT"
FWD=(-H "X-Forwarded-Host: bench.test" -H "X-Forwarded-Uri: /page" -H "X-Forwarded-Proto: http")
check() { # $1 = expected status, rest = curl args
  local want="$1"; shift
  local got; got="$(curl -s -o /dev/null -w '%{http_code}' "$@")"
  [ "$got" = "$want" ] || { echo "bench: expected $want, got $got for $*" >&2; exit 1; }
}
check 200 "$BASE/bench/baseline"
check 200 "${FWD[@]}" -H "Cookie: ssogate_session=$SID" "$BASE/auth/verify?app=bench"
check 401 "${FWD[@]}" "$BASE/auth/verify?app=bench"

# wrk output -> "req_per_sec p99_ms"
run() {
  local out rps p99
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@")"
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' <<<"$out")"
  echo "$rps $p99"
}

ratio() { awk -v m="$1" -v a="$2" -v b="$3" 'BEGIN {print 2*m/(a+b)}'; }
declare -A RPS P99 RATIO
# Each round's figures are compared with the baseline measured just before AND just after
# them (their mean), so a drift of this shared machine during a round does not bias one
# route: B V A B V A B ... (ROUNDS+1 baseline runs).
show() { printf 'round %s %-8s %10.0f req/s  p99 %7.2f ms\n' "$1" "$2" "${3%% *}" "${3##* }"; }
r="$(run "$BASE/bench/baseline")"
RPS[baseline]+="${r%% *} "; P99[baseline]+="${r##* } "; base_before="${r%% *}"
show 0 baseline "$r"
for round in $(seq 1 "$ROUNDS"); do
  v="$(run "${FWD[@]}" -H "Cookie: ssogate_session=$SID" "$BASE/auth/verify?app=bench")"; show "$round" verify "$v"
  a="$(run "${FWD[@]}" "$BASE/auth/verify?app=bench")"; show "$round" anon "$a"
  b="$(run "$BASE/bench/baseline")"; show "$round" baseline "$b"
  base_after="${b%% *}"
  for kind in verify anon; do
    [ "$kind" = verify ] && r="$v" || r="$a"
    RPS[$kind]+="${r%% *} "; P99[$kind]+="${r##* } "
    RATIO[$kind]+="$(ratio "${r%% *}" "$base_before" "$base_after") "
  done
  RPS[baseline]+="${b%% *} "; P99[baseline]+="${b##* } "; RATIO[baseline]+="1 "
  base_before="$base_after"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
printf '%-8s %12s %12s %16s\n' route "req/s (med)" "p99 ms (med)" "ratio (med/round)"
for kind in baseline verify anon; do
  m="$(median <<<"${RPS[$kind]}")"; p="$(median <<<"${P99[$kind]}")"; q="$(median <<<"${RATIO[$kind]}")"
  printf '%-8s %12.0f %12.2f %16.2f\n' "$kind" "$m" "$p" "$q"
done
echo "goals: verify >= 0.70, anon >= 0.90 (of the baseline's req/s)"
