#!/usr/bin/env bash
# Every protocol through the gateway (on demand, not in CI): authenticated GetUserByEmail as
# Connect JSON, Connect proto and gRPC-Web over HTTP/1.1 (wrk), and as gRPC and Connect JSON
# over HTTP/2 with prior knowledge (h2load), each straight to identity and through the
# gateway, in one run. Prints req/s, the gateway/direct ratio and the gateway's CPU time per
# call. Needs wrk and h2load (Debian: wrk nghttp2-client).
#   gateway/bench/protocols.sh [seconds] [connections]
# GATEWAY_BIN runs another build of the gateway; PROTOCOLS="grpc grpc-web" runs only some;
# TARGETS="gateway" skips the direct runs (pgo.sh trains with that).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-5}
CONNECTIONS=${2:-32}
# shellcheck source=gateway/bench/lib.sh
. gateway/bench/lib.sh

ID=18281 AUTH=18282 GW=18280
configure_services "$ID" "$AUTH" "$ID"
start_services "$ID" "$AUTH" "$GW" "${WORKERS:-$(nproc)}"
prepare_calls "$ID" "$AUTH"
path=/platform.identity.v1.IdentityService/GetUserByEmail

# GetUserByEmailRequest { email: "bench@example.com" } (field 1, 17 bytes), bare and in a
# gRPC frame (no compression, 19-byte length).
printf '\n\021bench@example.com' >"$WORK/call.proto"
printf '\000\000\000\000\023\n\021bench@example.com' >"$WORK/call.grpc"
printf '{"email":"bench@example.com"}' >"$WORK/call.json"
wrk_script() { # content-type body-in-lua [extra header lines]
  printf 'wrk.method = "POST"\nwrk.body = "%s"\nwrk.headers["Content-Type"] = "%s"\nwrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")\n%s\n' "$2" "$1" "${3:-}"
}
wrk_script application/proto '\10\17bench@example.com' >"$WORK/proto.lua"
wrk_script application/grpc-web+proto '\0\0\0\0\19\10\17bench@example.com' 'wrk.headers["X-Grpc-Web"] = "1"' >"$WORK/grpc-web.lua"

# Checks one call of each kind answers OK (h2load and wrk count HTTP statuses only, and a
# gRPC error is a 200 with grpc-status in the trailers).
check() { # port
  curl -fs -X POST "http://127.0.0.1:$1$path" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' --data-binary @"$WORK/call.json" | grep -q bench@example.com
  curl -fs -X POST "http://127.0.0.1:$1$path" -H "authorization: Bearer $TOKEN" -H 'content-type: application/proto' --data-binary @"$WORK/call.proto" | grep -aq bench@example.com
  curl -fs --http2-prior-knowledge -X POST "http://127.0.0.1:$1$path" -H "authorization: Bearer $TOKEN" -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @"$WORK/call.grpc" -D "$WORK/grpc.head" -o "$WORK/grpc.body"
  grep -aq bench@example.com "$WORK/grpc.body" && grep -qi '^grpc-status: 0' "$WORK/grpc.head"
  curl -fs -X POST "http://127.0.0.1:$1$path" -H "authorization: Bearer $TOKEN" -H 'content-type: application/grpc-web+proto' -H 'x-grpc-web: 1' --data-binary @"$WORK/call.grpc" | grep -aq 'grpc-status:0'
}
check "$ID" && check "$GW" || { echo "a protocol check failed (see $WORK)" >&2; exit 1; }

load() { # protocol port output
  local url="http://127.0.0.1:$2$path"
  case $1 in
    connect-json) wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$WORK/call.lua" "$url" >"$3" ;;
    connect-proto) wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$WORK/proto.lua" "$url" >"$3" ;;
    grpc-web) wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$WORK/grpc-web.lua" "$url" >"$3" ;;
    grpc) h2load -t2 -c"$CONNECTIONS" -m4 -D "$SECONDS_PER_RUN" -d "$WORK/call.grpc" -H "authorization: Bearer $TOKEN" \
      -H 'content-type: application/grpc' -H 'te: trailers' "$url" >"$3" ;;
    connect-h2) h2load -t2 -c"$CONNECTIONS" -m4 -D "$SECONDS_PER_RUN" -d "$WORK/call.json" -H "authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' "$url" >"$3" ;;
  esac
}
# Calls/s, calls, failed calls from a wrk or h2load report.
rate() { awk '/Requests\/sec/ {print $2} /^finished in/ {print $4}' "$1"; }
calls() { awk '/requests in/ {print $1} /^requests:/ {print $6}' "$1"; }
failed() {
  awk '{ gsub(",", "") } /Non-2xx/ {n += $5} /Socket errors/ {n += $4 + $6 + $8 + $10}
    /^requests:/ {n += $10 + $12 + $14} /^status codes:/ {n += $5 + $7 + $9} END {print n + 0}' "$1"
}

hz=$(getconf CLK_TCK)
echo "GetUserByEmail, ${SECONDS_PER_RUN}s each, $CONNECTIONS connections (HTTP/2: 4 streams each), $(nproc) cores"
for protocol in ${PROTOCOLS:-connect-json connect-proto grpc-web grpc connect-h2}; do
  direct=""
  if [ "${TARGETS:-direct gateway}" != gateway ]; then
    load "$protocol" "$ID" "$WORK/direct.txt"
    direct=$(rate "$WORK/direct.txt")
  fi
  before=$(ticks "$GW_PID")
  load "$protocol" "$GW" "$WORK/gateway.txt"
  cpu=$(awk -v t="$(( $(ticks "$GW_PID") - before ))" -v n="$(calls "$WORK/gateway.txt")" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
  gateway=$(rate "$WORK/gateway.txt")
  printf '%-14s direct %10s req/s   gateway %10s req/s   gateway/direct %s   gateway CPU %s µs/call   failed %s\n' \
    "$protocol" "${direct:--}" "$gateway" "$(awk -v a="$gateway" -v b="${direct:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
    "$cpu" "$(failed "$WORK/gateway.txt")"
done
