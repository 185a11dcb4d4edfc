#!/usr/bin/env bash
# A/B of two release binaries on SQLite, side by side: each on its own fresh database
# file, one user with 20 tasks; per round, wrk (16 connections, 5 s) lists the tasks and
# creates tasks on A, then on B. For checking that a change costs SQLite nothing
# (loadtest.py and ab.sh measure PostgreSQL).
#
# Usage (from the project root): bash bench/ab_sqlite.sh BIN_A BIN_B
# Prints "round N port P list REQ/S create REQ/S" (A on 8181, B on 8182).
set -euo pipefail
a=$1 b=$2
run() { # BIN PORT DBFILE
  rm -f $3 $3-wal $3-shm
  DATABASE_URL="sqlite://$3?mode=rwc" PORT=$2 RATE_LIMIT_ENABLED=false BCRYPT_COST=4 RUST_LOG=warn JWT_SECRET_KEY=ab-secret-ab-secret-ab-secret-ab-secret $1 serve > /tmp/sqlite-ab-$2.log 2>&1 &
  echo $!
}
pa=$(run $a 8181 /tmp/sqab-a.db); pb=$(run $b 8182 /tmp/sqab-b.db)
trap "kill $pa $pb 2>/dev/null" EXIT
sleep 2
declare -A tok
for p in 8181 8182; do
  for _ in $(seq 1 50); do curl -fsS localhost:$p/health >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS -X POST localhost:$p/api/v1/auth/register -H 'content-type: application/json' -d '{"email":"ab@example.com","password":"ab-password-1"}' >/dev/null
  t=$(curl -fsS -X POST localhost:$p/api/v1/auth/login -H 'content-type: application/json' -d '{"email":"ab@example.com","password":"ab-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  tok[$p]=$t
  for i in $(seq 1 20); do curl -fsS -X POST localhost:$p/api/v1/tasks -H "authorization: Bearer $t" -H 'content-type: application/json' -d "{\"title\":\"task $i\"}" >/dev/null; done
done
cat > /tmp/sqab-create.lua <<'LUA'
wrk.method = "POST"; wrk.body = '{"title":"created by wrk"}'; wrk.headers["content-type"] = "application/json"
LUA
for round in 1 2 3; do
  for p in 8181 8182; do
    l=$(wrk -t2 -c16 -d5s -H "authorization: Bearer ${tok[$p]}" http://localhost:$p/api/v1/tasks | awk '/Requests\/sec/ {print $2}')
    c=$(wrk -t2 -c16 -d5s -s /tmp/sqab-create.lua -H "authorization: Bearer ${tok[$p]}" http://localhost:$p/api/v1/tasks | awk '/Requests\/sec/ {print $2}')
    echo "round $round port $p list $l create $c"
  done
done
