#!/usr/bin/env bash
# Instructions the server executes per dashboard query, counted by Valgrind's callgrind: a
# figure that does not move with the machine's load, for comparing builds on a shared machine
# where CPU time per request varies by a third from one run to the next.
#
#   [BENCH_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres] bash bench/instructions.sh [TICKETS] [REQUESTS] [BIN...]
#
# Seeds TICKETS (default 10000) demo tickets with 5 comments each into a fresh database
# (PostgreSQL with BENCH_ADMIN_URL, else the embedded SQLite), then for each binary (default:
# the release build) runs the server under callgrind twice, for REQUESTS (default 100) and for
# 2 x REQUESTS sequential dashboard queries after one sign-in, and prints the difference
# divided by REQUESTS: what one more request costs, startup and sign-in excluded (background
# jobs off, as their rounds follow the clock, not the requests). With
# BENCH_PROFILE=DIR the larger run's profile is kept there for `callgrind_annotate`. Needs
# valgrind (apt-get install valgrind).
set -euo pipefail
source "$(dirname "$0")/common.sh"
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

TICKETS="${1:-10000}"
REQUESTS="${2:-100}"
shift $(( $# < 2 ? $# : 2 ))
PORT="${BENCH_PORT:-18081}"

bench_build
BINS=("$@")
[[ ${#BINS[@]} -gt 0 ]] || BINS=("$BIN")
bench_database helpdesk_instructions
bench_dashboard_data "$TICKETS"
BODY="$(python3 -c 'import json; print(json.dumps({"query": "{ tickets(first: 50) { nodes { number requester { name } assignee { name } organization { name } comments(first: 5) { nodes { body author { name } } } } } }"}))')"

# instructions BINARY N: the server's instructions for startup, one sign-in and N queries
instructions() {
  local out="$BENCH_WORK/callgrind.out"
  env DATABASE_URL="$DB_URL" HELPDESK_ADDR="127.0.0.1:$PORT" HELPDESK_JOBS_INTERVAL=0 \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$1" serve --no-demo >/dev/null 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
    sleep 0.2
  done
  bench_login
  for _ in $(seq 1 "$2"); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
      -H "authorization: Bearer $BENCH_TOKEN" -d "$BODY" \
      || { echo "a dashboard query failed" >&2; exit 1; }
  done
  kill -INT "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  SERVER=""
  if [[ -n "${BENCH_PROFILE:-}" ]]; then
    mkdir -p "$BENCH_PROFILE" && cp "$out" "$BENCH_PROFILE/callgrind.$(basename "$(dirname "$1")").out"
  fi
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

echo "dashboard query over $TICKETS tickets x 5 comments on $WHERE: server instructions per request (callgrind)"
for bin in "${BINS[@]}"; do
  small="$(instructions "$bin" "$REQUESTS")"
  large="$(instructions "$bin" $(( 2 * REQUESTS )))"
  python3 -c "import sys; print(f'{sys.argv[1]}: {(int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4]) / 1e6:.2f} M instructions per request')" \
    "$bin" "$small" "$large" "$REQUESTS"
done
