#!/usr/bin/env bash
# How many statements (PostgreSQL transactions: each batch statement is one) a read,
# a create and an update cost, under 64 connections for 6 s each: what batching saves.
#
# Usage (from the project root): bash bench/statements.sh BIN DB PORT
#   e.g. bash bench/statements.sh /tmp/bins/head rust_bench 8090
# Needs wrk and the one-time setup of bench/README.md; empties DB first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 db=$2 port=$3
source bench/server.sh
start_server "$db" "$port" "/tmp/statements-$port.log" "$bin"
transactions() {
  psql "$pg/$db" -Atqc "SELECT pg_stat_force_next_flush(); SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$db'" | tail -n 1
}
for workload in read create update; do
  case $workload in
    read) export BENCH_METHOD=GET BENCH_PATH="/api/v1/tasks/{id}" BENCH_BODY="" ;;
    create) export BENCH_METHOD=POST BENCH_PATH=/api/v1/tasks \
      BENCH_BODY='{"title":"bench task 999","description":"created by loadtest.py","status":"todo"}' ;;
    update) export BENCH_METHOD=PATCH BENCH_PATH="/api/v1/tasks/{id}" BENCH_BODY='{"status":"in_progress"}' ;;
  esac
  sleep 1
  before=$(transactions)
  wrk -t2 -c64 -d6s -s ../shared/bench/lua/bench.lua "http://127.0.0.1:$port" > "/tmp/statements-$port-$workload.txt" 2>&1
  sleep 1
  after=$(transactions)
  requests=$(grep -o '"requests":[0-9]*' "/tmp/statements-$port-$workload.txt" | cut -d: -f2)
  python3 -c "print('$workload: $requests requests, %.3f statements a request' % (($after - $before) / $requests))"
done
