# What the bench scripts share (sourced, not run, from the repository root): the release
# build ($BIN), a scratch directory ($WORK) cleaned up on exit with every process started,
# the canned upstream, the bench user and the wrk script.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/bench-target}
# Line tables (the same machine code), so callgrind_annotate can tell which source the
# instructions of inlined code come from (instructions.sh).
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
# The gateway too, unless GATEWAY_BIN names another build of it.
bins=(--bin identity-service --bin auth-service)
[ -n "${GATEWAY_BIN:-}" ] || bins+=(--bin gateway)
cargo build --quiet --release --locked "${bins[@]}"
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; for p in "$WORK"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; rm -rf "$WORK"' EXIT

# Starts nginx with `workers` processes answering every request with a canned
# GetUserByEmail answer on 127.0.0.1:port; its pid file is $WORK/static.pid.
start_static_upstream() { # port workers
  cat >"$WORK/static.conf" <<NGINX
worker_processes $2;
pid $WORK/static.pid;
error_log $WORK/static-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$1;
    location / {
      default_type application/json;
      return 200 '{"user":{"id":"01a206fa-e87a-73b7-936b-d4f4808f62b9","email":"bench@example.com","createdAt":"2026-11-23T05:57:16.538048+00:00","updatedAt":"2026-11-23T05:57:16.538048+00:00","version":"1"}}';
    }
  }
}
NGINX
  nginx -c "$WORK/static.conf" -p "$WORK"
  sleep 0.2
}

# Creates the bench user at identity, logs in at auth, exports TOKEN and writes
# $WORK/call.lua (an authenticated GetUserByEmail for wrk).
prepare_calls() { # identity-port auth-port
  local json='{"email":"bench@example.com","password":"correct horse battery"}'
  curl -fs -X POST "http://127.0.0.1:$1/platform.identity.v1.IdentityService/CreateUser" -H 'content-type: application/json' -d "$json" >/dev/null
  TOKEN=$(curl -fs -X POST "http://127.0.0.1:$2/platform.auth.v1.AuthService/Login" -H 'content-type: application/json' -d "$json" | sed 's/.*"accessToken":"\([^"]*\)".*/\1/')
  export TOKEN
  cat >"$WORK/call.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email":"bench@example.com"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
LUA
}

# Waits until each of the given ports answers /readyz.
wait_ready() { # port...
  local port
  for port in "$@"; do
    for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  done
}

# Starts identity, auth and the gateway (GATEWAY_BIN, or the release build) on the given
# ports, each in a session of its own (see run.sh), the gateway with its limits raised so
# nothing is rejected (the limiter still runs); waits until all answer. Sets ID_PID, GW_PID.
start_services() { # identity-port auth-port gateway-port gateway-workers
  PORT=$1 setsid "$BIN/identity-service" >"$WORK/identity.log" 2>&1 &
  ID_PID=$!
  PORT=$2 setsid "$BIN/auth-service" >"$WORK/auth.log" 2>&1 &
  PORT=$3 GATEWAY__WORKERS=$4 GATEWAY_RATE_LIMIT_RPS=100000000 GATEWAY_RATE_LIMIT_BURST=${RATE_LIMIT_BURST:-100000000} \
    setsid "${GATEWAY_BIN:-$BIN/gateway}" >"$WORK/gateway.log" 2>&1 &
  GW_PID=$!
  wait_ready "$1" "$2" "$3"
}

# CPU time (clock ticks) used so far by the given processes and their threads.
# FIELDS=14 counts user time only, 15 system time only.
ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(awk -v f="${FIELDS:-14 15}" 'BEGIN { n = split(f, w, " ") } { s = 0; for (i = 1; i <= n; i++) s += $(w[i]); print s }' "/proc/$pid/stat"))); done; echo "$t"; }

# Where each service finds the others: identity and auth each other, the gateway auth and
# its GetUserByEmail target (identity or the canned upstream).
configure_services() { # identity-port auth-port target-port
  export PLATFORM_DATA_DIR=$WORK/data RUST_LOG=warn
  export IDENTITY__DISCOVERY__STATIC_INSTANCES__AUTH="[http://127.0.0.1:$2]"
  export AUTH__DISCOVERY__STATIC_INSTANCES__IDENTITY="[http://127.0.0.1:$1]"
  export GATEWAY__DISCOVERY__STATIC_INSTANCES__IDENTITY="[http://127.0.0.1:$3]"
  export GATEWAY__DISCOVERY__STATIC_INSTANCES__AUTH="[http://127.0.0.1:$2]"
}
