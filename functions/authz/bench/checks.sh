#!/usr/bin/env bash
# Authz checks through the real Connect endpoint, on demand (not a test): a release build of
# examples/bench_server.rs (100k users, 10k roles, 1M assignments), then wrk against
#   - ListPermissions                 a trivial Connect method of the same server (baseline:
#                                     the same verified caller, an in-memory answer)
#   - HasPermission                   one check, random users (cached after the warm-up)
#   - CheckPermissions x100           a bulk check of 100 items
# Prints requests/s and wrk's latency percentiles for each, in the same run. wrk shares the
# two cores with the server, so the figures are the pair's, not the server's alone.
#   functions/authz/bench/checks.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../../.."
SECONDS_EACH=${1:-10}
CONNECTIONS=${2:-16}
TARGET=${BENCH_TARGET_DIR:-/var/tmp/bench-target}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
# Release, without the whole-program LTO of the shipped profile (minutes faster to build).
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo build --release -q -p authz --example bench_server --target-dir "$TARGET"
OUT=$(mktemp); LUA=$(mktemp -d)
"$TARGET/release/examples/bench_server" >"$OUT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$OUT" "$LUA"' EXIT
until grep -q READY "$OUT"; do sleep 0.2; kill -0 $SERVER; done
ADDR=$(sed -n 's/^ADDR=//p' "$OUT"); TOKEN=$(sed -n 's/^TOKEN=//p' "$OUT")

cat >"$LUA/trivial.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "$TOKEN"
wrk.body = "{}"
LUA
cat >"$LUA/single.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "$TOKEN"
-- 4,096 requests made up front (random users and resources), sent in turn: the load
-- generator shares the two cores, so it must not spend them formatting.
local requests, n = {}, 0
init = function(args)
  -- The same users in the warm-up and in the measured run.
  math.randomseed(42)
  for i = 1, 4096 do
    requests[i] = wrk.format(nil, nil, nil, string.format(
      '{"userId":"user-%d","permission":"identity.users.read","resource":"org:%d"}',
      math.random(0, 99999), math.random(0, 99)))
  end
end
request = function()
  n = n % 4096 + 1
  return requests[n]
end
LUA
cat >"$LUA/bulk.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "$TOKEN"
local perms = {"identity.users.read", "identity.users.list", "auth.sessions.revoke", "authz.roles.read"}
local requests, n = {}, 0
init = function(args)
  -- The same users in the warm-up and in the measured run.
  math.randomseed(42)
  local items = {}
  for i = 1, 100 do
    items[i] = string.format('{"permission":"%s","resource":"org:%d"}', perms[(i % 4) + 1], i % 100)
  end
  local list = table.concat(items, ",")
  for i = 1, 1024 do
    requests[i] = wrk.format(nil, nil, nil,
      string.format('{"userId":"user-%d","items":[%s]}', math.random(0, 99999), list))
  end
end
request = function()
  n = n % 1024 + 1
  return requests[n]
end
LUA

run() { # name path script
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s "$LUA/$3" "http://$ADDR$2" >"$LUA/$1.out"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$LUA/$1.out")
  p50=$(awk '$1=="50%" {print $2}' "$LUA/$1.out")
  p99=$(awk '$1=="99%" {print $2}' "$LUA/$1.out")
  printf "%-22s %12s req/s   p50 %8s   p99 %8s\n" "$1" "$rps" "$p50" "$p99"
  if grep -q "Non-2xx" "$LUA/$1.out"; then grep "Non-2xx" "$LUA/$1.out"; fi
}
# Warm the cache: every user the requests name (the same 4,096 in every run).
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" -s "$LUA/single.lua" \
  "http://$ADDR/platform.authz.v1.AuthzService/HasPermission" >/dev/null
run list_permissions /platform.authz.v1.AuthzService/ListPermissions trivial.lua
run has_permission /platform.authz.v1.AuthzService/HasPermission single.lua
run check_permissions_100 /platform.authz.v1.AuthzService/CheckPermissions bulk.lua
