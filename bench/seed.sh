#!/usr/bin/env bash
# Seeding throughput: `helpdesk seed --demo --tickets N` into a fresh database, timed.
#   bash bench/seed.sh [TICKETS] [DATABASE_URL]
# Defaults: 100000 tickets into a new SQLite file. Builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."

TICKETS="${1:-100000}"
cargo build --release --quiet --bin helpdesk
BIN="$(pwd)/target/release/helpdesk"
WORK="$(mktemp -d /tmp/helpdesk-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
URL="${2:-sqlite://$WORK/bench.db}"

start=$(date +%s.%N)
DATABASE_URL="$URL" RUST_LOG=warn "$BIN" seed --demo --tickets "$TICKETS" >"$WORK/out" 2>&1
end=$(date +%s.%N)

seconds=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
rate=$(awk -v s="$start" -v e="$end" -v n="$TICKETS" 'BEGIN { printf "%.0f", n / (e - s) }')
echo "seeded $TICKETS tickets into ${URL%%\?*} in ${seconds}s (${rate} tickets/s, with comments and history)"
if [[ "$URL" == sqlite://* ]]; then
  du -h "${URL#sqlite://}" | awk '{ print "database file: " $1 }'
fi
