#!/usr/bin/env bash
# Runs each property-based target of tests/api/server/properties.rs for a while instead of the
# few seconds the test suite gives it:
#   bash scripts/fuzz.sh [minutes per target, default 2] [target name filter]
# Each target is run again and again with PROPTEST_CASES cases (per target, below; or
# FUZZ_CASES for all) and a fresh random seed each time, until its minutes are up; then
# it prints how long the target ran and how many cases passed. A failure stops that target
# and prints proptest's smallest failing input (make it a regression test next to the code
# it broke). Needs no service: the targets use SQLite and in-process mock IdPs.
# Exit status: 1 when any target failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes="${1:-2}"
filter="${2:-}"
if ! [[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "usage: scripts/fuzz.sh [minutes per target] [target filter]" >&2
  exit 2
fi

# target name -> cases per run (a run takes some seconds; the app-backed targets start
# their app once per run).
targets=(
  "return_to_stays_on_the_origin_or_an_app_origin 50000"
  "saml_precheck_survives_arbitrary_and_mutated_xml 5000"
  "saml_verification_survives_arbitrary_bytes_base64_and_mutated_responses 3000"
  "the_acs_never_answers_5xx 1000"
  "oidc_id_token_verification_survives_jwt_shaped_strings 2000"
  "oidc_userinfo_and_claim_mapping_survive_arbitrary_json_and_jwts 1000"
  "email_normalization_never_panics_and_is_stable 20000"
  "role_mapping_patterns_never_panic 3000"
)

echo "fuzz.sh: building the test binary" >&2
bin="$(cargo test --test api --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
if [ -z "$bin" ] || ! [ -x "$bin" ]; then
  echo "fuzz.sh: could not build the test binary (run: cargo test --test api --no-run)" >&2
  exit 1
fi

logs="target/fuzz"
mkdir -p "$logs"
failed=0
printf '%-72s %9s %6s %10s %s\n' target minutes runs cases result
for entry in "${targets[@]}"; do
  read -r name cases <<<"$entry"
  if [ -n "$filter" ] && [[ "$name" != *"$filter"* ]]; then continue; fi
  cases="${FUZZ_CASES:-$cases}"
  budget="$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')"
  start="$(date +%s%N)"
  SECONDS=0
  runs=0
  total=0
  result=ok
  while ((SECONDS < budget)); do
    if PROPTEST_CASES="$cases" "$bin" --exact "server::properties::$name" --test-threads=1 -q \
      >"$logs/$name.log" 2>&1; then
      runs=$((runs + 1))
      total=$((total + cases))
    else
      result="FAILED (see $logs/$name.log)"
      failed=1
      grep -E "minimal failing input|panicked at|Test failed" "$logs/$name.log" | head -n 5 >&2 || true
      break
    fi
  done
  elapsed="$(awk -v s="$start" -v e="$(date +%s%N)" 'BEGIN { printf "%.2f", (e - s) / 6e10 }')"
  printf '%-72s %9s %6d %10d %s\n' "$name" "$elapsed" "$runs" "$total" "$result"
done
exit "$failed"
