#!/usr/bin/env python3
"""Memory of idle event streams: RSS of a running server before and after N streams.

Registers users (N / 5 of them: each may hold 5 streams), logs each in, reads the
server's RSS, opens N `GET /api/v1/tasks/events` streams and keeps them idle, reads the
RSS again once every stream got its first frame, then makes one write per user and checks
that every stream received its event (the streams are live, not just open).

Usage: python3 bench/streams.py --base-url http://127.0.0.1:8080 --pid PID [--streams 1000]
Run the server with BCRYPT_COST=4 RATE_LIMIT_ENABLED=false (registering is not what is
measured). Prints one JSON object.
"""

import argparse
import asyncio
import json
import time
import urllib.request
import uuid

PER_USER = 5


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def call(base, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read() or b"null")


async def open_stream(host, port, token, first_frames, events):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"GET /api/v1/tasks/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    first_frames.release()
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.startswith(b"event: task."):
            events.append(1)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    base = args.base_url.rstrip("/") + "/api/v1"
    host, port = args.base_url.split("//")[1].rstrip("/").split(":")
    users = (args.streams + PER_USER - 1) // PER_USER
    run = uuid.uuid4().hex[:8]
    tokens = []
    for i in range(users):
        email = f"s{run}{i}@bench.example"
        call(base, "POST", "/auth/register", {"email": email, "password": "bench-password-1"})
        tokens.append(
            call(base, "POST", "/auth/login", {"email": email, "password": "bench-password-1"})[
                "access_token"
            ]
        )
    await asyncio.sleep(1)
    before = rss_kib(args.pid)
    first = asyncio.Semaphore(0)
    events = []
    tasks = [
        asyncio.create_task(open_stream(host, int(port), tokens[i // PER_USER], first, events))
        for i in range(args.streams)
    ]
    for _ in range(args.streams):
        await asyncio.wait_for(first.acquire(), 60)
    await asyncio.sleep(3)
    after = rss_kib(args.pid)
    started = time.monotonic()
    for token in tokens:
        call(base, "POST", "/tasks", {"title": "fan-out"}, token)
    while len(events) < args.streams and time.monotonic() - started < 30:
        await asyncio.sleep(0.1)
    delivered = len(events)
    fan_out_s = time.monotonic() - started
    for task in tasks:
        task.cancel()
    print(
        json.dumps(
            {
                "streams": args.streams,
                "users": users,
                "rss_before_kib": before,
                "rss_with_streams_kib": after,
                "delta_mib": round((after - before) / 1024, 2),
                "per_stream_kib": round((after - before) / args.streams, 2),
                "events_delivered": delivered,
                "events_expected": args.streams,
                "write_and_fan_out_s": round(fan_out_s, 2),
            }
        )
    )


asyncio.run(main())
