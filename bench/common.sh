# Shared by the benchmark scripts (sourced, not run): the release binary, a throwaway
# database, the server on it, and a token of the demo administrator.
#
#   bench_build                 the release binary -> BIN (HELPDESK_BIN to use another build)
#   bench_database NAME         a fresh database -> DB_URL, dropped on exit: PostgreSQL when
#                               BENCH_ADMIN_URL is set (a URL that may create databases), else a
#                               SQLite file in a temporary directory
#   bench_dashboard_data N      `helpdesk seed --demo --tickets N` into DB_URL, topped up to five
#                               comments per ticket (the dashboard query's data) -> WHERE
#   bench_serve [VAR=VALUE...]  the server on DB_URL at 127.0.0.1:PORT, with extra environment
#                               -> SERVER; returns once it is ready
#   bench_login                 BENCH_TOKEN, the demo administrator's access token (exported)
#   bench_stop                  stops the server

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export HELPDESK_JWT_SECRET="bench-signing-key-of-at-least-thirty-two-bytes"
# Seals webhook secrets; PostgreSQL requires one (a throwaway key for a throwaway database).
HELPDESK_DATA_KEY="$(openssl rand -base64 32 2>/dev/null || head -c 32 /dev/urandom | base64)"
export HELPDESK_DATA_KEY
export RUST_LOG=warn
SERVER=""
BENCH_WORK="$(mktemp -d /tmp/helpdesk-bench.XXXXXX)"

bench_build() {
  if [[ -n "${HELPDESK_BIN:-}" ]]; then
    BIN="$HELPDESK_BIN"
  else
    cargo build --release --quiet --bin helpdesk
    BIN="$(pwd)/target/release/helpdesk"
  fi
}

bench_database() {
  if [[ -n "${BENCH_ADMIN_URL:-}" ]]; then
    BENCH_DB_NAME="$1_$$"
    DB_URL="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$BENCH_ADMIN_URL" "$BENCH_DB_NAME")"
    psql "$BENCH_ADMIN_URL" -qc "CREATE DATABASE $BENCH_DB_NAME" >/dev/null
  else
    DB_URL="sqlite://$BENCH_WORK/$1.db"
  fi
}

bench_dashboard_data() {
  DATABASE_URL="$DB_URL" "$BIN" seed --demo --tickets "$1" | head -n1
  # The same data as the side-by-side with PostGraphile: five comments on every ticket.
  if [[ -n "${BENCH_ADMIN_URL:-}" ]]; then
    psql "$DB_URL" -qc "
      INSERT INTO comments (id, ticket_id, author_id, body, is_internal, created_at, updated_at)
      SELECT gen_random_uuid(), t.id, t.requester_id, 'Follow-up ' || g || ' on ticket ' || t.number, false,
             t.created_at + (g || ' minutes')::interval, t.created_at + (g || ' minutes')::interval
      FROM tickets t CROSS JOIN generate_series(1, 5) g
      WHERE g > (SELECT count(*) FROM comments c WHERE c.ticket_id = t.id);
      ANALYZE;" >/dev/null
    WHERE="PostgreSQL"
  else
    python3 - "${DB_URL#sqlite://}" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("""INSERT INTO comments (id, ticket_id, author_id, body, is_internal, created_at, updated_at)
  SELECT lower(hex(randomblob(16))), t.id, t.requester_id, 'Follow-up ' || g.n || ' on ticket ' || t.number, 0,
         t.created_at, t.created_at
  FROM tickets t, (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5) g
  WHERE g.n > (SELECT count(*) FROM comments c WHERE c.ticket_id = t.id)""")
db.commit(); db.execute("ANALYZE"); db.close()
PY
    WHERE="SQLite"
  fi
}

bench_cleanup() {
  bench_stop
  if [[ -n "${BENCH_DB_NAME:-}" ]]; then
    psql "$BENCH_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $BENCH_DB_NAME WITH (FORCE)" >/dev/null || true
  fi
  rm -rf "$BENCH_WORK"
}
trap bench_cleanup EXIT

bench_serve() {
  env DATABASE_URL="$DB_URL" HELPDESK_ADDR="127.0.0.1:$PORT" HELPDESK_DB_MAX_CONNECTIONS=20 "$@" \
    "$BIN" serve --no-demo >/dev/null 2>&1 &
  SERVER=$!
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not become ready" >&2
  exit 1
}

bench_login() {
  BENCH_TOKEN="$(curl -sf "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
    -d '{"query":"mutation { authLogin(input: { email: \"admin@demo.helpdesk.local\", password: \"helpdesk-demo\" }) { accessToken } }"}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["authLogin"]["accessToken"])')"
  export BENCH_TOKEN
}

bench_stop() {
  if [[ -n "$SERVER" ]]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
  fi
}
