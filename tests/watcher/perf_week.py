"""A simulated week of polling: adaptive intervals against a fixed 5-minute cron, on plain data.

Transfers follow realistic status timelines per provider (minutes for a running cPanel
session or a Gandi RUN, days for a registrant or the losing registrar, some blocked for
days until a person acts); start times are spread so the week sees a steady population.
Only polls and in-flight time inside the week are counted. Providers report when a status
changed, so the watcher knows how long a status has not changed; polls fall on the
watcher's tick.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

from bot.watcher.intervals import Pace, PollPolicy, next_poll_delay, pace_of

__all__ = ["WeekResult", "simulate_week", "story"]

MIN, HOUR, DAY = 60.0, 3600.0, 86400.0
WEEK = 7 * DAY
FIXED = 300.0
STALL_AFTER = 7 * DAY

Status = tuple[str, str, float | None]  # phase, raw code, duration (None: finished)


def _cpanel(rng: random.Random) -> list[Status]:
    steps: list[Status] = [("pending", "PENDING", rng.uniform(5, 60))]
    running = min(12 * HOUR, rng.lognormvariate(math.log(40 * MIN), 0.8))
    roll = rng.random()
    if roll < 0.07:
        steps += [
            ("active", "RUNNING", running / 2),
            ("blocked", "REACHEDMAXMEM", rng.uniform(HOUR, DAY)),
        ]
    elif roll < 0.12:
        steps += [
            ("active", "RUNNING", running / 2),
            ("paused", "PAUSED", rng.uniform(HOUR, 12 * HOUR)),
        ]
    if roll < 0.97:
        return [*steps, ("active", "RUNNING", running), ("completed", "COMPLETED", None)]
    return [*steps, ("active", "RUNNING", running), ("failed", "FAILED", None)]


def _hostway(rng: random.Random) -> list[Status]:
    start: list[Status] = [
        ("pending", "0", 5 * MIN),
        ("pending", "9", 10 * MIN),
        ("pending", "11", 15 * MIN),
        ("pending", "13", 30 * MIN),
        ("pending", "14", rng.uniform(DAY, 5 * DAY)),
    ]
    if rng.random() < 0.15:
        start += [
            ("blocked", "32", rng.uniform(DAY, 3 * DAY)),
            ("pending", "13", 15 * MIN),
            ("pending", "14", rng.uniform(DAY, 3 * DAY)),
        ]
    return [*start, ("completed", "5", None)]


def _opensrs(rng: random.Random) -> list[Status]:
    owner = min(5 * DAY, max(2 * HOUR, rng.lognormvariate(math.log(12 * HOUR), 1.0)))
    steps: list[Status] = []
    if rng.random() < 0.1:
        steps += [
            ("pending", "pending_owner", 5 * DAY),
            ("blocked", "cancelled", rng.uniform(DAY, 3 * DAY)),
        ]
        owner = 6 * HOUR
    return [
        *steps,
        ("pending", "pending_owner", owner),
        ("pending", "pending_admin", 15 * MIN),
        ("active", "pending_registry", 5 * DAY),
        ("completed", "completed", None),
    ]


def _gandi(rng: random.Random) -> list[Status]:
    steps: list[Status] = [
        ("pending", "BILL", 10.0),
        ("pending", "WAIT", rng.uniform(DAY, 5 * DAY)),
        ("active", "RUN", rng.uniform(5 * MIN, HOUR)),
    ]
    if rng.random() < 0.1:
        steps += [
            ("blocked", "ERROR/support_recoverable", rng.uniform(HOUR, 2 * DAY)),
            ("active", "RUN", 20 * MIN),
        ]
    return [*steps, ("completed", "DONE", None)]


STORIES = {"cpanel": _cpanel, "hostway": _hostway, "opensrs": _opensrs, "gandi": _gandi}


def story(provider: str, rng: random.Random) -> list[Status]:
    return STORIES[provider](rng)


@dataclass
class WeekResult:
    transfers: int = 0
    transfer_days: float = 0.0
    adaptive_calls: int = 0
    fixed_calls: int = 0
    worst: dict[str, float] = field(
        default_factory=lambda: {"adaptive_moving": 0.0, "adaptive_waiting": 0.0, "fixed": 0.0}
    )

    @property
    def adaptive_per_day(self) -> float:
        return self.adaptive_calls / self.transfer_days

    @property
    def fixed_per_day(self) -> float:
        return self.fixed_calls / self.transfer_days


def _on_tick(t: float, tick: float) -> float:
    return math.ceil(t / tick) * tick


def _adaptive(
    provider: str, starts: list[float], steps: list[Status], policy: PollPolicy, tick: float,
    rng: random.Random, result: WeekResult,
) -> None:  # fmt: skip
    t, seen, alerted = starts[0], 0, -1
    while t <= WEEK:
        k = bisect.bisect_right(starts, t) - 1
        if k > seen:  # changes since the last poll are seen now; the bound that applies
            known = pace_of(provider, steps[seen][0], steps[seen][1])  # is the known status's
            name = "adaptive_moving" if known is Pace.MOVING else "adaptive_waiting"
            if starts[seen + 1] >= 0:
                result.worst[name] = max(result.worst[name], t - starts[seen + 1])
            seen = k
        if t >= 0:
            result.adaptive_calls += 1
        phase, code, duration = steps[k]
        if duration is None:
            return
        stall_in = None if alerted == k else starts[k] + STALL_AFTER - t
        if stall_in is not None and stall_in <= 0:
            alerted, stall_in = k, None
        delay = next_poll_delay(
            provider=provider, phase=phase, raw_code=code, unchanged_for=t - starts[k],
            policy=policy, stall_in=stall_in, rng=rng,
        )  # fmt: skip
        assert delay is not None
        t = _on_tick(t + delay, tick)


def _fixed(starts: list[float], finish: float, result: WeekResult) -> None:
    first = starts[0]
    k_from = max(0, math.ceil(-first / FIXED))
    k_to = min(math.ceil((finish - first) / FIXED), math.floor((WEEK - first) / FIXED))
    result.fixed_calls += max(0, k_to - k_from + 1)
    for at in starts[1:]:
        if 0 <= at <= WEEK:
            poll = first + math.ceil((at - first) / FIXED) * FIXED
            result.worst["fixed"] = max(result.worst["fixed"], poll - at)


def simulate_week(
    transfers: int, policy: PollPolicy, *, tick: float = 5.0, seed: int = 7
) -> WeekResult:
    """Simulate ``transfers`` transfers (spread over the four providers) for a week."""
    rng = random.Random(seed)
    result = WeekResult(transfers=transfers)
    providers = list(STORIES)
    for i in range(transfers):
        provider = providers[i % len(providers)]
        steps = story(provider, rng)
        start = rng.uniform(-10 * DAY, WEEK)
        starts = [start]
        for _, _, duration in steps[:-1]:
            starts.append(starts[-1] + (duration or 0.0))
        finish = starts[-1]
        result.transfer_days += max(0.0, min(finish, WEEK) - max(start, 0.0)) / DAY
        _adaptive(provider, starts, steps, policy, tick, rng, result)
        _fixed(starts, finish, result)
    return result
