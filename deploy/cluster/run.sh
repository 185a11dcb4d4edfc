#!/usr/bin/env bash
# Three Taskforge instances behind HAProxy, sharing one PostgreSQL and one Redis, on
# loopback ports. Runs in the foreground; Ctrl-C (or SIGTERM) stops everything.
#
#   deploy/cluster/run.sh postgres://postgres@127.0.0.1:5432/taskforge
#
# Environment (all optional):
#   TASKFORGE_BIN    the binary (default: target/debug/taskforge, else `taskforge` on PATH)
#   BALANCER_PORT    HAProxy's port (8080)
#   INSTANCE_PORTS   the instances' ports ("8001 8002 8003")
#   REDIS_PORT       the Redis started here (6380; REDIS_URL set → that Redis, none started)
#   CLUSTER_DIR      logs, pid files and haproxy.cfg (a new temporary directory);
#                    `ready` appears in it once the balancer serves
#   JWT_SECRET_KEY   shared by every instance (generated for this run when unset)
# Every other setting (BCRYPT_COST, RATE_LIMIT_*, DB_MAX_CONNECTIONS, ...) is passed
# to the instances as it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

database_url=${1:?usage: $0 <postgres://... URL of the shared database>}
bin=${TASKFORGE_BIN:-}
if [ -z "$bin" ]; then
  if [ -x "${CARGO_TARGET_DIR:-$root/target}/debug/taskforge" ]; then
    bin="${CARGO_TARGET_DIR:-$root/target}/debug/taskforge"
  else
    bin=$(command -v taskforge) || { echo "no taskforge binary: cargo build, or set TASKFORGE_BIN" >&2; exit 2; }
  fi
fi
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$haproxy" ] || { echo "haproxy is not installed (apt-get install haproxy)" >&2; exit 2; }
balancer_port=${BALANCER_PORT:-8080}
read -r -a ports <<< "${INSTANCE_PORTS:-8001 8002 8003}"
dir=${CLUSTER_DIR:-$(mktemp -d -t taskforge-cluster.XXXXXX)}
mkdir -p "$dir"
rm -f "$dir/ready"

pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM

# Started in the background; its pid kept for `stop` and written to $dir/<name>.pid.
start() {
  local name=$1; shift
  "$@" > "$dir/$name.log" 2>&1 &
  pids+=("$!")
  echo "$!" > "$dir/$name.pid"
}

wait_for() {
  local url=$1
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "no answer from $url; see the logs in $dir" >&2
  exit 1
}

if [ -z "${REDIS_URL:-}" ]; then
  redis_port=${REDIS_PORT:-6380}
  command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 2; }
  start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no
  export REDIS_URL="redis://127.0.0.1:$redis_port/0"
fi

export DATABASE_URL="$database_url"
export JWT_SECRET_KEY=${JWT_SECRET_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export HOST=127.0.0.1
# HAProxy connects from loopback: its X-Forwarded-For is believed, nobody else's.
export TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1}

# The first instance applies the migrations alone; the others start on a ready schema.
servers=""
for i in "${!ports[@]}"; do
  n=$((i + 1))
  PORT=${ports[$i]} start "instance-$n" "$bin" serve
  [ "$n" = 1 ] && wait_for "http://127.0.0.1:${ports[0]}/health/ready"
  servers+="    server instance-$n 127.0.0.1:${ports[$i]}"$'\n'
done
for port in "${ports[@]}"; do wait_for "http://127.0.0.1:$port/health/ready"; done

sed -e "s|@BALANCER@|127.0.0.1:$balancer_port|" "$here/haproxy.cfg" \
  | awk -v servers="$servers" '{ if ($0 == "@SERVERS@") printf "%s", servers; else print }' \
  > "$dir/haproxy.cfg"
"$haproxy" -c -q -f "$dir/haproxy.cfg"
start haproxy "$haproxy" -db -f "$dir/haproxy.cfg"
wait_for "http://127.0.0.1:$balancer_port/health/ready"

touch "$dir/ready"
echo "Taskforge: http://127.0.0.1:$balancer_port (instances on ${ports[*]}, Redis $REDIS_URL; logs in $dir)"
# Until stopped. A part that dies leaves the others serving, as in production: HAProxy
# takes a dead instance out of the rotation, and the limits fall back to per-instance
# counters while Redis is away.
wait
