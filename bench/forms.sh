#!/usr/bin/env bash
# Some list forms measured again on the database that `bench/scale.sh` left behind
# (no new seed): for each FORM, wrk (16 connections) as the 20-task user, the
# 200 000-task user and the admin. For before/after checks of one form, e.g. two builds
# run in turn: `for b in old new old new; do bash bench/forms.sh /tmp/$b "offset=10000"; done`.
#
# Usage (from the project root): bash bench/forms.sh BIN FORM...
#   FORM  a query string of GET /api/v1/tasks ("" for the default list)
# Environment: DURATION (seconds per form and user, default 4), PG_URL and SCALE_DB as
# for scale.sh. Prints "form | small req/s p99 | big req/s p99 | admin req/s p99".
set -euo pipefail
source "$(dirname "$0")/machine.sh" && scheduler_note
bin=$(realpath "$1"); shift
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432} duration=${DURATION:-4}
port=${SCALE_PORT:-8090} base="http://127.0.0.1:${SCALE_PORT:-8090}"
export RATE_LIMIT_ENABLED=false BCRYPT_COST=4 RUST_LOG=warn PORT=$port \
  JWT_SECRET_KEY=scale-secret-scale-secret-scale-secret DB_MAX_CONNECTIONS=30 \
  DATABASE_URL="$pg/${SCALE_DB:-tf_scale}"
"$bin" serve > /tmp/forms-server.log 2>&1 &
server_pid=$!
trap 'kill -TERM $server_pid; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -fsS "$base/health" >/dev/null 2>&1 && break; sleep 0.2; done
token() { # EMAIL PASSWORD -> access token
  curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
tokens=(
  "$(token small@scale.example scale-user-password-1)"
  "$(token big@scale.example scale-user-password-1)"
  "$(token admin@scale.example scale-admin-password-1)"
)
for form in "$@"; do
  line="${form:-(default)}"
  for t in "${tokens[@]}"; do
    curl -fsS -o /dev/null "$base/api/v1/tasks?$form" -H "authorization: Bearer $t"
    report=$(wrk -t2 -c16 -d"${duration}s" --latency -H "authorization: Bearer $t" "$base/api/v1/tasks?$form")
    line="$line | $(awk '/Requests\/sec/ {print $2}' <<<"$report") $(awk '$1 == "99%" {print $2}' <<<"$report")"
  done
  echo "$line"
done
