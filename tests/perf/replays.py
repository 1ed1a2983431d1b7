"""Benchmark remembering signatures: ``python -m tests.perf.replays``.

The cost of one check of :class:`bot.runtime.replays.RecentSignatures` with 0, 100,000
and 400,000 young signatures remembered (a stepped clock: none expires), then while
400,000 expire in a stream. Target: the same few microseconds at every size (it was
10.4 ms a check at 100,000).
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from bot.runtime.replays import RecentSignatures

logger = logging.getLogger(__name__)

CHECKS = 50_000


def per_check_us(memory: RecentSignatures, clock: list[float], start: int, *, step: float) -> float:
    began = time.perf_counter()
    for n in range(start, start + CHECKS):
        memory.add(f"v0={n:064x}", int(clock[0]))
        clock[0] += step
    return (time.perf_counter() - began) / CHECKS * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    figures = {}
    for size in (0, 100_000, 400_000):
        clock = [1_000_000.0]
        memory = RecentSignatures(clock=lambda c=clock: c[0])
        for n in range(size):
            memory.add(f"v0={n:064x}", int(clock[0]))
        figures[f"{size:,} remembered"] = per_check_us(memory, clock, size, step=0.0)
    clock = [1_000_000.0]
    memory = RecentSignatures(clock=lambda: clock[0])
    for n in range(400_000):
        memory.add(f"v0={n:064x}", int(clock[0]))
    clock[0] += 300  # all of them expire while the next ones arrive
    figures["400,000 expiring"] = per_check_us(memory, clock, 400_000, step=0.01)
    for name, us in figures.items():
        print(f"{name:>20}: {us:6.2f} µs per check")
    print(json.dumps({"us_per_check": {k: round(v, 2) for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
