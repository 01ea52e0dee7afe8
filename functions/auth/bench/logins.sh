#!/usr/bin/env bash
# Logins/s between real processes (identity-service, auth-service; release builds), driven by
# wrk over Connect JSON, against the argon2 bound measured in the same run. On demand.
#   functions/auth/bench/logins.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../../.."
SECS=${1:-5}
CONN=${2:-4}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/bench-target}
cargo build --quiet --release -p identity -p auth --bins
cargo build --quiet --release -p auth --example bench
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
ID=18281 AUTH=18282
export PLATFORM_DATA_DIR=$WORK/data RUST_LOG=warn
export AUTH__DISCOVERY__STATIC_INSTANCES__IDENTITY="[http://127.0.0.1:$ID]"
export AUTH__LOCKOUT__IP_THRESHOLD=1000000
PORT=$ID "$BIN/identity-service" >"$WORK/identity.log" 2>&1 &
PORT=$AUTH "$BIN/auth-service" >"$WORK/auth.log" 2>&1 &
for port in $ID $AUTH; do
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
json='{"email":"bench@example.com","password":"correct horse battery"}'
curl -fs -X POST "http://127.0.0.1:$ID/platform.identity.v1.IdentityService/CreateUser" -H 'content-type: application/json' -d "$json" >/dev/null
cat >"$WORK/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '$json'
wrk.headers["Content-Type"] = "application/json"
LUA
bound=$("$CARGO_TARGET_DIR/release/examples/bench" "$SECS" argon2-only | tee /dev/stderr | awk '/argon2 bound/ {print $NF}')
rate() { wrk -t1 -c"$CONN" -d"${SECS}s" -s "$WORK/login.lua" "$1" | awk '/Requests\/sec/ {print $2}'; }
verify=$(rate "http://127.0.0.1:$ID/platform.identity.v1.IdentityService/VerifyPassword")
login=$(rate "http://127.0.0.1:$AUTH/platform.auth.v1.AuthService/Login")
printf 'VerifyPassword/s (identity, %s connections): %10s\n' "$CONN" "$verify"
printf 'Login/s (auth → identity, %s connections):   %10s   %.2f × VerifyPassword, %.2f × argon2 bound\n' \
  "$CONN" "$login" "$(awk -v l="$login" -v v="$verify" 'BEGIN {print l/v}')" "$(awk -v l="$login" -v b="$bound" 'BEGIN {print l/b}')"
