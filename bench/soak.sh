#!/usr/bin/env bash
# A soak: mixed traffic (reads, lists, creates, updates, logins) against the release
# build on PostgreSQL for MINUTES (default 10), recording the 5xx count and the
# server's RSS and open file descriptors at the start and the end (and each minute in
# between). Passes when there is no 5xx and RSS and fds end within 10% of the start.
#
# Usage (from the project root, after bench/README.md's one-time setup):
#   bash bench/soak.sh [MINUTES] [OUT]     # e.g. bash bench/soak.sh 10 bench/results/soak-2026-12-06.json
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
out=${2:-bench/results/soak-$(date -u +%F).json}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/taskforge-target}"
bin=${SOAK_BIN:-$CARGO_TARGET_DIR/release/taskforge}
pg=postgres://bench:bench@127.0.0.1:5432
port=8090
[ -n "${SOAK_BIN:-}" ] || cargo build --release -p taskforge
psql "$pg/rust_bench" -qc "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null

DATABASE_URL="$pg/rust_bench" PORT=$port RATE_LIMIT_ENABLED=false DB_MAX_CONNECTIONS=30 \
  JWT_SECRET_KEY=soak-secret-soak-secret-soak-secret LOG_FORMAT=json RUST_LOG=warn \
  "$bin" > /tmp/soak-server.log 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 1; done

# A user, a token and 100 tasks to read and update.
read -r token ids < <(python3 - "$port" <<'PY'
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}/api/v1"
def call(method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token: headers["authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    return json.load(urllib.request.urlopen(req))
call("POST", "/auth/register", {"email": "soak@example.com", "password": "soak-password-1"})
token = call("POST", "/auth/login", {"email": "soak@example.com", "password": "soak-password-1"})["access_token"]
ids = [call("POST", "/tasks", {"title": f"task {i}"}, token)["id"] for i in range(100)]
print(token, ",".join(ids))
PY
)

sample() { # RSS in KiB and open fds of the server
  echo "$(awk '/VmRSS/ {print $2}' /proc/$pid/status) $(ls /proc/$pid/fd | wc -l)"
}
samples=/tmp/soak-samples.txt
: > "$samples"
(
  # Under load only: at 30 s (pools opened, caches filled), each minute, and 5 s before
  # the end.
  sleep 30
  end=$(( $(date +%s) + minutes * 60 - 35 ))
  while [ "$(date +%s)" -lt "$end" ] && kill -0 $pid 2>/dev/null; do
    echo "$(date +%s) $(sample)" >> "$samples"
    left=$(( end - $(date +%s) ))
    [ "$left" -le 60 ] || left=60
    [ "$left" -le 0 ] || sleep "$left"
  done
  echo "$(date +%s) $(sample)" >> "$samples"
) &
sampler=$!

SOAK_IDS="$ids" SOAK_TOKEN="$token" SOAK_LOGIN="username=soak@example.com&password=soak-password-1" \
  wrk -t2 -c32 -d"${minutes}m" --timeout 10s -s bench/lua/soak.lua "http://127.0.0.1:$port" | tee /tmp/soak-wrk.txt
# After the load, apart from the samples under load that the pass compares: wrk's
# connections have closed by now.
idle=$(sample)
kill $sampler 2>/dev/null || true

python3 - "$samples" /tmp/soak-wrk.txt "$out" "$minutes" "$idle" <<'PY'
import json, sys
samples = [line.split() for line in open(sys.argv[1]) if line.strip()]
wrk = next(l for l in open(sys.argv[2]) if l.startswith("SOAKJSON"))
result = json.loads(wrk.split(" ", 1)[1])
first, last = samples[0], samples[-1]
rss0, rss1, fd0, fd1 = int(first[1]), int(last[1]), int(first[2]), int(last[2])
fivexx = sum(n for status, n in result["statuses"].items() if status.startswith("5"))
report = {
    "minutes": int(sys.argv[4]),
    "requests": result["requests"],
    "socket_errors": result["errors"],
    "p99_ms": result["p99_ms"],
    "statuses": result["statuses"],
    "5xx": fivexx,
    "rss_kib": {"start": rss0, "end": rss1, "change": round(rss1 / rss0 - 1, 3)},
    "fds": {"start": fd0, "end": fd1, "change": round(fd1 / fd0 - 1, 3)},
    "samples": [{"t": int(s[0]) - int(first[0]), "rss_kib": int(s[1]), "fds": int(s[2])} for s in samples],
    "after_load": dict(zip(("rss_kib", "fds"), map(int, sys.argv[5].split()))),
}
report["pass"] = fivexx == 0 and abs(report["rss_kib"]["change"]) <= 0.10 and abs(report["fds"]["change"]) <= 0.10
json.dump(report, open(sys.argv[3], "w"), indent=2)
print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
sys.exit(0 if report["pass"] else 1)
PY
