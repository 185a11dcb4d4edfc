#!/usr/bin/env bash
# A/B of two release binaries of this server, side by side in one loadtest.py run:
# each on its own empty database, same settings as run.sh. For deciding whether a
# change helps; record figures only from run.sh.
#
# Usage (from the project root): bash bench/ab.sh BIN_A BIN_B [ROUNDS] [DURATION] [WORKLOADS] [OUT]
#   e.g. bash bench/ab.sh /tmp/bins/before /tmp/bins/after 2 5 read,list,create,update
# Needs the one-time setup of bench/README.md and a second database:
#   su postgres -c "psql -c 'CREATE DATABASE rust_bench_b OWNER bench'"
# A_SQL / B_SQL (optional): a file of SQL run on A's / B's database once its server has
# migrated it, before the load (e.g. bench/attribution/*.sql to take a feature's
# indexes away and measure what they cost).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/machine.sh && scheduler_note
a=$1 b=$2 rounds=${3:-2} duration=${4:-5} workloads=${5:-health,read,list,create,update}
out=${6:-/tmp/ab-$(date -u +%H%M%S).json}
pg=postgres://bench:bench@127.0.0.1:5432
for db in rust_bench rust_bench_b; do
  psql "$pg/$db" -qc "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null
done
start() { # BIN DB PORT PIDFILE
  DATABASE_URL="$pg/$2" PORT=$3 RATE_LIMIT_ENABLED=false DB_MAX_CONNECTIONS=30 \
    JWT_SECRET_KEY=bench-secret-bench-secret-bench-secret LOG_FORMAT=json \
    "$1" > "/tmp/ab-$3.log" 2>&1 &
  echo $! > "$4"
}
start "$a" rust_bench 8080 /tmp/ab-a.pid
start "$b" rust_bench_b 8081 /tmp/ab-b.pid
# Waits for both to exit, so that a run right after this one finds its ports free.
trap 'kill -TERM $(cat /tmp/ab-a.pid) $(cat /tmp/ab-b.pid) 2>/dev/null; wait || true' EXIT
for port in 8080 8081; do
  for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 1; done
done
if [ -n "${A_SQL:-}" ]; then psql "$pg/rust_bench" -v ON_ERROR_STOP=1 -qf "$A_SQL"; fi
if [ -n "${B_SQL:-}" ]; then psql "$pg/rust_bench_b" -v ON_ERROR_STOP=1 -qf "$B_SQL"; fi
python3 ../shared/bench/loadtest.py \
  --base-url http://127.0.0.1:8080 --label A --server-pid "$(cat /tmp/ab-a.pid)" \
  --base-url http://127.0.0.1:8081 --label B --server-pid "$(cat /tmp/ab-b.pid)" \
  --rounds "$rounds" --duration "$duration" --workloads "$workloads" --wait-idle 30 --retries 1 \
  --out "$out"
