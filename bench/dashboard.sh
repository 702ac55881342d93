#!/usr/bin/env bash
# Throughput and latency of the dashboard query (50 tickets with requester, assignee,
# organization and their first 5 comments with authors), and the server's CPU per request.
#
#   [BENCH_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres] bash bench/dashboard.sh [TICKETS] [SECONDS]
#
# Seeds TICKETS (default 10000) demo tickets, topped up to 5 comments each, into a fresh
# database (PostgreSQL with BENCH_ADMIN_URL, else the embedded SQLite), starts the release
# server on it and runs wrk at concurrency 1, 16 and 64 (BENCH_LEVELS) for SECONDS each
# (default 15). Prints req/s, p50/p99 latency and the server's CPU milliseconds per request
# (from /proc) per level. Load goes to loopback only.
set -euo pipefail
source "$(dirname "$0")/common.sh"

TICKETS="${1:-10000}"
SECONDS_PER_LEVEL="${2:-15}"
PORT="${BENCH_PORT:-18080}"
read -r -a LEVELS <<< "${BENCH_LEVELS:-1 16 64}"

bench_build
bench_database helpdesk_bench
bench_dashboard_data "$TICKETS"
bench_serve
bench_login

echo "dashboard query over $TICKETS tickets x 5 comments on $WHERE, ${SECONDS_PER_LEVEL}s per level ($(nproc) cores shared by server, database and load)"
cpu() { awk '{ print $14 + $15 }' "/proc/$SERVER/stat"; }
for connections in "${LEVELS[@]}"; do
  threads=$(( connections < 2 ? 1 : 2 ))
  before="$(cpu)"
  result="$(wrk -t"$threads" -c"$connections" -d"${SECONDS_PER_LEVEL}s" -s bench/dashboard.lua \
    "http://127.0.0.1:$PORT/graphql" | grep '^RESULT')"
  after="$(cpu)"
  requests="$(sed -E 's/.*requests=([0-9]+).*/\1/' <<< "$result")"
  per_request="$(python3 -c "import sys, os; t = os.sysconf('SC_CLK_TCK'); print(f'{(int(sys.argv[2]) - int(sys.argv[1])) * 1000 / t / max(int(sys.argv[3]), 1):.2f}')" "$before" "$after" "$requests")"
  echo "concurrency $connections: ${result#RESULT } server_cpu_ms_per_request=$per_request"
done
