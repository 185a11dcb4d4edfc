#!/usr/bin/env bash
# Instructions a request costs the server, counted by callgrind: the same count for the
# same binary and load whatever else the machine does, so a change of a few percent
# shows where one A/B run (±10 %) cannot. Counts are not time: callgrind counts a
# `rep movsb` copy per byte, so memcpy and memset weigh far more than they cost.
#
# Usage (from the project root): bash bench/callgrind.sh BIN DB PORT OUTDIR
#   e.g. bash bench/callgrind.sh /tmp/bins/head rust_bench 8090 /tmp/cg/head
# Needs valgrind, wrk and the one-time setup of bench/README.md. Starts BIN on DB
# (emptied first) under callgrind, creates a user with 100 tasks (bench/bench_user.py),
# then counts four phases of DURATION seconds (default 15) of 8 connections each:
# GET /tasks/{id}, GET /tasks/?limit=20 (its 100 tasks), POST /tasks, PATCH
# /tasks/{id}. Prints instructions per request;
# OUTDIR keeps the profiles (callgrind_annotate OUTDIR/cg.*.1 for reads).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 db=$2 port=$3 out=$4 duration=${DURATION:-15}
mkdir -p "$out"
source bench/server.sh
start_server "$db" "$port" "$out/server.log" \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg.%p" "$bin"
pid=$server_pid
part=0
phase() { # NAME METHOD PATH BODY
  export BENCH_METHOD=$2 BENCH_PATH=$3 BENCH_BODY=$4
  part=$((part + 1))
  callgrind_control -z $pid >/dev/null 2>&1
  callgrind_control -i on $pid >/dev/null 2>&1
  wrk -t1 -c8 -d"${duration}s" -s ../shared/bench/lua/bench.lua "http://127.0.0.1:$port" > "$out/wrk-$1.txt" 2>&1
  callgrind_control -i off $pid >/dev/null 2>&1
  callgrind_control -d "$1" $pid >/dev/null 2>&1
  local requests instructions
  requests=$(grep -o '"requests":[0-9]*' "$out/wrk-$1.txt" | cut -d: -f2)
  instructions=$(grep -m1 '^totals:' "$out"/cg.$pid.$part | awk '{print $2}')
  echo "$1: $requests requests, $((instructions / requests)) instructions a request"
}
phase read GET "/api/v1/tasks/{id}" ""
phase list GET "/api/v1/tasks/?limit=20" ""
phase create POST "/api/v1/tasks" '{"title":"bench task 999","description":"created by loadtest.py","status":"todo"}'
phase update PATCH "/api/v1/tasks/{id}" '{"status":"in_progress"}'
