"""Gandi's operation steps played from a script, as both Gandi simulators (v3 and v5) play them.

A script is a list of ``(seconds after the anchor, step, error)``: the step an operation or
transfer reaches at that time (BILL, WAIT, RUN, DONE, ERROR, ...) and, in ERROR, what went
wrong (v3's error identifier, v5's errortype). The anchor moves when an action restarts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

__all__ = ["Entry", "Reached", "first_run", "reached", "script_of"]

Entry = tuple[float, str, str | None]  # (seconds after the anchor, step, error)
Reached = tuple[datetime, str, str | None]  # (when it got there, step, error)


def script_of(entries: Iterable[Sequence[Any]]) -> list[Entry]:
    """``(seconds, step[, error])`` items as a script; ValueError unless it starts at 0 s."""
    script = [(float(e[0]), str(e[1]), str(e[2]) if len(e) > 2 and e[2] else None) for e in entries]
    if not script or script[0][0] != 0:
        raise ValueError("a script starts at 0 seconds")
    return script


def reached(script: Sequence[Entry], anchor: datetime, now: datetime) -> list[Reached]:
    """The steps of ``script`` (played from ``anchor``) reached by ``now``, each with its time;
    the first step at least, so the last one is where it is now."""
    elapsed = (now - anchor).total_seconds()
    entries = [e for e in script if e[0] <= elapsed] or list(script[:1])
    return [(anchor + timedelta(seconds=at), step, error) for at, step, error in entries]


def first_run(steps: Iterable[Reached]) -> datetime | None:
    """When the steps first reached RUN (Gandi started processing), if they did."""
    return next((at for at, step, _ in steps if step == "RUN"), None)
