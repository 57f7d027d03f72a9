#!/usr/bin/env bash
# CPU-per-request benchmark: secure-api against a minimal JavaScript baseline worker doing the
# same storage and crypto work (bench/baseline), both on local workerd via `wrangler dev`,
# measured interleaved in one run. Writes bench/RESULTS.md. Loopback only; bounded.
# BENCH_SCENARIOS=health,me,me_external,list,create,login,refresh limits the run (RESULTS.md is then
# written to bench/RESULTS.partial.md instead).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
bash scripts/build.sh
cargo build --quiet --release --example loadgen
LOADGEN="target/release/examples/loadgen"

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/secure-api-bench.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -- -"$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${PIDS[@]}"; do kill -9 -- -"$pid" 2>/dev/null || true; done
  rm -rf "$RUN_DIR"
  rm -f .wrangler-bench.json
}
trap cleanup EXIT

# Serve the build made above from a config without `[build]` (no file watcher, so no
# rebuild-and-reload in the middle of a measurement) and without `[assets]` (see the
# `bench` variant of scripts/test-config.mjs).
BENCH_CONFIG=".wrangler-bench.json"
node scripts/test-config.mjs wrangler bench "$BENCH_CONFIG"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
secret="$(sed -n 's/^JWT_SECRET="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' .dev.vars)"
# Contract limits would refuse most benchmark traffic; the counters still run (their cost is
# part of every request), only the limits are raised.
# A 5 s window (both workers): the per-IP objects that anonymous requests and logins create
# are deleted by an alarm at the end of their window, and loadgen waits for those alarms
# before it reads a run's CPU, so each side's cleanup is counted in the run that caused it.
LIMITS=(RATE_LIMIT_AUTH:1000000 RATE_LIMIT_ANON:1000000 RATE_LIMIT_USER:1000000 RATE_LIMIT_PERIOD_SECONDS:5)

# start NAME DIR CONFIG NAME:value...: the worker served by bench/serve.mjs (wrangler's own
# dev server with the devtools inspector off, see there) in its own process group; sets
# PORT and GROUP. BENCH_INSPECTOR=1 serves through `wrangler dev` instead (inspector on), to
# compare the runners.
start() {
  local name="$1" dir="$2" config="$3"; shift 3
  local port; port="$(free_port)"
  if [ "${BENCH_INSPECTOR:-0}" = 1 ]; then
    local vars=() pair
    for pair in "$@"; do vars+=(--var "$pair"); done
    WRANGLER_REGISTRY_PATH="$dir.registry" setsid npx wrangler dev -c "$config" --ip 127.0.0.1 --port "$port" \
      --inspector-port "$(free_port)" --persist-to "$dir" --show-interactive-dev-session=false --log-level error \
      "${vars[@]}" >"$RUN_DIR/$name.log" 2>&1 < /dev/null &
  else
    WRANGLER_REGISTRY_PATH="$dir.registry" setsid node bench/serve.mjs "$config" "$port" "$dir" "$@" \
      >"$RUN_DIR/$name.log" 2>&1 < /dev/null &
  fi
  PIDS+=("$!")
  for _ in $(seq 1 120); do
    curl -s -o /dev/null "http://127.0.0.1:$port/health" && { PORT="$port"; GROUP="${PIDS[-1]}"; return 0; }
    sleep 0.5
  done
  echo "[bench] $name did not start:" >&2; tail -30 "$RUN_DIR/$name.log" >&2; exit 1
}
# The workerd process that runs the worker (and its Durable Objects, D1 and the other local
# bindings); wrangler's dev proxy, which every request also crosses, runs in a second one,
# listening on the public port, and is not counted (production has no such hop).
workerd_pids() {
  local pid
  for pid in $(pgrep -g "$1" -x workerd); do
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "--socket-addr=entry=127.0.0.1:$2 " || echo "$pid"
  done | paste -sd, -
}

# The third-party identity provider of the `me (third-party RS256)` scenario (bench/loadgen.rs
# `provider`): RS256 tokens for the seeded subjects, its OpenID configuration and JWKS.
jwks_port="$(free_port)"
setsid "$LOADGEN" provider "$jwks_port" "$RUN_DIR/external-tokens.json" >"$RUN_DIR/provider.log" 2>&1 < /dev/null &
PIDS+=("$!")
for _ in $(seq 1 100); do [ -s "$RUN_DIR/external-tokens.json" ] && break; sleep 0.2; done
[ -s "$RUN_DIR/external-tokens.json" ] || { echo "[bench] the provider did not start:" >&2; cat "$RUN_DIR/provider.log" >&2; exit 1; }
export BENCH_EXTERNAL_TOKENS="$RUN_DIR/external-tokens.json"
EXTERNAL=("EXTERNAL_JWT_ISSUER:http://127.0.0.1:$jwks_port" EXTERNAL_JWT_AUDIENCE:secure-api-bench)

echo "[bench] seeding secure-api (users, API key, posts, third-party users) through the API"
npx wrangler d1 migrations apply DB --local --persist-to "$RUN_DIR/ours" >/dev/null 2>&1
start ours "$RUN_DIR/ours" "$BENCH_CONFIG" "${LIMITS[@]}" "${EXTERNAL[@]}"
ours_port="$PORT"; ours_group="$GROUP"
"$LOADGEN" seed "http://127.0.0.1:$ours_port" "$RUN_DIR/seed.json"
sleep 1
# The baseline serves a copy of the same D1 state (same database id, same file name).
mkdir -p "$RUN_DIR/base/v3"
cp -r "$RUN_DIR/ours/v3/d1" "$RUN_DIR/base/v3/d1"
start base "$RUN_DIR/base" bench/baseline/wrangler.toml "JWT_SECRET:$secret" RATE_LIMIT_PERIOD_SECONDS:5 "${EXTERNAL[@]}" \
  "EXTERNAL_JWKS_URL:http://127.0.0.1:$jwks_port/jwks.json"
base_port="$PORT"; base_group="$GROUP"

if [ -n "${BENCH_SCENARIOS:-}" ]; then RESULTS_FILE=bench/RESULTS.partial.md; fi
raw=$(stat -c %s build/index_bg.wasm); gz=$(gzip -9 -c build/index_bg.wasm | wc -c)
echo "[bench] measuring (alternating secure-api and baseline, concurrency 1 and 8)"
"$LOADGEN" run "http://127.0.0.1:$ours_port" "$(workerd_pids "$ours_group" "$ours_port")" \
  "http://127.0.0.1:$base_port" "$(workerd_pids "$base_group" "$base_port")" \
  "$RUN_DIR/seed.json" "$RUN_DIR/table.md" "$raw" "$gz" "$RUN_DIR/ours"

{
  echo "# Benchmark results"
  echo
  echo "CPU time per request of the workerd process that runs each worker (utime + stime from"
  echo "/proc, read before and after each run), secure-api against a minimal JavaScript worker"
  echo "doing the same D1 statements and WebCrypto work (bench/baseline/worker.js), measured"
  echo "interleaved in the same run; the ratio column is secure-api / baseline. Note that local"
  echo "D1 (SQLite) runs inside the same workerd process, so both columns include the same"
  echo "storage CPU, which production bills to neither. \"D1 rows written/req\" is measured on"
  echo "secure-api's local D1 file (rows added to every table plus D1 counter increments, after"
  echo "the audit rows written off the response path have landed)."
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "- versions: $(rustc --version), wrangler $(npx wrangler --version 2>/dev/null | tail -1), $(node_modules/.bin/workerd --version 2>/dev/null), node $(node --version)"
  echo "- command: \`npm run bench\`"
  if [ "${BENCH_INSPECTOR:-0}" = 1 ]; then
    echo "- runner: \`wrangler dev\` (devtools inspector on), both with the same flags"
  else
    echo "- runner: wrangler's dev server through \`unstable_startWorker\` with the devtools inspector off (bench/serve.mjs), both alike; secure-api without \`[assets]\`"
  fi
  echo "- CPU counted: the workerd process that runs the worker, its Durable Objects and local D1 (not wrangler's dev proxy process)"
  echo
  cat "$RUN_DIR/table.md"
} > "${RESULTS_FILE:=bench/RESULTS.md}"
echo "[bench] wrote $RESULTS_FILE"
