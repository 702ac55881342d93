#!/usr/bin/env bash
# Throughput and latency of the dashboard query (50 tickets with requester, assignee,
# organization and their first 5 comments with authors) on PostgreSQL.
#
#   BENCH_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres bash bench/dashboard.sh [TICKETS] [SECONDS]
#
# Creates a fresh database, seeds TICKETS (default 10000) demo tickets, starts the release
# server on it and runs wrk (Debian package `wrk`) at concurrency 1, 16 and 64 for SECONDS each
# (default 15). Prints req/s and p50/p99 latency per level. Load goes to loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

TICKETS="${1:-10000}"
SECONDS_PER_LEVEL="${2:-15}"
ADMIN_URL="${BENCH_ADMIN_URL:?set BENCH_ADMIN_URL to a PostgreSQL URL that may create databases}"
DB_NAME="helpdesk_bench_$$"
DB_URL="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$ADMIN_URL" "$DB_NAME")"
PORT="${BENCH_PORT:-18080}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cargo build --release --quiet --bin helpdesk
BIN="$(pwd)/target/release/helpdesk"
export HELPDESK_JWT_SECRET="bench-signing-key-of-at-least-thirty-two-bytes"
# Seals webhook secrets; PostgreSQL requires one (a throwaway key for a throwaway database).
export HELPDESK_DATA_KEY="$(openssl rand -base64 32 2>/dev/null || head -c 32 /dev/urandom | base64)"
export RUST_LOG=warn

psql "$ADMIN_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null
cleanup() {
  [[ -n "${SERVER:-}" ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT

DATABASE_URL="$DB_URL" "$BIN" seed --demo --tickets "$TICKETS" | head -n1
DATABASE_URL="$DB_URL" HELPDESK_ADDR="127.0.0.1:$PORT" HELPDESK_DB_MAX_CONNECTIONS=20 \
  "$BIN" serve --no-demo >/dev/null 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.1
done

BENCH_TOKEN="$(curl -sf "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
  -d '{"query":"mutation { authLogin(input: { email: \"admin@demo.helpdesk.local\", password: \"helpdesk-demo\" }) { accessToken } }"}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["authLogin"]["accessToken"])')"
export BENCH_TOKEN

echo "dashboard query over $TICKETS tickets on PostgreSQL, ${SECONDS_PER_LEVEL}s per level ($(nproc) cores shared by server, database and load)"
for connections in 1 16 64; do
  threads=$(( connections < 2 ? 1 : 2 ))
  result="$(wrk -t"$threads" -c"$connections" -d"${SECONDS_PER_LEVEL}s" -s bench/dashboard.lua \
    "http://127.0.0.1:$PORT/graphql" | grep '^RESULT')"
  echo "concurrency $connections: ${result#RESULT }"
done
