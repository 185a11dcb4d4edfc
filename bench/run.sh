#!/usr/bin/env bash
# One side-by-side run: the FastAPI peer, this server (release build) and PostgreSQL's
# own ceiling (pgbench), alternating on this machine. Results: bench/results/<name>.json.
#
# Usage (from the project root, after the one-time setup in bench/README.md):
#   bash bench/run.sh [ROUNDS] [NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/machine.sh && scheduler_note
rounds=${1:-3}
name=${2:-compare-$(date -u +%F)}
shared=../shared/bench
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/taskforge-target}"
pg=postgres://bench:bench@127.0.0.1:5432

# Both databases start empty.
for db in peer_bench rust_bench; do
  psql "$pg/$db" -qc "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null
done

cargo build --release -p taskforge
VENV=${VENV:-/tmp/peer-venv} PORT=8001 PIDFILE=/tmp/peer.pid \
  DATABASE_URL=postgresql+asyncpg://bench:bench@127.0.0.1:5432/peer_bench \
  "$shared/peer-fastapi/run.sh" > /tmp/peer.log 2>&1 &
# Pool of the peer's size: 2 workers × (10 + 5 overflow).
DATABASE_URL="$pg/rust_bench" PORT=8080 RATE_LIMIT_ENABLED=false DB_MAX_CONNECTIONS=30 \
  JWT_SECRET_KEY=bench-secret-bench-secret-bench-secret LOG_FORMAT=json \
  "$CARGO_TARGET_DIR/release/taskforge" > /tmp/rust.log 2>&1 &
echo $! > /tmp/rust.pid
trap 'kill -TERM $(cat /tmp/peer.pid) $(cat /tmp/rust.pid) 2>/dev/null; wait || true' EXIT
for url in http://127.0.0.1:8001/health http://127.0.0.1:8080/health; do
  for _ in $(seq 1 60); do curl -fsS "$url" >/dev/null 2>&1 && break; sleep 1; done
done

python3 "$shared/loadtest.py" \
  --base-url http://127.0.0.1:8001 --label fastapi --server-pid "$(cat /tmp/peer.pid)" \
  --base-url http://127.0.0.1:8080 --label taskforge --server-pid "$(cat /tmp/rust.pid)" \
  --rounds "$rounds" --wait-idle 120 --retries 2 --ceiling \
  --out "bench/results/$name.json"
