"""When to poll a transfer next: by its phase, its raw status and how long that has not changed.

Pure functions on plain data. The policy, in short:

* **finished** transfers are never polled again;
* **moving** statuses (a running cPanel session, a Gandi operation in BILL or RUN, an
  OpenSRS order at the registry or in review, Hostway's early codes) are polled after
  ``min_interval``, then after a tenth of the time the status has not changed, capped at
  ``max_detection_delay``;
* **waiting** statuses (a registrant, the losing registrar, a person: OpenSRS
  ``pending_owner``, Hostway 14, Gandi WAIT, every paused or blocked transfer) start at
  four times ``min_interval`` and back off to a quarter of the unchanged time, capped at
  ``max_interval``.

Jitter only ever shortens an interval, so the caps are the worst detection delays:
``max_detection_delay`` for moving statuses and ``max_interval`` for waiting ones (plus at
most one watcher tick). A transfer never waits past the moment it would count as stalled.
Polling proportional to the unchanged time costs a number of calls that grows with the
logarithm of a status's duration instead of linearly.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from providers.base import Phase, Transfer
from providers.descriptor import Speed
from providers.registry import DESCRIPTORS

if TYPE_CHECKING:
    from bot.settings import WatcherSettings

__all__ = [
    "MOVING_STATUSES",
    "WAITING_STATUSES",
    "Pace",
    "PollPolicy",
    "error_delay",
    "next_poll_delay",
    "outage_probe_delay",
    "pace_of",
    "poll_interval",
]

logger = logging.getLogger(__name__)

# provider -> raw codes expected to change within minutes, as each descriptor's status table says
MOVING_STATUSES: Mapping[str, frozenset[str]] = {d.type: d.codes(Speed.MOVING) for d in DESCRIPTORS}
# provider -> raw codes that wait hours or days for someone outside the bot
WAITING_STATUSES: Mapping[str, frozenset[str]] = {
    d.type: d.codes(Speed.WAITING) for d in DESCRIPTORS
}
_WAITING_PHASES = frozenset({Phase.PAUSED, Phase.BLOCKED})


class Pace(enum.StrEnum):
    """How fast a transfer in some status is expected to move."""

    MOVING = "moving"
    WAITING = "waiting"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """The bounds of adaptive polling, in seconds."""

    min_interval: float = 15.0
    max_interval: float = 21600.0
    max_detection_delay: float = 3600.0
    jitter: float = 0.1
    moving_fraction: float = 0.1  # of the time unchanged
    waiting_fraction: float = 0.25
    waiting_start: float = 4.0  # times min_interval
    outage_probe_cap: float = 600.0

    @classmethod
    def from_settings(cls, settings: WatcherSettings) -> PollPolicy:
        return cls(
            min_interval=float(settings.min_interval_seconds),
            max_interval=float(settings.max_interval_seconds),
            max_detection_delay=float(settings.max_detection_delay_seconds),
            jitter=float(settings.jitter),
        )

    def bound(self, pace: Pace) -> float:
        """The worst detection delay promised for a status of this pace."""
        return self.max_detection_delay if pace is Pace.MOVING else self.max_interval


def pace_of(provider: str, phase: Phase | str, raw_code: str) -> Pace:
    """Moving, waiting or finished; unknown statuses of a pending or active transfer move."""
    phase = Phase(phase)
    if phase.finished:
        return Pace.FINISHED
    code = raw_code.strip()
    if phase in _WAITING_PHASES or code in WAITING_STATUSES.get(provider, ()):
        return Pace.WAITING
    return Pace.MOVING


def poll_interval(pace: Pace, unchanged_for: float, policy: PollPolicy) -> float | None:
    """Seconds until the next poll, before jitter; None once finished."""
    if pace is Pace.FINISHED:
        return None
    unchanged_for = max(0.0, unchanged_for)
    cap = policy.bound(pace)
    if pace is Pace.MOVING:
        start, fraction = policy.min_interval, policy.moving_fraction
    else:
        start, fraction = policy.min_interval * policy.waiting_start, policy.waiting_fraction
    wanted = max(start, fraction * unchanged_for)
    return max(policy.min_interval, min(cap, wanted))


def next_poll_delay(
    *,
    provider: str,
    phase: Phase | str,
    raw_code: str,
    unchanged_for: float,
    policy: PollPolicy,
    stall_in: float | None = None,
    rng: random.Random | None = None,
    safety: float | None = None,
) -> float | None:
    """Seconds until the next poll, jittered (only ever shorter); None once finished.

    Args:
        unchanged_for: seconds the raw status has not changed.
        stall_in: seconds until the transfer would count as stalled (None: not watched
            for stalls, or already alerted); the next poll comes no later than that.
        safety: a trusted change feed tells of changes, so an unfinished transfer is
            polled only this often, as a safety net (None: adaptively).
    """
    interval = poll_interval(pace_of(provider, phase, raw_code), unchanged_for, policy)
    if interval is None:
        return None
    if safety is not None:
        interval = max(interval, safety)
    draw = (rng or random).random()
    delay = max(policy.min_interval, interval * (1.0 - policy.jitter * draw))
    if stall_in is not None:
        delay = min(delay, max(policy.min_interval, stall_in + 1.0))
    return delay


def first_poll_delay(transfer: Transfer, *, now: datetime, policy: PollPolicy) -> float:
    """Seconds until a transfer just watched or imported is polled again: the same adaptive
    interval a poll would give it now (a finished one waits the longest interval)."""
    changed = transfer.changed_at if transfer.changed_at and transfer.changed_at <= now else now
    delay = next_poll_delay(
        provider=transfer.provider,
        phase=transfer.phase,
        raw_code=transfer.raw_code,
        unchanged_for=(now - changed).total_seconds(),
        policy=policy,
    )
    return delay if delay is not None else policy.max_interval


def error_delay(
    consecutive_errors: int,
    *,
    transient: bool,
    policy: PollPolicy,
    retry_after: float | None = None,
) -> float:
    """Seconds until a transfer whose poll failed is tried again: doubling from min_interval.

    A transient error (the provider down or slow) is retried within max_detection_delay;
    a lasting one (no such transfer, refused credentials) backs off to max_interval.
    """
    cap = policy.max_detection_delay if transient else policy.max_interval
    exponent = min(max(0, consecutive_errors - 1), 30)
    delay = min(cap, policy.min_interval * 2.0**exponent)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return max(policy.min_interval, delay)


def outage_probe_delay(failures_beyond: int, policy: PollPolicy) -> float:
    """Seconds between probes of an account that is down: doubling, capped."""
    cap = max(policy.min_interval, min(policy.outage_probe_cap, policy.max_detection_delay))
    exponent = min(max(0, failures_beyond), 30)
    return min(cap, policy.min_interval * 2.0**exponent)
