#!/usr/bin/env python3
"""The server's own view of W-mixed-during-login, from its JSON request log.

wrk's percentiles include a correction for coordinated omission that turns one long
stall into thousands of synthetic samples (see bench/README.md). This reads the
`latency_ms` the server logs for every request (from parsing the request to handing
over the response) and prints, for each login flood in the log and the run of reads
just before it, the percentiles of GET /api/v1/tasks/{id}, plus every stall of 50 ms
or more during the flood.

Usage: python3 bench/log_latency.py /tmp/rust.log   (the log of a LOG_FORMAT=json run)
"""
import bisect
import datetime
import json
import sys

READ = ("GET", "/api/v1/tasks/{id}")
LOGIN = "/api/v1/auth/login"
GAP_S = 1.0  # reads further apart than this belong to different wrk runs
STALL_MS = 50.0


def when(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def load(path: str):
    reads, logins = [], []
    with open(path, encoding="utf-8") as log:
        for line in log:
            if '"latency_ms"' not in line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            end, ms = when(entry["timestamp"]), float(entry["latency_ms"])
            if (entry.get("method"), entry.get("route")) == READ:
                reads.append((end, ms))
            elif entry.get("route") == LOGIN:
                logins.append((end - ms / 1000, end))
    return sorted(reads), sorted(logins)


def spans(logins):
    """Login requests in flight, merged into intervals."""
    merged = []
    for start, end in logins:
        if merged and start <= merged[-1][1] + 0.5:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def runs(reads):
    out, current = [], []
    for end, ms in reads:
        if current and end - current[-1][0] > GAP_S:
            out.append(current)
            current = []
        current.append((end, ms))
    if current:
        out.append(current)
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def describe(label, run):
    ms = [m for _, m in run]
    clock = datetime.datetime.fromtimestamp(run[0][0], datetime.timezone.utc)
    return (f"{label:<14} {clock:%H:%M:%S} n={len(ms):>7} p50={pct(ms, .5):.2f} "
            f"p90={pct(ms, .9):.2f} p99={pct(ms, .99):.2f} p99.9={pct(ms, .999):.2f} "
            f"max={max(ms):.1f} ms")


def main(path):
    reads, logins = load(path)
    floods = spans(logins)
    starts = [start for start, _ in floods]

    def in_flood(t):
        i = bisect.bisect_right(starts, t) - 1
        return i >= 0 and t <= floods[i][1]

    previous = None
    for run in runs(reads):
        flooded = sum(in_flood(t) for t, _ in run) / len(run)
        if flooded > 0.9 and previous is not None:
            print(describe("reads alone", previous))
            print(describe("during flood", run))
            stalls = sorted({round(ms) for _, ms in run if ms >= STALL_MS}, reverse=True)
            print(f"{'':14} requests of {STALL_MS:.0f} ms or more: "
                  f"{sum(ms >= STALL_MS for _, ms in run)} (latencies {stalls[:10]})")
        previous = run if flooded < 0.1 else None


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
