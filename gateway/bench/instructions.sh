#!/usr/bin/env bash
# Instructions the gateway executes per proxied call (on demand, not in CI), counted by
# valgrind's callgrind: unlike req/s on a shared machine, the count repeats from run to run.
# One gateway worker; authenticated GetUserByEmail from wrk -c8; the answer comes from a
# canned nginx (UPSTREAM=static, the default) or from identity (UPSTREAM=identity).
#   gateway/bench/instructions.sh [seconds]
# Leaves the profile in $OUT (default /tmp/gateway.callgrind) for callgrind_annotate
# (--inclusive=yes, --tree=calling). Needs: valgrind, nginx and wrk (Debian: valgrind
# nginx-light wrk). GATEWAY_BIN counts another build of the gateway.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-8}
OUT=${OUT:-/tmp/gateway.callgrind}
# shellcheck source=gateway/bench/lib.sh
. gateway/bench/lib.sh

ID=19181 AUTH=19182 GW=19180 STATIC=19184
if [ "${UPSTREAM:-static}" = static ]; then TARGET=$STATIC; else TARGET=$ID; fi
configure_services "$ID" "$AUTH" "$TARGET"
PORT=$ID setsid "$BIN/identity-service" >"$WORK/identity.log" 2>&1 &
PORT=$AUTH setsid "$BIN/auth-service" >"$WORK/auth.log" 2>&1 &
start_static_upstream "$STATIC" 1
wait_ready "$ID" "$AUTH"
PORT=$GW GATEWAY__WORKERS=1 GATEWAY_RATE_LIMIT_RPS=100000000 GATEWAY_RATE_LIMIT_BURST=100000000 \
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" "${GATEWAY_BIN:-$BIN/gateway}" >"$WORK/gateway.log" 2>&1 &
wait_ready "$GW"
prepare_calls "$ID" "$AUTH"
url="http://127.0.0.1:$GW/platform.identity.v1.IdentityService/GetUserByEmail"
# Warm up (connections, the verified-token cache), then count only the measured calls.
wrk -t1 -c8 -d3s -s "$WORK/call.lua" "$url" >/dev/null
callgrind_control -z >/dev/null
wrk -t1 -c8 -d"${SECONDS_PER_RUN}s" -s "$WORK/call.lua" "$url" >"$WORK/wrk.txt"
callgrind_control -d >/dev/null
sleep 1
cp "$(ls -t "$WORK"/callgrind.out* | head -n1)" "$OUT"
requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
total=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "upstream ${UPSTREAM:-static}: $requests calls, $total instructions, $((total / requests)) per call (profile: $OUT)"
