# Sourced by bench/callgrind.sh and bench/statements.sh: one server of this project on
# an emptied database with the benchmark's settings, and a user with 100 tasks on it.
pg=postgres://bench:bench@127.0.0.1:5432

# start_server DB PORT LOG COMMAND...: runs COMMAND (the binary, or valgrind … binary)
# on DB, emptied first; sets server_pid, stops the server on exit, waits for /health.
start_server() {
  local db=$1 port=$2 log=$3
  shift 3
  psql "$pg/$db" -qc "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null
  DATABASE_URL="$pg/$db" PORT=$port RATE_LIMIT_ENABLED=false DB_MAX_CONNECTIONS=30 \
    JWT_SECRET_KEY=bench-secret-bench-secret-bench-secret LOG_FORMAT=json \
    "$@" > "$log" 2>&1 &
  server_pid=$!
  trap 'kill -TERM $server_pid 2>/dev/null; wait || true' EXIT
  for _ in $(seq 1 240); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 1; done
  # wrk's bench.lua reads these: the user's token and the ids of its tasks.
  read -r BENCH_TOKEN BENCH_IDS < <(python3 bench/bench_user.py "http://127.0.0.1:$port")
  export BENCH_TOKEN BENCH_IDS BENCH_CTYPE=application/json
}
