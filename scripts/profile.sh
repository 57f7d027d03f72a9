#!/usr/bin/env bash
# CPU profiles of secure-api under load (bench/profile.mjs through workerd's inspector):
# GET /health, GET /api/auth/me (bearer) and GET /api/posts, each N sequential requests.
# Builds with wasm function names (KEEP_NAMES=1), writes bench/profiles/<scenario>.cpuprofile
# and prints the top self-time functions per request; rebuilds the normal build afterwards.
# Usage: scripts/profile.sh [N]   (loopback only; bounded)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-2000}"

bash scripts/bootstrap.sh
KEEP_NAMES=1 bash scripts/build.sh
cargo build --quiet --release --example loadgen

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/secure-api-profile.XXXXXX")"
PID=""
cleanup() {
  [ -n "$PID" ] && { kill -- -"$PID" 2>/dev/null || true; sleep 1; kill -9 -- -"$PID" 2>/dev/null || true; }
  rm -rf "$RUN_DIR" .wrangler-profile.json
  bash scripts/build.sh >/dev/null
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# Without [build] (no watcher), the rate-limit binding shields raised (one client sends all).
node scripts/test-config.mjs wrangler high-limits .wrangler-profile.json
port="$(free_port)"; inspector="$(free_port)"
npx wrangler d1 migrations apply DB --local --persist-to "$RUN_DIR/state" >/dev/null 2>&1
WRANGLER_REGISTRY_PATH="$RUN_DIR/registry" setsid npx wrangler dev -c .wrangler-profile.json --ip 127.0.0.1 \
  --port "$port" --inspector-port "$inspector" --persist-to "$RUN_DIR/state" --show-interactive-dev-session=false \
  --log-level error --var RATE_LIMIT_AUTH:1000000 --var RATE_LIMIT_ANON:1000000 --var RATE_LIMIT_USER:1000000 \
  >"$RUN_DIR/dev.log" 2>&1 < /dev/null &
PID=$!
for _ in $(seq 1 120); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.5; done
target/release/examples/loadgen seed "http://127.0.0.1:$port" "$RUN_DIR/seed.json"
access="$(node -e 'process.stdout.write(require(process.argv[1]).users[0].access)' "$RUN_DIR/seed.json")"

mkdir -p bench/profiles
profile() {
  node bench/profile.mjs "$inspector" "http://127.0.0.1:$port" "$2" "$N" \
    "bench/profiles/$1.cpuprofile" "${@:3}"
  echo
}
profile health /health
profile me /api/auth/me "Authorization:Bearer $access"
profile posts_list "/api/posts?page=1&limit=10"
