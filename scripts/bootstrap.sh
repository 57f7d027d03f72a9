#!/usr/bin/env bash
# Installs everything the build and the tests need, pinned, skipping what is already there.
# Safe to run any number of times. Needs: rustup/cargo, node + npm, and access to the
# crates.io and npm registries. Nothing is downloaded from anywhere else, and nothing is
# downloaded at build time afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION="0.8.7"
# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

log() { echo "[bootstrap] $*"; }

if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "rust target wasm32-unknown-unknown: present"
else
  log "rust target wasm32-unknown-unknown: installing"
  rustup target add wasm32-unknown-unknown
fi

if [ "$("$CARGO_BIN/worker-build" --version 2>/dev/null | awk '{print $NF}')" = "$WORKER_BUILD_VERSION" ]; then
  log "worker-build $WORKER_BUILD_VERSION: present"
else
  log "worker-build $WORKER_BUILD_VERSION: installing (cargo install --locked, a few minutes)"
  cargo install --locked --quiet worker-build --version "$WORKER_BUILD_VERSION"
fi

if [ -z "$WASM_BINDGEN_VERSION" ]; then
  echo "[bootstrap] cannot read the wasm-bindgen version from Cargo.lock" >&2
  exit 1
fi
if [ "$("$CARGO_BIN/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" = "$WASM_BINDGEN_VERSION" ]; then
  log "wasm-bindgen-cli $WASM_BINDGEN_VERSION: present"
else
  log "wasm-bindgen-cli $WASM_BINDGEN_VERSION: installing (cargo install, a few minutes)"
  # The published lockfile of wasm-bindgen-cli pins a webpki-roots release that some
  # registry mirrors no longer serve; fall back to resolving its dependencies afresh.
  # The wasm-bindgen-cli version itself stays exact either way.
  if ! cargo install --locked --quiet wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" 2>/tmp/secure-api-wbg.err; then
    log "  --locked install failed ($(grep -m1 -o 'failed to select a version[^`]*`[^`]*`' /tmp/secure-api-wbg.err || echo 'see /tmp/secure-api-wbg.err')); retrying without --locked"
    cargo install --quiet wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
fi

LOCK_SUM="$(sha256sum package-lock.json | awk '{print $1}')"
if [ -f node_modules/.bootstrap-lock ] && [ "$(cat node_modules/.bootstrap-lock)" = "$LOCK_SUM" ] \
   && [ -x node_modules/.bin/wrangler ]; then
  log "node_modules (wrangler, esbuild, binaryen, smol-toml, puppeteer-core): up to date"
else
  log "node_modules: npm ci (wrangler, esbuild, binaryen, smol-toml, puppeteer-core pinned by package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$LOCK_SUM" > node_modules/.bootstrap-lock
fi

# Schemathesis (the OpenAPI fuzzer of the test suite) in a project-local virtualenv,
# every package pinned by tests/fuzz/requirements.txt.
REQ_SUM="$(sha256sum tests/fuzz/requirements.txt | awk '{print $1}')"
if [ -x .venv/bin/st ] && [ -f .venv/.bootstrap-req ] && [ "$(cat .venv/.bootstrap-req)" = "$REQ_SUM" ]; then
  log ".venv (schemathesis $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("schemathesis"))')): up to date"
else
  log ".venv: installing schemathesis and its pinned dependencies (pip)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/fuzz/requirements.txt
  echo "$REQ_SUM" > .venv/.bootstrap-req
fi

# Chromium for the dashboard's browser test (tests/browser): the system browser, Debian's
# `chromium` package (browser downloads such as `puppeteer browsers install` are not used;
# puppeteer-core, pinned in package.json, only drives it). Not pinned to a version: the
# distribution ships a browser's security fixes by replacing the package. When it cannot be
# installed (no apt-get, not root and no password-less sudo, no package), the browser test
# is skipped with a loud message (SECURE_API_REQUIRE_BROWSER=1 makes that a failure).
chromium_version() { chromium --version 2>/dev/null | head -1; }
if command -v chromium >/dev/null 2>&1; then
  log "chromium: present ($(chromium_version))"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "chromium: WARNING: not installed and there is no apt-get here: the browser test will be SKIPPED"
  elif [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
    log "chromium: WARNING: not installed, and installing it needs root or sudo: the browser test will be SKIPPED"
  else
    log "chromium: installing (${SUDO:+$SUDO }apt-get install -y chromium)"
    apt_install() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/tmp/secure-api-apt.log 2>&1; }
    # A fresh machine may have no package lists yet: update once, then try again.
    if apt_install || { $SUDO apt-get update -q >>/tmp/secure-api-apt.log 2>&1 && apt_install; }; then
      log "chromium: installed ($(chromium_version))"
    else
      log "chromium: WARNING: apt-get could not install it (see /tmp/secure-api-apt.log): the browser test will be SKIPPED"
    fi
  fi
fi

if [ -f .dev.vars ]; then
  log ".dev.vars: present (kept)"
else
  log ".dev.vars: creating from .dev.vars.example with a fresh random JWT_SECRET"
  secret="$(node -e 'process.stdout.write(require("crypto").randomBytes(48).toString("base64url"))')"
  sed "s|__GENERATE__|$secret|" .dev.vars.example > .dev.vars
  chmod 600 .dev.vars
fi
