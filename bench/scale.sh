#!/usr/bin/env bash
# Large-data benchmark of every list form (issue 16): on PostgreSQL and on SQLite, one
# user owning 200 000 of 1 000 000 tasks, a user with 20, and an admin listing all;
# every list form measured for the three in one run with wrk (16 connections).
#
# Usage (from the project root): bash bench/scale.sh BIN [DURATION] [N] [BACKENDS]
#   BIN       a release binary (e.g. target/release/taskforge)
#   DURATION  seconds per request form and user (default 3)
#   N         tasks besides the small user's 20 (default 1000000; every fifth is the
#             big user's)
#   BACKENDS  postgres,sqlite (default both)
# Needs wrk, psql and python3; PostgreSQL at $PG_URL (default
# postgres://postgres@127.0.0.1:5432), where it creates the database $SCALE_DB
# (default tf_scale). The results table goes to stdout and /tmp/scale-<time>.md.
#
# Per backend: a fresh database; the server creates the schema and the users (API);
# `migrate down` undoes the migrations from the last one to the list indexes (m…07:
# among them PostgreSQL's `task_recency` and the SQLite search index); scale_seed.py
# writes the tasks (as the server writes them); `migrate up` builds the indexes on the
# populated table (timed); then the server serves the measured requests.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/machine.sh && scheduler_note
bin=$(realpath "$1") duration=${2:-3} n=${3:-1000000} backends=${4:-postgres,sqlite}
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432} scale_db=${SCALE_DB:-tf_scale}
port=${SCALE_PORT:-8090} base="http://127.0.0.1:${SCALE_PORT:-8090}"
out=/tmp/scale-$(date -u +%H%M%S).md
sqlite_file=/tmp/tf-scale.db
admin_email=admin@scale.example admin_password=scale-admin-password-1
password=scale-user-password-1
export RATE_LIMIT_ENABLED=false BCRYPT_COST=4 LOG_FORMAT=json RUST_LOG=warn \
  JWT_SECRET_KEY=scale-secret-scale-secret-scale-secret DB_MAX_CONNECTIONS=30 PORT=$port \
  FIRST_ADMIN_EMAIL=$admin_email FIRST_ADMIN_PASSWORD=$admin_password

server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=
}
trap stop_server EXIT
start_server() {
  "$bin" serve > "/tmp/scale-server-$1.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do curl -fsS "$base/health" >/dev/null 2>&1 && return; sleep 1; done
  echo "server did not start" >&2; exit 1
}
register() { # EMAIL -> id
  curl -fsS -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
token() { # EMAIL PASSWORD -> access token
  curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
next_cursor() { # TOKEN QUERY -> next_cursor of that page
  curl -fsS "$base/api/v1/tasks?$2" -H "authorization: Bearer $1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")'
}
measure() { # LABEL TOKEN QUERY -> "req/s p99ms"
  local report
  report=$(wrk -t2 -c16 -d"${duration}s" --latency -H "authorization: Bearer $2" "$base/api/v1/tasks?$3")
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$report")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$report")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$report")
  if [ -n "$non2xx" ]; then echo "$1: non-2xx answers: $non2xx" >&2; fi
  echo "$rps $p99"
}
ms() { # wrk latency (us/ms/s) -> ms
  python3 -c 'import sys; v=sys.argv[1]; u=v.lstrip("0123456789."); n=float(v[:len(v)-len(u)]); print(round(n*{"us":0.001,"ms":1,"s":1000,"m":60000}[u],2))' "$1"
}

# The list forms of the contract: each sort both ways, each filter, q frequent and
# rare, a page 10 000 rows deep by offset and (CURSOR, filled in per user) by cursor.
forms=(
  "" "sort=created_at" "sort=updated_at" "sort=-updated_at" "sort=due_date" "sort=-due_date"
  "sort=priority" "sort=-priority" "sort=title" "sort=-title"
  "status=done" "completed=false" "priority=high" "due_before=2025-03-01T00:00:00Z"
  "due_after=2025-12-01T00:00:00Z" "q=report" "q=zanzibar" "offset=10000" "CURSOR"
)

{
echo "| backend | list form | 20 tasks req/s | p99 ms | 200 000 tasks req/s | p99 ms | ratio | admin (all) req/s | p99 ms | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
} | tee "$out"

for backend in ${backends//,/ }; do
  if [ "$backend" = postgres ]; then
    dropdb --if-exists -f "$pg/postgres" "$scale_db" 2>/dev/null || psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $scale_db WITH (FORCE)"
    psql "$pg/postgres" -qc "CREATE DATABASE $scale_db"
    export DATABASE_URL="$pg/$scale_db"
  else
    rm -f "$sqlite_file" "$sqlite_file-wal" "$sqlite_file-shm"
    export DATABASE_URL="sqlite://$sqlite_file?mode=rwc"
  fi
  start_server "$backend"
  big=$(register big@scale.example) small=$(register small@scale.example)
  fillers=$(for f in $(seq 1 9); do register "filler$f@scale.example"; done | paste -sd,)
  stop_server
  # Down one step at a time until the list indexes (m…07) are gone, with every later
  # migration the binary has (`task_recency`, the SQLite search index, ...).
  until "$bin" migrate status | grep -Eq '^pending +m20261206_000007_list_indexes'; do
    "$bin" migrate down >/dev/null
  done
  t0=$(date +%s.%N)
  if [ "$backend" = postgres ]; then
    python3 bench/scale_seed.py postgres "$DATABASE_URL" "$big" "$small" "$fillers" "$n"
  else
    python3 bench/scale_seed.py sqlite "$sqlite_file" "$big" "$small" "$fillers" "$n"
  fi
  t1=$(date +%s.%N)
  "$bin" migrate up >/dev/null
  t2=$(date +%s.%N)
  if [ "$backend" = postgres ]; then
    # A checkpoint now, so that writing out the seed does not stall the measurements.
    psql "$DATABASE_URL" -qc "VACUUM ANALYZE tasks" -c "VACUUM ANALYZE task_recency" -c "VACUUM ANALYZE users" -c "CHECKPOINT"
  else
    python3 -c 'import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); d.execute("ANALYZE"); d.execute("PRAGMA wal_checkpoint(TRUNCATE)"); d.close()' "$sqlite_file"
  fi
  sync; sleep 5
  echo "$backend: seeded $n + 20 tasks in $(echo "$t1 - $t0" | bc) s; migrate up (list indexes on the populated table) $(echo "$t2 - $t1" | bc) s" | tee -a "$out.log" >&2
  start_server "$backend"
  small_token=$(token small@scale.example "$password")
  big_token=$(token big@scale.example "$password")
  admin_token=$(token "$admin_email" "$admin_password")
  # Warm-up: one pass over every form for every user.
  for form in "${forms[@]}"; do
    for t in "$small_token" "$big_token" "$admin_token"; do
      [ "$form" = CURSOR ] || curl -fsS -o /dev/null "$base/api/v1/tasks?$form" -H "authorization: Bearer $t"
    done
  done
  for form in "${forms[@]}"; do
    row="| $backend | \`${form:-(default -created_at)}\`"
    [ "$form" = CURSOR ] && row="| $backend | \`cursor\` (10 000 deep)"
    small_rps=
    for who in small big admin; do
      case $who in small) t=$small_token ;; big) t=$big_token ;; admin) t=$admin_token ;; esac
      query=$form
      if [ "$form" = CURSOR ]; then
        # The page 10 000 rows deep by cursor: the next_cursor of the page ending there
        # (the small user has 20 tasks: the page after its first 10).
        if [ $who = small ]; then query="cursor=$(next_cursor "$t" "limit=10")"
        else query="cursor=$(next_cursor "$t" "offset=9980")"; fi
      fi
      read -r rps p99 < <(measure "$backend $who $form" "$t" "$query")
      p99=$(ms "$p99")
      if [ $who = small ]; then small_rps=$rps; row="$row | $rps | $p99"
      else row="$row | $rps | $p99 | $(python3 -c "print(f'{float(\"$rps\")/float(\"$small_rps\"):.2f}')")"; fi
    done
    echo "$row |" | tee -a "$out"
  done
  stop_server
done
echo "results: $out" >&2
