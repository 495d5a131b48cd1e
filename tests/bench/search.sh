#!/usr/bin/env bash
# Search side by side in one run (docs/OPERATIONS.md, "Run of 2026-12-05 (later)" and
# "(evening)"): one database seeded with N documents (`docflow dev seed`), served by one
# release build, the listing and three searches measured with oha in rounds on that database.
# PostgreSQL (the default): the default (walk `search_walk_rows` rows, then the trigram
# indexes), the indexes with one query (`DOCFLOW_SEARCH_WALK_ROWS=0`), no trigram index and one
# query (as before), the default again. BACKEND=sqlite: the default (walk, then the
# `documents_fts` table), one query row by row (`DOCFLOW_SEARCH_WALK_ROWS=0`, as before), the
# default again.
#   cargo build --release && bash tests/bench/search.sh      (BACKEND=…, N=…, BIN=…, OHA=…)
# Needs oha (cargo install --locked oha); PostgreSQL on 127.0.0.1:5432 (user postgres, trust).
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${N:-100000}
BACKEND=${BACKEND:-postgres}
DB=docflow_search_bench
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/docflow}
OHA=${OHA:-$HOME/.cargo/bin/oha}
DATA=$(mktemp -d)
if [ "$BACKEND" = sqlite ]; then
  URL=sqlite://$DATA/docflow.db
else
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  URL=postgres://postgres@127.0.0.1:5432/$DB
fi
start=$(date +%s)
DATABASE_URL=$URL DOCFLOW_DATA_DIR=$DATA $BIN dev seed --documents $N --users 1000 --seed 1 > $DATA/seed.out
echo "seeded $N in $(( $(date +%s) - start )) s"; cat $DATA/seed.out
pw=$(grep '^password=' $DATA/seed.out | cut -d= -f2)
clerk=$(grep '^clerk=' $DATA/seed.out | cut -d= -f2)
# No notification senders (DOCFLOW_NOTIFY_WORKERS=0): the seeded office's first deadline scan
# queues ~47,000 notices, and sending them during the rounds (SQLite's one writer busy all
# along) is not what is measured.
serve() { # walk_rows
  DOCFLOW_NOTIFY_WORKERS=0 DATABASE_URL=$URL DOCFLOW_DATA_DIR=$DATA DOCFLOW_BIND=127.0.0.1:18181 DOCFLOW_LOGIN_SLOWDOWN_MS=0 \
    DOCFLOW_DB_POOL_SIZE=16 DOCFLOW_LOG_FORMAT=text NO_COLOR=1 DOCFLOW_ADMIN_PASSWORD=admin-password-1 \
    DOCFLOW_SEARCH_WALK_ROWS=$1 $BIN serve 2>> $DATA/server.log &
  srv=$!
  for _ in $(seq 60); do curl -sf http://127.0.0.1:18181/readyz >/dev/null && break; sleep 0.5; done
  tok=$(curl -sf -H 'content-type: application/json' -d "{\"username\":\"$clerk\",\"password\":\"$pw\"}" \
    http://127.0.0.1:18181/api/v1/auth/login | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}
stop() { kill $srv; wait $srv 2>/dev/null || true; }
# A failed step must not leave a server running on the port and the database.
trap '[ -n "${srv:-}" ] && kill "$srv" 2>/dev/null; true' EXIT
cell() { # label query
  for c in 2 8 32; do
    $OHA -z 3s -c $c --no-tui --output-format json -H "authorization: Bearer $tok" "http://127.0.0.1:18181/api/v1/documents?$2" \
      | python3 -c "import json,sys; r=json.load(sys.stdin); s=r['summary']; codes=r['statusCodeDistribution']; print('  %-28s c=%-2d %7.0f req/s  p99 %6.1f ms  %s' % ('$1', $c, s['requestsPerSec'], r['latencyPercentiles']['p99']*1000, codes))"
  done
}
items() { curl -sf -H "authorization: Bearer $tok" "http://127.0.0.1:18181/api/v1/documents?$1&limit=200" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }
drop_idx() { psql -q -h 127.0.0.1 -U postgres -d $DB -c "DROP INDEX documents_subject_trgm_idx" -c "DROP INDEX documents_issuer_trgm_idx" -c "VACUUM ANALYZE documents"; }
make_idx() { psql -q -h 127.0.0.1 -U postgres -d $DB -c "CREATE INDEX documents_subject_trgm_idx ON documents USING gin (subject_search gin_trgm_ops)" -c "CREATE INDEX documents_issuer_trgm_idx ON documents USING gin (issuer_search gin_trgm_ops)" -c "VACUUM ANALYZE documents"; }
round() {
  echo "-- $1"
  cell "listing" "limit=50"
  cell "search nguoi co cong (7%)" "q=nguoi%20co%20cong"
  cell "search ... dong anh (1%)" "q=nguoi%20co%20cong%20voi%20cach%20mang%20tai%20huyen%20dong%20anh"
  cell "search, no match" "q=khong%20co%20tu%20nay"
}
serve 10000
echo "items on a page (limit 200): 7% $(items 'q=nguoi%20co%20cong') / 1% $(items 'q=nguoi%20co%20cong%20voi%20cach%20mang%20tai%20huyen%20dong%20anh') / none $(items 'q=khong%20co%20tu%20nay')"
if [ "$BACKEND" = sqlite ]; then
  round "new: walk 10,000 rows first, then the documents_fts table (default)"
  stop; serve 0
  round "old: one query, row by row (search_walk_rows = 0, as before this change)"
  stop; serve 10000
  round "new again"
  stop
  exit 0
fi
round "new: trigram indexes, walk 10,000 rows first (default)"
stop; serve 0
round "trigram indexes, one query, the planner chooses (search_walk_rows = 0)"
stop; drop_idx; serve 0
round "old: no trigram index, one query (as before this change)"
stop; make_idx; serve 10000
round "new again"
stop
