#!/usr/bin/env python3
"""Pools the rounds of several `bench/ab.sh` runs of the same two builds.

One A/B run of a few rounds on this shared 2-core machine moves by up to ±10 % (the same
binary against itself, bench/README.md); a cost near a bound needs more rounds than one
run holds. This reads every round of WORKLOAD from each JSON and prints B's req/s over
A's as the ratio of the means over all rounds, with a 90 % bootstrap interval (rounds
drawn again with replacement; fixed seed, so the output repeats).

Usage: python3 bench/pool.py WORKLOAD RESULT.json...
  e.g. python3 bench/pool.py W-update bench/results/ab-2026-12-07-log-*.json
"""
import json
import random
import statistics
import sys


def rounds(path: str, workload: str) -> tuple[list[float], list[float]]:
    with open(path) as f:
        targets = json.load(f)["targets"]
    rate = lambda label: [r["rps"] for r in targets[label]["workloads"][workload]["rounds"]]
    return rate("A"), rate("B")


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    workload, paths = sys.argv[1], sys.argv[2:]
    a, b = [], []
    for path in paths:
        ra, rb = rounds(path, workload)
        a += ra
        b += rb
    rng = random.Random(1)
    draws = []
    for _ in range(5000):
        picked = [rng.randrange(len(a)) for _ in a]
        draws.append(statistics.mean(b[i] for i in picked) / statistics.mean(a[i] for i in picked))
    draws.sort()
    low, high = draws[len(draws) // 20], draws[len(draws) * 19 // 20]
    print(f"{workload}: {len(a)} rounds of {len(paths)} runs, B / A {statistics.mean(b) / statistics.mean(a):.3f} "
          f"(90 % interval {low:.3f}-{high:.3f})")


if __name__ == "__main__":
    main()
