#!/usr/bin/env bash
# Local development: bootstrap (idempotent) → release build → migrate the local D1 →
# `wrangler dev` on http://127.0.0.1:8787 (rebuilds when src/ changes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
npx wrangler d1 migrations apply DB --local
exec npx wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" "$@"
