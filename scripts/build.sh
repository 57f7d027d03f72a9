#!/usr/bin/env bash
# Builds the worker (release) offline: cargo -> wasm-bindgen -> wasm-opt -> esbuild, with the
# tool binaries installed by scripts/bootstrap.sh. Skips the work when build/ is newer than
# every source file. Also the `[build] command` of wrangler.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

# Static assets (wrangler.toml [assets]): the OpenAPI description the worker serves at
# /openapi.json, and the dashboard (dashboard/, served at / without running the worker)
# with its `_headers` (the security headers of src/web/security-headers.json, with a page
# CSP: scripts/dashboard-headers.mjs). Copied on every run, the wasm being up to date or not.
# Files are overwritten in place, never the directory removed: a running `wrangler dev`
# watches it (and `npm run dev` runs this script itself when dashboard/ changes).
copy_assets() {
  mkdir -p build/assets
  cp openapi.json build/assets/openapi.json
  cp -R dashboard/. build/assets/
  node scripts/dashboard-headers.mjs build/assets/_headers
  # A file removed from dashboard/ goes from build/assets too.
  local f
  while IFS= read -r -d '' f; do
    f="${f#build/assets/}"
    case "$f" in openapi.json|_headers) continue ;; esac
    [ -e "dashboard/$f" ] || rm -f "build/assets/$f"
  done < <(find build/assets -type f -print0)
  find build/assets -mindepth 1 -type d -empty -delete
}
copy_assets

if [ -f build/index.js ] && [ -f build/index_bg.wasm ] && [ "${FORCE_BUILD:-}" != "1" ] \
   && [ "$(cat build/.keep-names 2>/dev/null || echo 0)" = "${KEEP_NAMES:-0}" ] \
   && [ -z "$(find src js/edge-glue.js build.rs Cargo.toml Cargo.lock -newer build/index.js -print -quit)" ]; then
  echo "[build] build/ is up to date"
  exit 0
fi

export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
for bin in "$WASM_BINDGEN_BIN" "$ESBUILD_BIN" "$WASM_OPT_BIN" "$CARGO_BIN/worker-build"; do
  if [ ! -x "$bin" ]; then
    echo "[build] missing $bin: run 'npm run bootstrap' (or 'bash scripts/bootstrap.sh') first" >&2
    exit 1
  fi
done
"$CARGO_BIN/worker-build" --release
# worker-build passes --debuginfo to wasm-opt, which keeps the function-name section. Names
# only serve stack traces; stripping them saves ~25 KB gzip of what every cold start loads.
# KEEP_NAMES=1 keeps them (CPU profiles with function names: bench/profile.mjs).
if [ "${KEEP_NAMES:-}" != "1" ]; then
  # -Oz again once the names are gone: they kept wasm-opt from merging identical code.
  "$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.stripped.wasm --strip-debug -Oz \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
    --enable-multivalue --enable-reference-types --enable-exception-handling
  mv build/index_bg.stripped.wasm build/index_bg.wasm
fi
echo "${KEEP_NAMES:-0}" > build/.keep-names
if [ -f build/index_bg.wasm ]; then
  raw=$(stat -c %s build/index_bg.wasm)
  gz=$(gzip -9 -c build/index_bg.wasm | wc -c)
  echo "[build] build/index_bg.wasm: $raw bytes raw, $gz bytes gzip"
fi
# (again: worker-build may have replaced build/)
copy_assets
