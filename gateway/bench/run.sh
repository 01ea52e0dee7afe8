#!/usr/bin/env bash
# Gateway benchmark (on demand, not in CI): authenticated GetUserByEmail calls/s and latency
# straight to identity, through nginx (plain proxy_pass, keep-alive upstream), and through the
# gateway (JWT verification + rate limiting, limits raised so nothing is rejected), all in one
# run on this machine, with wrk. Needs: nginx and wrk (Debian: nginx-light wrk).
#   gateway/bench/run.sh [seconds] [connections]
# ROUNDS=n repeats the three runs n times, alternating, and reports medians (and the median
# of the gateway/nginx ratios of each round). TARGETS="gateway"
# runs only some of direct/nginx/gateway (for profiling). WORKERS sets both nginx's worker
# processes and the gateway's worker threads (default: one per core, as both default to).
# GATEWAY_BIN runs another build of the gateway (a PGO-optimised one, say).
# UPSTREAM=static puts a canned answer from a second nginx where identity was (the proxies
# then cost most of the CPU: it measures the proxy rather than the service). Besides req/s and latency it reports CPU time per request of the proxy
# (and how much of it in user space) and of identity, from /proc.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-32}
# shellcheck source=gateway/bench/lib.sh
. gateway/bench/lib.sh

ID=18181 AUTH=18182 GW=18180 NGINX=18183 STATIC=18184
# Where the proxies send GetUserByEmail: identity, or the canned answer.
if [ "${UPSTREAM:-identity}" = static ]; then TARGET=$STATIC; else TARGET=$ID; fi
configure_services "$ID" "$AUTH" "$TARGET"
# Each server in a session of its own (setsid), as nginx puts itself when it daemonises: with
# the kernel's autogroup scheduling (sched_autogroup_enabled), a session is one scheduling
# group, and a proxy sharing wrk's group would get a different share of the CPU than one in
# its own. (In production each service has its own cgroup.)
WORKERS=${WORKERS:-$(nproc)}
start_services "$ID" "$AUTH" "$GW" "$WORKERS"

cat >"$WORK/nginx.conf" <<NGINX
worker_processes $WORKERS;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream identity { server 127.0.0.1:$TARGET; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX;
    location / { proxy_pass http://identity; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -p "$WORK"
UPSTREAM_PIDS=$ID_PID
if [ "$TARGET" = "$STATIC" ]; then
  start_static_upstream "$STATIC" 2
  UPSTREAM_PIDS=$(pgrep -P "$(cat "$WORK/static.pid")" | tr '\n' ' ')
fi
prepare_calls "$ID" "$AUTH"
path=/platform.identity.v1.IdentityService/GetUserByEmail
curl -fs -X POST "http://127.0.0.1:$GW$path" -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" -d '{"email":"bench@example.com"}' >/dev/null

proxy_pids() { # name
  case $1 in
    nginx) pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ' ;;
    gateway) echo "$GW_PID" ;;
    *) echo "" ;;
  esac
}
# Context switches so far of the given processes' threads: "voluntary involuntary".
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {print v + 0, n + 0}'; }
switches_of() { local v=0 n=0 pid a b; for pid in "$@"; do read -r a b < <(switches "$pid"); v=$((v + a)); n=$((n + b)); done; echo "$v $n"; }
# Idle time of the whole machine so far (clock ticks, all cores).
idle() { awk '/^cpu / {print $5 + $6}' /proc/stat; }
run() { # name port
  local pids before_proxy before_id
  pids=$(proxy_pids "$1")
  # shellcheck disable=SC2086
  before_proxy=$(ticks $pids); before_id=$(ticks $UPSTREAM_PIDS); before_user=$(FIELDS=14 ticks $pids)
  # shellcheck disable=SC2086
  local before_cs_proxy before_cs_up before_idle
  before_cs_proxy=$(switches_of $pids); before_cs_up=$(switches_of $UPSTREAM_PIDS); before_idle=$(idle)
  /usr/bin/time -f '%U %S %w %c' -o "$WORK/$1.time" \
    wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/call.lua" "http://127.0.0.1:$2$path" >"$WORK/$1.txt"
  local idle_ticks=$(( $(idle) - before_idle ))
  # shellcheck disable=SC2086
  local after_cs_proxy after_cs_up
  after_cs_proxy=$(switches_of $pids); after_cs_up=$(switches_of $UPSTREAM_PIDS)
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$WORK/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/$1.txt")
  errors=$(awk '/Non-2xx/ {print $5}' "$WORK/$1.txt")
  # shellcheck disable=SC2086
  local proxy_ticks=$(( $(ticks $pids) - before_proxy )) id_ticks=$(( $(ticks $UPSTREAM_PIDS) - before_id ))
  # shellcheck disable=SC2086
  local user_ticks=$(( $(FIELDS=14 ticks $pids) - before_user ))
  local requests hz
  requests=$(awk '/requests in/ {print $1}' "$WORK/$1.txt"); hz=$(getconf CLK_TCK)
  printf '%-10s %10s req/s   p50 %8s   p99 %8s   non-2xx %s   CPU µs/req: proxy %s (user %s) upstream %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-0}" \
    "$(awk -v t="$proxy_ticks" -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')" \
    "$(awk -v t="$user_ticks" -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')" \
    "$(awk -v t="$id_ticks" -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
  # wrk's own CPU, the machine's idle share, and context switches per request (voluntary +
  # involuntary) of the proxy and the upstream: where a difference in throughput comes from.
  printf '%-10s wrk CPU %s µs/req   idle %s%%   switches/req: proxy %s upstream %s\n' "" \
    "$(awk -v n="$requests" '{ printf "%.1f", ($1 + $2) * 1e6 / n }' "$WORK/$1.time")" \
    "$(awk -v t="$idle_ticks" -v hz="$hz" -v s="$SECONDS_PER_RUN" -v c="$(nproc)" 'BEGIN { printf "%.0f", t / hz / s / c * 100 }')" \
    "$(per_request "$before_cs_proxy" "$after_cs_proxy" "$requests")" "$(per_request "$before_cs_up" "$after_cs_up" "$requests")"
  echo "$rps" >>"$WORK/$1.rps"
  to_us "$p50" >>"$WORK/$1.p50"; to_us "$p99" >>"$WORK/$1.p99"
  awk -v t="$proxy_ticks" -v n="$requests" -v hz="$hz" 'BEGIN { printf "%.1f\n", t / hz * 1e6 / n }' >>"$WORK/$1.cpu"
}
per_request() { # "v n" before, "v n" after, requests
  awk -v b="$1" -v a="$2" -v r="$3" 'BEGIN { split(b, x, " "); split(a, y, " "); printf "%.2f+%.2f", (y[1] - x[1]) / r, (y[2] - x[2]) / r }'
}
# wrk's latency ("745.00us", "2.38ms", "1.02s") in µs.
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u); printf "%.0f\n", n * (u == "s" ? 1e6 : u == "ms" ? 1e3 : 1) }'; }
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# RACE=1: nginx and the gateway are driven at the same time, each by a wrk of its own with
# half the connections, against the same upstream; the ratio of their calls in the same
# seconds is untouched by the machine's slow and fast spells, which hit both alike.
if [ -n "${RACE:-}" ]; then
  half=$((CONNECTIONS / 2))
  echo "race: nginx and gateway at once, ${SECONDS_PER_RUN}s, $half connections each, wrk -t1 each, ${ROUNDS:-1} round(s)"
  for _ in $(seq 1 "${ROUNDS:-1}"); do
    wrk -t1 -c"$half" -d"${SECONDS_PER_RUN}s" -s "$WORK/call.lua" "http://127.0.0.1:$NGINX$path" >"$WORK/race-nginx.txt" &
    wrk -t1 -c"$half" -d"${SECONDS_PER_RUN}s" -s "$WORK/call.lua" "http://127.0.0.1:$GW$path" >"$WORK/race-gateway.txt" &
    wait %- %+ 2>/dev/null || wait
    for t in nginx gateway; do awk '/Requests\/sec/ {print $2}' "$WORK/race-$t.txt" >>"$WORK/race-$t.rps"; done
    printf 'nginx %10s req/s   gateway %10s req/s   non-2xx %s/%s\n' "$(tail -n1 "$WORK/race-nginx.rps")" "$(tail -n1 "$WORK/race-gateway.rps")" \
      "$(awk '/Non-2xx/ {n = $5} END {print n + 0}' "$WORK/race-nginx.txt")" "$(awk '/Non-2xx/ {n = $5} END {print n + 0}' "$WORK/race-gateway.txt")"
  done
  paste "$WORK/race-gateway.rps" "$WORK/race-nginx.rps" | awk '{ printf "%.2f\n", $1 / $2 }' >"$WORK/race.ratio"
  printf 'race gateway/nginx per round: %s (median %s, mean %s)\n' "$(paste -sd' ' "$WORK/race.ratio")" \
    "$(median "$WORK/race.ratio")" \
    "$(awk '{ s += $1 } END { printf "%.3f", s / NR }' "$WORK/race.ratio")"
  exit 0
fi
ROUNDS=${ROUNDS:-1}
echo "GetUserByEmail, ${SECONDS_PER_RUN}s each, $CONNECTIONS connections, wrk -t2, $(nproc) cores, $WORKERS proxy worker(s), $ROUNDS round(s)"
declare -A PORT_OF=([direct]=$TARGET [nginx]=$NGINX [gateway]=$GW)
# Rounds alternate the targets, so a slow spell of this shared machine hits all of them.
for _ in $(seq 1 "$ROUNDS"); do
  for target in ${TARGETS:-direct nginx gateway}; do run "$target" "${PORT_OF[$target]}"; done
done
for target in ${TARGETS:-direct nginx gateway}; do
  printf 'median %-10s %10s req/s   p50 %6s µs   p99 %6s µs   proxy CPU %s µs/req\n' "$target" "$(median "$WORK/$target.rps")" \
    "$(median "$WORK/$target.p50")" "$(median "$WORK/$target.p99")" "$(median "$WORK/$target.cpu")"
done
ratio() { # a b
  [ -f "$WORK/$1.rps" ] && [ -f "$WORK/$2.rps" ] || return 0
  awk -v a="$(median "$WORK/$1.rps")" -v b="$(median "$WORK/$2.rps")" -v n="$1/$2" 'BEGIN { printf "%s %.2f   ", n, a / b }'
}
ratio gateway nginx; ratio gateway direct; ratio nginx direct; echo
# Latency each proxy adds to the direct calls (medians of the rounds' p50 and p99).
added() { # proxy
  [ -f "$WORK/$1.p50" ] && [ -f "$WORK/direct.p50" ] || return 0
  awk -v n="$1" -v a="$(median "$WORK/$1.p50")" -v b="$(median "$WORK/direct.p50")" \
    -v c="$(median "$WORK/$1.p99")" -v d="$(median "$WORK/direct.p99")" \
    'BEGIN { printf "%s adds p50 %+.0f µs, p99 %+.0f µs   ", n, a - b, c - d }'
}
added nginx; added gateway; echo
# The same, round by round: this machine has slow and fast spells lasting several runs,
# and the runs of one round see the same spell; the median of these ratios is the steadier
# figure.
round_ratios() { # a b
  [ -f "$WORK/$1.rps" ] && [ -f "$WORK/$2.rps" ] || return 0
  paste "$WORK/$1.rps" "$WORK/$2.rps" | awk '{ printf "%.2f\n", $1 / $2 }' >"$WORK/$1-$2.ratio"
  printf 'per round %s: %s (median %.2f)\n' "$1/$2" "$(paste -sd' ' "$WORK/$1-$2.ratio")" "$(median "$WORK/$1-$2.ratio")"
}
round_ratios gateway nginx
