#!/usr/bin/env bash
# Fuzzes a running server with Schemathesis from openapi.json (settings in
# tests/fuzz/schemathesis.toml): as an API key, as a user (bearer), as an admin, then the
# operations that end the caller's session (logout, password change) on their own, each
# with a fresh user. Any failed check fails the script.
# Usage: scripts/fuzz.sh BASE_URL ADMIN_EMAIL ADMIN_PASSWORD REPORT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_URL="$1" ADMIN_EMAIL="$2" ADMIN_PASSWORD="$3" REPORT_DIR="$4"
ST=.venv/bin/st
mkdir -p "$REPORT_DIR"

# api METHOD PATH [BODY] [AUTH-HEADER]: one setup request; prints the body; fails loudly.
api() {
  local out status
  out="$(curl -s --max-time 30 -w '\n%{http_code}' -X "$1" "$BASE_URL$2" -H 'Content-Type: application/json' \
    ${4:+-H "$4"} ${3:+-d "$3"})" || true
  status="$(tail -n1 <<<"$out")"
  case "$status" in
    2??) sed '$d' <<<"$out" ;;
    *) echo "[fuzz] setup $1 $2 failed: status $status; body: $(sed '$d' <<<"$out")" >&2; return 1 ;;
  esac
}
json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(String(JSON.parse(s)[process.argv[1]])))' "$1"; }

# A fresh user's access token (the fuzzer logs in with emails it reads, which may lock an
# account: every run gets its own user).
fresh_token() {
  local email="fuzz-$1-$(node -e 'process.stdout.write(require("crypto").randomBytes(4).toString("hex"))')@example.com"
  api POST /api/auth/register "{\"email\":\"$email\",\"password\":\"Fuzz-Password-1\"}" >/dev/null
  api POST /api/auth/login "{\"email\":\"$email\",\"password\":\"Fuzz-Password-1\"}" | json_field accessToken
}

# run NAME AUTH-TOML [st options...]
run() {
  local name="$1" auth="$2"; shift 2
  local config="$REPORT_DIR/$name.toml"
  { cat tests/fuzz/schemathesis.toml; echo; echo "$auth"; } > "$config"
  echo "[fuzz] $name"
  FUZZ_BASE_URL="$BASE_URL" FUZZ_REPORT_DIR="$REPORT_DIR/$name" \
    "$ST" --config-file "$config" run openapi.json --no-color "$@" > "$REPORT_DIR/$name.log" 2>&1 \
    || { cat "$REPORT_DIR/$name.log"; echo "[fuzz] $name: failures (report in $REPORT_DIR/$name)" >&2; return 1; }
  grep -E "generated," "$REPORT_DIR/$name.log" | sed "s/^ */[fuzz]   /" || true
}

SESSION_ENDING=(--exclude-operation-id logout --exclude-operation-id changePassword)
status=0

user="$(fresh_token key-owner)"
key="$(api POST /api/api-keys '{"name":"fuzz","scopes":["posts:read","posts:create","posts:update","posts:delete"]}' \
  "Authorization: Bearer $user" | json_field key)"
run api-key "[auth.openapi.apiKeyAuth]
api_key = \"$key\"" "${SESSION_ENDING[@]}" || status=1

run bearer "[auth.openapi.bearerAuth]
bearer = \"$(fresh_token bearer)\"" "${SESSION_ENDING[@]}" || status=1

admin="$(api POST /api/auth/login "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | json_field accessToken)"
run admin "[auth.openapi.bearerAuth]
bearer = \"$admin\"" "${SESSION_ENDING[@]}" || status=1

for op in changePassword logout; do
  run "$op" "[auth.openapi.bearerAuth]
bearer = \"$(fresh_token "$op")\"" --include-operation-id "$op" || status=1
done

if [ "$status" -ne 0 ]; then
  echo "[fuzz] Schemathesis found failures" >&2
  exit 1
fi
echo "[fuzz] every check passed"
