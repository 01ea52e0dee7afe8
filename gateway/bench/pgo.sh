#!/usr/bin/env bash
# The gateway's profile-guided build (how the container image builds it; not in CI): an
# instrumented build serves the benchmarks' calls — Connect JSON over HTTP/1.1 to a canned
# upstream and to identity, then every protocol (protocols.sh) —, LLVM merges what it counted,
# and the release build uses it to lay out and inline the hot path. Prints the binary's path
# last; run the benchmark with it:
#   GATEWAY_BIN=$(gateway/bench/pgo.sh | tail -n1) RACE=1 ROUNDS=10 gateway/bench/run.sh 4 32
# Needs what run.sh and protocols.sh need (nginx, wrk, h2load, curl) and llvm-profdata of
# rustc's LLVM: rustup's llvm-tools component, or Debian's llvm-N of the same major version.
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${CARGO_TARGET_DIR:-/var/tmp/bench-target}
llvm=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
profdata=$(command -v "llvm-profdata-$llvm" || true)
rustup_tools="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-profdata"
[ -n "$profdata" ] || { [ -x "$rustup_tools" ] && profdata=$rustup_tools; }
[ -n "$profdata" ] || {
  echo "needs llvm-profdata of LLVM $llvm: rustup component add llvm-tools, or apt-get install llvm-$llvm" >&2
  exit 1
}
data=$base-pgo-data
rm -rf "$data" && mkdir -p "$data"
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
CARGO_TARGET_DIR=$base-pgo-gen RUSTFLAGS="-Cprofile-generate=$data" \
  cargo build --quiet --release --locked --bin gateway
# The gateway writes its counts when it exits (the scripts stop it with SIGTERM).
export GATEWAY_BIN=$base-pgo-gen/release/gateway TARGETS=gateway
for upstream in static identity; do
  UPSTREAM=$upstream gateway/bench/run.sh 8 32 >&2
done
gateway/bench/protocols.sh 3 32 >&2
"$profdata" merge -o "$data/gateway.profdata" "$data"/*.profraw
CARGO_TARGET_DIR=$base-pgo-use RUSTFLAGS="-Cprofile-use=$data/gateway.profdata" \
  cargo build --quiet --release --locked --bin gateway
echo "$base-pgo-use/release/gateway"
