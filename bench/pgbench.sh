#!/usr/bin/env bash
# PostgreSQL's own cost of the fast path's statements, without the server: pgbench runs
# each script of bench/pgbench/ given (4 clients, 2 threads, synchronous_commit off so
# that the disk does not set the pace, and the fast path's planner settings: one generic
# plan a statement, as its kept connections have) on a database the server migrated, with the
# bench user's 100 tasks; the scripts alternate, ROUNDS times. Prints each run's
# transactions/s and PostgreSQL's CPU a transaction (all its processes, /proc).
#
# With B_SQL set (a file of SQL, e.g. one of bench/attribution/), each script also runs,
# in turn, on DB_b: the same schema with that SQL applied after the migration (as
# bench/ab.sh's B_SQL), so the two schemas are measured side by side.
#
# Usage (from the project root): [B_SQL=FILE] bash bench/pgbench.sh BIN DB ROUNDS SECONDS SCRIPT...
#   e.g. bash bench/pgbench.sh /tmp/bins/head rust_bench 3 8 bench/pgbench/update-with-keys-cte.sql bench/pgbench/update.sql
#   B_SQL=bench/attribution/without-issue-16-writes.sql bash bench/pgbench.sh /tmp/bins/head rust_bench 3 8 bench/pgbench/create.sql
# Needs pgbench and the one-time setup of bench/README.md (with B_SQL, a database DB_b
# too); empties DB (and DB_b) first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 db=$2 rounds=$3 seconds=$4
shift 4
source bench/server.sh
databases=("$db")
[[ -n ${B_SQL:-} ]] && databases+=("${db}_b")
for database in "${databases[@]}"; do
  start_server "$database" 8095 /tmp/pgbench-server.log "$bin"
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  psql "$pg/$database" -qc "CREATE TABLE bench_ids AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM tasks" \
    -c "VACUUM ANALYZE tasks" -c "VACUUM ANALYZE task_recency"
done
[[ -n ${B_SQL:-} ]] && psql "postgres://postgres@127.0.0.1:5432/${db}_b" -q -v ON_ERROR_STOP=1 -f "$B_SQL"
postgres_cpu() { # clock ticks of the postmaster, its live children and the reaped ones
  python3 - <<'PY'
import glob
def fields(pid):
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
pm = int(open(glob.glob("/var/run/postgresql/*.pid")[0]).readline())
total = sum(int(x) for x in fields(pm)[11:15])
for path in glob.glob("/proc/[0-9]*"):
    try:
        f = fields(path[6:])
    except OSError:
        continue
    if int(f[1]) == pm:
        total += int(f[11]) + int(f[12])
print(total)
PY
}
ticks=$(getconf CLK_TCK)
# crates/infra/src/postgres.rs, PLANNER_SETTINGS
settings="-c synchronous_commit=off -c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off \
  -c plan_cache_mode=force_generic_plan -c random_page_cost=1.1 -c max_parallel_workers_per_gather=0 -c jit=off"
for round in $(seq 1 "$rounds"); do
  for script in "$@"; do
    for database in "${databases[@]}"; do
      psql "postgres://postgres@127.0.0.1:5432/$database" -qc "CHECKPOINT"
      before=$(postgres_cpu)
      report=$(PGOPTIONS="$settings" pgbench "$pg/$database" -n -M prepared -c 4 -j 2 -T "$seconds" -f "$script" 2>&1)
      sleep 0.3
      after=$(postgres_cpu)
      done_=$(grep -oP 'processed: \K[0-9]+' <<<"$report")
      tps=$(grep -oP 'tps = \K[0-9]+' <<<"$report")
      python3 -c "print('round $round  $database  $(basename "$script")  %s tx/s  %.0f µs of PostgreSQL CPU a transaction' % ($tps, ($after - $before) / $ticks * 1e6 / $done_))"
    done
  done
done
