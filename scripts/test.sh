#!/usr/bin/env bash
# Runs every test: host unit tests, clippy (host and wasm32), the release build, then the
# black-box suite (tests/api) and the dashboard's browser test (tests/browser, headless
# Chromium) against real `wrangler dev` servers (tests/servers.json) this script starts on
# free loopback ports, each with a fresh --persist-to directory, and stops again (by PID)
# when it exits.
# `scripts/test.sh --fuzz` (npm run fuzz) runs only the Schemathesis step, on its own server.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_ONLY=false
[ "${1:-}" = "--fuzz" ] && FUZZ_ONLY=true
# Reports of the last run (fuzzer reports, dashboard screenshots) stay here; RUN_DIR below
# is removed at exit.
OUT_DIR=".tmp/test-output"
rm -rf "$OUT_DIR" && mkdir -p "$OUT_DIR"

bash scripts/bootstrap.sh

if ! $FUZZ_ONLY; then

echo "[test] formatting (cargo fmt --check)"
cargo fmt --check

echo "[test] host unit tests"
cargo test --lib

echo "[test] worker entry: exceptions and panics become JSON 500s (node --test)"
node --test tests/entry/

echo "[test] clippy: host and wasm32 (unwrap/expect/panic/indexing denied outside tests)"
cargo clippy --quiet --lib --tests --features integration -- -D warnings
cargo clippy --quiet --lib --target wasm32-unknown-unknown -- -D warnings

fi

echo "[test] release build"
bash scripts/build.sh

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/secure-api-test.XXXXXX")"
PIDS=()
cleanup() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -d "$RUN_DIR" ]; then
    # Server-side error lines help explain a failing test (logs never contain secrets).
    for log in "$RUN_DIR"/*/dev.log; do
      [ -f "$log" ] || continue
      echo "[test] error lines from $(basename "$(dirname "$log")") server:" >&2
      grep -E '"level":"error"|Error|panicked' "$log" | tail -20 >&2 || true
    done
  fi
  for pid in "${PIDS[@]}"; do
    # Each server runs in its own session (setsid): end its whole process group.
    kill -- -"$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- -"$pid" 2>/dev/null || true
  done
  rm -rf "$RUN_DIR"
  rm -f .wrangler-test-*.json
}
trap cleanup EXIT

# free_port VAR: sets VAR to a free loopback port, never one this run already handed out
# (a port stays free until its user binds it, so two picks could otherwise coincide).
USED_PORTS=" "
free_port() {
  local candidate
  for _ in $(seq 1 20); do
    candidate="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
    case "$USED_PORTS" in *" $candidate "*) continue ;; esac
    USED_PORTS+="$candidate "
    printf -v "$1" '%s' "$candidate"
    return 0
  done
  echo "[test] could not find a free port" >&2
  exit 1
}

# The third-party identity provider of tests/api/oidc.rs: the test binary serves its
# discovery document and JWKS on OIDC_PORT; nothing ever listens on OIDC_DEAD_PORT (a
# provider that is down). tests/servers.json refers to them as {OIDC_PORT} and
# {OIDC_DEAD_PORT} (substituted by scripts/test-config.mjs).
free_port OIDC_PORT; free_port OIDC_DEAD_PORT
export OIDC_PORT OIDC_DEAD_PORT

# The servers (tests/servers.json, one tab-separated line each: see scripts/test-config.mjs).
SERVER_LINES="$(node scripts/test-config.mjs servers)"
# They run the build made above from configs derived from wrangler.toml without `[build]`
# (scripts/test-config.mjs says why), written next to it so its relative paths hold.
rm -f .wrangler-test-*.json

# start_server NAME CONFIG-VARIANT MIGRATIONS(yes|no) [WRANGLER-DEV-ARGS...]: exports
# SECURE_API_<NAME>_URL, _D1 and _LOG.
start_server() {
  local name="$1" variant="$2" migrations="$3"; shift 3
  local dir="$RUN_DIR/$name" port inspector config=".wrangler-test-$variant.json"
  mkdir -p "$dir"
  free_port port; free_port inspector
  if [ "$migrations" = yes ]; then
    npx wrangler d1 migrations apply DB --local --persist-to "$dir/state" >"$dir/migrate.log" 2>&1 \
      || { cat "$dir/migrate.log"; exit 1; }
  fi
  [ -f "$config" ] || node scripts/test-config.mjs wrangler "$variant" "$config"
  # A dev registry per server: instances sharing one notice each other start and reload
  # their workers, cutting requests in flight.
  WRANGLER_REGISTRY_PATH="$dir/registry" setsid npx wrangler dev -c "$config" --ip 127.0.0.1 --port "$port" --inspector-port "$inspector" \
    --persist-to "$dir/state" --show-interactive-dev-session=false --log-level info "$@" \
    >"$dir/dev.log" 2>&1 < /dev/null &
  PIDS+=("$!")
  local upper; upper="$(echo "$name" | tr '[:lower:]' '[:upper:]')"
  export "SECURE_API_${upper}_URL=http://127.0.0.1:$port"
  export "SECURE_API_${upper}_D1=$dir/state"
  export "SECURE_API_${upper}_LOG=$dir/dev.log"
  echo "[test] server '$name' on 127.0.0.1:$port"
}

# wait_ready NAME STATUS BODY-SUBSTRING: a server is ready only when /health gives the
# expected answer (its `ready` in tests/servers.json: 200 with {"status":"ok"}, or for the
# weak-secret server a JSON 500 `internal_error`): anything else (a worker still loading, a
# proxy error) means wait.
wait_ready() {
  local name="$1" want_status="$2" want_body="$3" upper url body
  upper="$(echo "$name" | tr '[:lower:]' '[:upper:]')"
  url="$(printenv "SECURE_API_${upper}_URL")"
  for _ in $(seq 1 180); do
    body="$(curl -s --max-time 5 -w '\n%{http_code}' "$url/health" 2>/dev/null || true)"
    if [ "$(tail -n1 <<<"$body")" = "$want_status" ] && grep -qF -- "$want_body" <<<"$body"; then return 0; fi
    sleep 0.5
  done
  echo "[test] server '$name' did not become ready (last answer: ${body:-none}); its log:" >&2
  tail -50 "$RUN_DIR/$name/dev.log" >&2
  exit 1
}

# setup_request WHAT CURL-ARGS...: a setup request that must succeed (2xx). On a 5xx or a
# connection error it is retried once after a pause; on failure its status and body are
# printed and the run stops.
setup_request() {
  local what="$1"; shift
  local out status attempt
  for attempt in 1 2; do
    out="$(curl -s --max-time 30 -w '\n%{http_code}' "$@" 2>&1 || true)"
    status="$(tail -n1 <<<"$out")"
    case "$status" in
      2??) return 0 ;;
      # A retried request whose first attempt went through after all (e.g. registration).
      409) [ "$attempt" = 2 ] && return 0 ;;
      5??|000|"") [ "$attempt" = 1 ] && { echo "[test] $what: status ${status:-none}, retrying once" >&2; sleep 2; continue; } ;;
    esac
    break
  done
  echo "[test] $what failed: status ${status:-none}; body: $(sed '$d' <<<"$out")" >&2
  exit 1
}

# `--fuzz`: only the Schemathesis target (FUZZ_SERVER).
SERVERS=() FUZZ_SERVER=""
declare -A READY_STATUS READY_BODY ADMIN
mapfile -t lines <<<"$SERVER_LINES"
for line in "${lines[@]}"; do
  IFS=$'\t' read -r -a f <<<"$line"
  name="${f[0]}"
  [ "${f[4]}" = yes ] && FUZZ_SERVER="$name"
  if $FUZZ_ONLY && [ "${f[4]}" != yes ]; then continue; fi
  ADMIN[$name]="${f[3]}" READY_STATUS[$name]="${f[5]}" READY_BODY[$name]="${f[6]}"
  start_server "$name" "${f[1]}" "${f[2]}" "${f[@]:7}"
  SERVERS+=("$name")
done
for s in "${SERVERS[@]}"; do
  wait_ready "$s" "${READY_STATUS[$s]}" "${READY_BODY[$s]}"
done

# One admin per server, made the documented way: register through the API, then
# `npm run admin:promote` against that server's local D1 (before any test traffic).
export SECURE_API_ADMIN_PASSWORD="Admin-Password-$(node -e 'process.stdout.write(require("crypto").randomBytes(6).toString("hex"))')1"
for s in "${SERVERS[@]}"; do
  [ "${ADMIN[$s]}" = yes ] || continue
  upper="$(echo "$s" | tr '[:lower:]' '[:upper:]')"
  url="$(printenv "SECURE_API_${upper}_URL")"
  email="admin-$s@example.com"
  setup_request "registering the $s server's admin" -X POST "$url/api/auth/register" \
    -H 'Content-Type: application/json' -H 'CF-Connecting-IP: 192.0.2.1' \
    -d "{\"email\":\"$email\",\"password\":\"$SECURE_API_ADMIN_PASSWORD\"}"
  bash scripts/admin-promote.sh "$email" --persist-to "$(printenv "SECURE_API_${upper}_D1")"
  export "SECURE_API_${upper}_ADMIN=$email"
done

if ! $FUZZ_ONLY; then
  echo "[test] black-box suite (tests/api) against wrangler dev"
  # TEST_FILTER=<substring> runs only the matching black-box tests (while developing).
  cargo test --features integration --test api -- --test-threads 8 ${TEST_FILTER:+"$TEST_FILTER"}

  # The dashboard in the system Chromium (puppeteer-core) against the `browser` server
  # (SECURE_API_BROWSER_URL); screenshots of each screen go to $OUT_DIR/screenshots.
  # SKIP_BROWSER=1 leaves it out (a development run, not a full one).
  if [ "${SKIP_BROWSER:-}" = 1 ]; then
    echo "[test] SKIP_BROWSER=1: the dashboard's browser test skipped (not a full run)"
  else
    echo "[test] dashboard in Chromium (tests/browser) against wrangler dev"
    if ! command -v chromium >/dev/null 2>&1 && [ -z "${SECURE_API_CHROMIUM:-}" ]; then
      echo "[test] ************************************************************************" >&2
      echo "[test] * chromium is not installed: the dashboard's browser test is SKIPPED.   *" >&2
      echo "[test] * scripts/bootstrap.sh installs it with apt-get (root or sudo needed).  *" >&2
      echo "[test] ************************************************************************" >&2
    fi
    browser_start=$(date +%s)
    SECURE_API_SCREENSHOTS="$OUT_DIR/screenshots" node --test tests/browser/
    echo "[test] browser tests took $(( $(date +%s) - browser_start )) s"
  fi
fi

if [ "${SKIP_FUZZ:-}" = 1 ]; then
  echo "[test] SKIP_FUZZ=1: Schemathesis skipped (not a full run)"
  exit 0
fi

echo "[test] Schemathesis against openapi.json (reports in $OUT_DIR/fuzz)"
upper="$(echo "$FUZZ_SERVER" | tr '[:lower:]' '[:upper:]')"
bash scripts/fuzz.sh "$(printenv "SECURE_API_${upper}_URL")" "$(printenv "SECURE_API_${upper}_ADMIN")" \
  "$SECURE_API_ADMIN_PASSWORD" "$OUT_DIR/fuzz"
