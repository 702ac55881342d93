#!/usr/bin/env bash
# Latency of `ticketStats` over a year of tickets on PostgreSQL, uncached and cached.
#
#   BENCH_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres [BENCH_REDIS_URL=redis://...] \
#     bash bench/stats.sh [TICKETS] [SECONDS]
#
# Creates a fresh database, seeds TICKETS (default 1,000,000) demo tickets over the last year
# with `helpdesk seed --demo` (which derives the statistics roll-ups from them), then measures
# the year's `ticketStats` across every organization at concurrency 1 for SECONDS (default 10):
# first with the cache off (HELPDESK_STATS_TTL=0: every request reads the roll-ups), then with
# it on (in Redis when BENCH_REDIS_URL is set, in process otherwise). Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

TICKETS="${1:-1000000}"
DURATION="${2:-10}"
ADMIN_URL="${BENCH_ADMIN_URL:?set BENCH_ADMIN_URL to a PostgreSQL URL that may create databases}"
DB_NAME="helpdesk_stats_bench_$$"
DB_URL="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$ADMIN_URL" "$DB_NAME")"
PORT="${BENCH_PORT:-18081}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cargo build --release --quiet --bin helpdesk
BIN="$(pwd)/target/release/helpdesk"
export HELPDESK_JWT_SECRET="bench-signing-key-of-at-least-thirty-two-bytes"
# Seals webhook secrets; PostgreSQL requires one (a throwaway key for a throwaway database).
export HELPDESK_DATA_KEY="$(openssl rand -base64 32 2>/dev/null || head -c 32 /dev/urandom | base64)"
export RUST_LOG=warn
export BENCH_TO="$(date -u +%F)"
export BENCH_FROM="$(date -u -d '-364 days' +%F)"

psql "$ADMIN_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null
cleanup() {
  [[ -n "${SERVER:-}" ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT

start=$(date +%s)
DATABASE_URL="$DB_URL" "$BIN" seed --demo --tickets "$TICKETS" | head -n1
echo "seeding (with the roll-up rebuild) took $(( $(date +%s) - start ))s"
psql "$DB_URL" -Atc "SELECT 'tickets: ' || count(*) FROM tickets; SELECT 'daily roll-up rows: ' || count(*) FROM ticket_stats_daily; SELECT 'count roll-up rows: ' || count(*) FROM ticket_counts; SELECT 'histogram rows: ' || count(*) FROM ticket_resolution_buckets"

serve() {
  DATABASE_URL="$DB_URL" HELPDESK_ADDR="127.0.0.1:$PORT" HELPDESK_JOBS_INTERVAL=0 "$@" \
    "$BIN" serve --no-demo >/dev/null 2>&1 &
  SERVER=$!
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
    sleep 0.1
  done
  BENCH_TOKEN="$(curl -sf "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
    -d '{"query":"mutation { authLogin(input: { email: \"admin@demo.helpdesk.local\", password: \"helpdesk-demo\" }) { accessToken } }"}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["authLogin"]["accessToken"])')"
  export BENCH_TOKEN
}

measure() {
  wrk -t1 -c1 -d"${DURATION}s" -s bench/stats.lua "http://127.0.0.1:$PORT/graphql" | grep '^RESULT'
}

echo "ticketStats over $TICKETS tickets, $BENCH_FROM..$BENCH_TO, every organization, concurrency 1"
serve env HELPDESK_STATS_TTL=0
result="$(measure)"; echo "uncached (roll-ups read per request): ${result#RESULT }"
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""

if [[ -n "${BENCH_REDIS_URL:-}" ]]; then
  serve env REDIS_URL="$BENCH_REDIS_URL" HELPDESK_REDIS_PREFIX="bench$$"
  where="Redis"
else
  serve env
  where="in process"
fi
result="$(measure)"; echo "cached ($where): ${result#RESULT }"
