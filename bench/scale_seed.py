#!/usr/bin/env python3
"""Seeds the `tasks` rows of bench/scale.sh, exactly as the server writes them, on
PostgreSQL (COPY through psql) or SQLite (the file the server uses).

Rows as the server writes them: UUID v7 ids whose time part is the creation instant,
instants at microsecond precision (on SQLite as chrono's RFC 3339 text, `AutoSi`
fractions and `+00:00`), the lower-cased search copies of title and description,
priority as its rank, `completed_at` set exactly when the status is `done`, version 1.
The change log is not seeded: no list reads it.

Usage: scale_seed.py postgres URL | sqlite PATH, then BIG SMALL FILLER[,FILLER...] [N]
  N tasks (default 1 000 000) of which every fifth is BIG's, the rest the fillers';
  plus 20 tasks of SMALL.
"""

import csv
import datetime as dt
import io
import subprocess
import sys
import uuid

BASE_US = int(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
VERBS = ["Write", "Review", "Plan", "Fix", "Call", "Draft", "Send", "Check"]
OBJECTS = ["the report", "the budget", "slides", "an invoice", "the roadmap", "tests", "release notes"]
STATUSES = ["todo", "in_progress", "done"]


def rfc3339(us):
    """chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, false)` of an instant in µs."""
    seconds, micros = divmod(us, 1_000_000)
    text = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if micros == 0:
        fraction = ""
    elif micros % 1000 == 0:
        fraction = ".%03d" % (micros // 1000)
    else:
        fraction = ".%06d" % micros
    return f"{text}{fraction}+00:00"


def v7(created_us, n):
    """A UUID v7: the creation millisecond, version 7, variant 10, `n` in the random bits."""
    ms = created_us // 1000
    rand_a = (n * 2654435761) & 0xFFF
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | (n & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def row(i, owner):
    created = BASE_US + 20_000_000 * i + (i * 7919) % 1_000_000
    updated = created if i % 3 == 0 else created + (i % 1000) * 60_000_000
    if i % 20011 == 0:
        title = f"Visit Zanzibar #{i}"
    else:
        title = f"{VERBS[i % 8]} {OBJECTS[(i // 8) % 7]} #{i}"
    description = None if i % 2 else f"Notes on item {i}: call back before the deadline"
    status = STATUSES[i % 3]
    due = None if i % 4 == 0 else BASE_US + ((i % 400) * 86_400 + 9 * 3600) * 1_000_000
    return {
        "id": v7(created, i),
        "owner_id": owner,
        "title": title,
        "description": description,
        "title_search": title.lower(),
        "description_search": None if description is None else description.lower(),
        "status": status,
        "priority": 1 + (i // 3) % 3,
        "due_date": due,
        "completed_at": updated if status == "done" else None,
        "created_at": created,
        "updated_at": updated,
        "version": 1,
    }


COLUMNS = ["id", "owner_id", "title", "description", "title_search", "description_search",
           "status", "priority", "due_date", "completed_at", "created_at", "updated_at", "version"]
INSTANTS = {"due_date", "completed_at", "created_at", "updated_at"}


def rows(big, small, fillers, n):
    for i in range(n):
        yield row(i, big if i % 5 == 0 else fillers[i % len(fillers)])
    for i in range(n, n + 20):
        yield row(i, small)


def seed_postgres(url, all_rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for r in all_rows:
        writer.writerow([
            "" if r[c] is None else (rfc3339(r[c]) if c in INSTANTS else r[c])
            for c in COLUMNS
        ])
    copy = f"\\copy tasks ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", copy],
                   input=buffer.getvalue().encode(), check=True)


def seed_sqlite(path, all_rows):
    import sqlite3
    db = sqlite3.connect(path)
    def value(c, v):
        if v is None:
            return None
        if c in ("id", "owner_id"):
            return v.bytes
        return rfc3339(v) if c in INSTANTS else v
    db.executemany(
        f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})",
        ([value(c, r[c]) for c in COLUMNS] for r in all_rows),
    )
    db.commit()
    db.close()


def main():
    backend, target, big, small, fillers = sys.argv[1:6]
    n = int(sys.argv[6]) if len(sys.argv) > 6 else 1_000_000
    big, small = uuid.UUID(big), uuid.UUID(small)
    fillers = [uuid.UUID(f) for f in fillers.split(",")]
    all_rows = rows(big, small, fillers, n)
    if backend == "postgres":
        seed_postgres(target, all_rows)
    else:
        seed_sqlite(target, all_rows)


if __name__ == "__main__":
    main()
