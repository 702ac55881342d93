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
# it on (in Redis when BENCH_REDIS_URL is set, in process otherwise); and the year's
# `ticketStatsSeries` by MONTH, uncached. Needs wrk.
set -euo pipefail
: "${BENCH_ADMIN_URL:?set BENCH_ADMIN_URL to a PostgreSQL URL that may create databases}"
source "$(dirname "$0")/common.sh"

TICKETS="${1:-1000000}"
DURATION="${2:-10}"
PORT="${BENCH_PORT:-18081}"
export BENCH_TO="$(date -u +%F)"
export BENCH_FROM="$(date -u -d '-364 days' +%F)"

bench_build
bench_database helpdesk_stats_bench
start=$(date +%s)
DATABASE_URL="$DB_URL" "$BIN" seed --demo --tickets "$TICKETS" | head -n1
echo "seeding (with the roll-up rebuild) took $(( $(date +%s) - start ))s"
psql "$DB_URL" -Atc "SELECT 'tickets: ' || count(*) FROM tickets; SELECT 'daily roll-up rows: ' || count(*) FROM ticket_stats_daily; SELECT 'count roll-up rows: ' || count(*) FROM ticket_counts; SELECT 'histogram rows: ' || count(*) FROM ticket_resolution_buckets"

serve() {
  bench_serve HELPDESK_JOBS_INTERVAL=0 "$@"
  bench_login
}

measure() {
  BENCH_STATS="${1:-}" wrk -t1 -c1 -d"${DURATION}s" -s bench/stats.lua "http://127.0.0.1:$PORT/graphql" | grep '^RESULT'
}

echo "ticketStats over $TICKETS tickets, $BENCH_FROM..$BENCH_TO, every organization, concurrency 1"
serve HELPDESK_STATS_TTL=0
result="$(measure)"; echo "uncached (roll-ups read per request): ${result#RESULT }"
result="$(measure series)"; echo "ticketStatsSeries by MONTH, uncached: ${result#RESULT }"
bench_stop

if [[ -n "${BENCH_REDIS_URL:-}" ]]; then
  serve REDIS_URL="$BENCH_REDIS_URL" HELPDESK_REDIS_PREFIX="bench$$"
  where="Redis"
else
  serve
  where="in process"
fi
result="$(measure)"; echo "cached ($where): ${result#RESULT }"
