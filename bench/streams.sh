#!/usr/bin/env bash
# Memory of 1 000 idle event streams on a release build (see bench/README.md).
# Usage (from the project root): bash bench/streams.sh [BIN] [STREAMS]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
streams=${2:-1000}
if [ -z "$bin" ]; then
  cargo build --release -p taskforge
  bin="${CARGO_TARGET_DIR:-target}/release/taskforge"
fi
pg=postgres://bench:bench@127.0.0.1:5432/rust_bench
psql "$pg" -qc "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null
# Streams are sockets: leave room for them.
ulimit -n 8192
DATABASE_URL="$pg" PORT=8080 RATE_LIMIT_ENABLED=false BCRYPT_COST=4 LOG_FORMAT=json RUST_LOG=warn \
  JWT_SECRET_KEY=bench-secret-bench-secret-bench-secret "$bin" > /tmp/streams-server.log 2>&1 &
pid=$!
# Waits for the server to exit, so that a run right after this one finds the port free.
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -fsS http://127.0.0.1:8080/health >/dev/null 2>&1 && break; sleep 1; done
python3 bench/streams.py --base-url http://127.0.0.1:8080 --pid "$pid" --streams "$streams"
