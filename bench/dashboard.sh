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
DATABASE_URL="$DB_URL" "$BIN" seed --demo --tickets "$TICKETS" | head -n1
# The same data as the side-by-side with PostGraphile: five comments on every ticket.
TOP_UP="INSERT INTO comments (id, ticket_id, author_id, body, is_internal, created_at, updated_at)
  SELECT lower(hex(randomblob(16))), t.id, t.requester_id, 'Follow-up ' || g.n || ' on ticket ' || t.number, 0,
         t.created_at, t.created_at
  FROM tickets t, (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5) g
  WHERE g.n > (SELECT count(*) FROM comments c WHERE c.ticket_id = t.id)"
if [[ -n "${BENCH_ADMIN_URL:-}" ]]; then
  psql "$DB_URL" -qc "
    INSERT INTO comments (id, ticket_id, author_id, body, is_internal, created_at, updated_at)
    SELECT gen_random_uuid(), t.id, t.requester_id, 'Follow-up ' || g || ' on ticket ' || t.number, false,
           t.created_at + (g || ' minutes')::interval, t.created_at + (g || ' minutes')::interval
    FROM tickets t CROSS JOIN generate_series(1, 5) g
    WHERE g > (SELECT count(*) FROM comments c WHERE c.ticket_id = t.id);
    ANALYZE;" >/dev/null
  where="PostgreSQL"
else
  python3 - "${DB_URL#sqlite://}" "$TOP_UP" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute(sys.argv[2]); db.commit(); db.execute("ANALYZE"); db.close()
PY
  where="SQLite"
fi
bench_serve
bench_login

echo "dashboard query over $TICKETS tickets x 5 comments on $where, ${SECONDS_PER_LEVEL}s per level ($(nproc) cores shared by server, database and load)"
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
