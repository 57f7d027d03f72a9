#!/usr/bin/env bash
# Promotes an existing account to the admin role.
#   npm run admin:promote -- someone@example.com            # local D1 (wrangler dev)
#   npm run admin:promote -- someone@example.com --remote   # the deployed D1
# Extra flags (e.g. --persist-to DIR) are passed to `wrangler d1 execute`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: npm run admin:promote -- <email> [--remote] [wrangler d1 execute flags]" >&2
  exit 2
fi
email="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')"
shift
if ! printf '%s' "$email" | grep -Eq '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'; then
  echo "not an email address: $email" >&2
  exit 2
fi
target="--local"
extra=()
for arg in "$@"; do
  case "$arg" in
    --remote) target="--remote" ;;
    --local) target="--local" ;;
    *) extra+=("$arg") ;;
  esac
done
quoted="${email//\'/\'\'}"
sql="UPDATE users SET role = 'admin', updated_at = CAST(strftime('%s','now') AS INTEGER) WHERE email = '$quoted' RETURNING id, email, role;"
out="$(npx wrangler d1 execute DB "$target" "${extra[@]}" --json --command "$sql" 2>/dev/null)" || {
  echo "wrangler d1 execute failed; run it without --json to see why:" >&2
  echo "  npx wrangler d1 execute DB $target --command \"$sql\"" >&2
  exit 1
}
if printf '%s' "$out" | grep -q '"role": *"admin"'; then
  echo "promoted $email to admin ($target)"
else
  echo "no account with email $email ($target): register it first" >&2
  exit 1
fi
