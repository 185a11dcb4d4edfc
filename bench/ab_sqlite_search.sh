#!/usr/bin/env bash
# A/B of the SQLite search index's cost on writes: one binary, two SQLite databases,
# A without migration m…08 (rolled back), B with it.
# Usage (from the project root): bash bench/ab_sqlite_search.sh BIN [ROUNDS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "$1")
export RATE_LIMIT_ENABLED=false DB_MAX_CONNECTIONS=30 JWT_SECRET_KEY=bench-secret-bench-secret-bench-secret LOG_FORMAT=json RUST_LOG=warn
rm -f /tmp/ab-sqlite-ab-a.db* /tmp/ab-sqlite-ab-b.db*
DATABASE_URL="sqlite:///tmp/ab-sqlite-ab-a.db?mode=rwc" "$bin" migrate up >/dev/null
# Down one step at a time until the search index (m…08) is gone (the later ones do
# nothing on SQLite).
until DATABASE_URL="sqlite:///tmp/ab-sqlite-ab-a.db?mode=rwc" "$bin" migrate status | grep -Eq '^pending +m20261206_000008_sqlite_task_search'; do
  DATABASE_URL="sqlite:///tmp/ab-sqlite-ab-a.db?mode=rwc" "$bin" migrate down >/dev/null
done
DATABASE_URL="sqlite:///tmp/ab-sqlite-ab-b.db?mode=rwc" "$bin" migrate up >/dev/null
sqlite3 /tmp/ab-sqlite-ab-a.db "select count(*) from sqlite_master where name like 'task_search%'"
sqlite3 /tmp/ab-sqlite-ab-b.db "select count(*) from sqlite_master where name like 'task_search%'"
AUTO_MIGRATE=false DATABASE_URL="sqlite:///tmp/ab-sqlite-ab-a.db?mode=rwc" PORT=8171 "$bin" serve > /tmp/ab-sqlite-ab-a.log 2>&1 & a=$!
AUTO_MIGRATE=false DATABASE_URL="sqlite:///tmp/ab-sqlite-ab-b.db?mode=rwc" PORT=8172 "$bin" serve > /tmp/ab-sqlite-ab-b.log 2>&1 & b=$!
trap 'kill -TERM $a $b 2>/dev/null; wait || true' EXIT
for port in 8171 8172; do
  for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 1; done
done
python3 ../shared/bench/loadtest.py \
  --base-url http://127.0.0.1:8171 --label no-index --server-pid $a \
  --base-url http://127.0.0.1:8172 --label fts-index --server-pid $b \
  --rounds "${2:-2}" --duration "${3:-5}" --workloads create,update --wait-idle 30 --retries 1 \
  --out /tmp/ab-sqlite-ab-sqlite.json
