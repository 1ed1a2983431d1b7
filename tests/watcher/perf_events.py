"""A simulated week of OpenSRS transfers through the real watcher: event notifications on,
off (adaptive polling), beside a fixed 5-minute cron.

Unlike ``perf_week`` (a model on plain data), this drives the real parts: the OpenSRS
simulator on loopback with its stepped clock, a real SQLite database, the watcher's own
tick (``read_change_feeds`` then ``run_poll_pass``) at 5-second resolution. The clock jumps
over stretches where nothing is due (no feed read, no poll, no new order), which is what a
5-second tick would find there too. Orders follow ``perf_week``'s OpenSRS stories (a
registrant for hours to days, a short review, days at the registry; one in ten declined
after five days, which here ends the order blocked). Each is watched as it is placed (those
placed before the week, at its start). Measured:

* detection delay: from a status change at OpenSRS to the watcher recording it (the first
  snapshot at or past that status), for every change inside the week after the watch;
* provider calls (every XCP command the simulator answered: CHECK_TRANSFER,
  GET_TRANSFERS_IN, EVENT POLL, EVENT ACK) per transfer-day in flight inside the week;
* for the cron, the same changes against a poll every 300 s from the watch (computed).
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select
from sqlmodel import col

from bot.services import Services
from bot.settings import Settings, WatcherSettings
from bot.watcher.feeds import read_change_feeds
from bot.watcher.poll import run_poll_pass
from bot.watcher.transport import provider_transport
from providers.opensrs.statuses import STATUSES
from providers.registry import ProviderRegistry
from providers.settings import ProviderAccount
from providers.simulators.base import LoopbackServer, SimClock
from providers.simulators.opensrs import OpenSRSSimulator
from storage.database import Database
from storage.migrate import upgrade_database
from storage.models import ChangeFeedState, EventKind, TrackedTransfer, TransferEvent
from storage.secrets import SecretBox
from storage.transfers import watch_transfer
from tests.watcher.perf_week import DAY, FIXED, WEEK, story

__all__ = ["EventsWeek", "events_week"]

TICK = 5.0
SECRET = "bench-opensrs-key-0123456789"
RESELLER = "bench_rsp"
START = datetime(2026, 1, 5, tzinfo=UTC)
_FINISHED = ("completed", "failed", "cancelled")


@dataclass
class EventsWeek:
    """One mode's week: its detection delays (seconds) and its calls."""

    mode: str
    transfers: int = 0
    transfer_days: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    delays: list[float] = field(default_factory=list)
    undetected: int = 0  # changes not yet recorded when the week ended
    seconds: float = 0.0  # wall time of the run

    @property
    def per_day(self) -> float:
        return sum(self.calls.values()) / self.transfer_days

    def quantile(self, q: float) -> float:
        if not self.delays:
            return 0.0
        ordered = sorted(self.delays)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    def summary(self) -> dict[str, Any]:
        return {
            "transfers": self.transfers,
            "transfer_days": round(self.transfer_days, 1),
            "changes": len(self.delays),
            "undetected_at_week_end": self.undetected,
            "detection_p50_s": round(self.quantile(0.5), 1),
            "detection_p99_s": round(self.quantile(0.99), 1),
            "detection_worst_s": round(max(self.delays, default=0.0), 1),
            "calls_per_transfer_day": round(self.per_day, 2),
            "calls": dict(sorted(self.calls.items())),
            "wall_s": round(self.seconds, 1),
        }


@dataclass
class Plan:
    """One order: when it is placed (seconds from the week's start) and its script."""

    start: float
    script: list[tuple[float, str, str]]


def plans(transfers: int, seed: int) -> list[Plan]:
    """perf_week's OpenSRS stories, as simulator scripts; a declined order ends there."""
    rng = random.Random(seed)
    result = []
    for _ in range(transfers):
        steps = story("opensrs", rng)
        start = rng.uniform(-10 * DAY, WEEK)
        script, offset = [], 0.0
        for _phase, code, duration in steps:
            reason = "Registrant did not approve" if code == "cancelled" else ""
            script.append((offset, code, reason))
            if code in _FINISHED or duration is None:
                break
            offset = duration
        result.append(Plan(start, script))
    return sorted(result, key=lambda plan: plan.start)


async def events_week(
    mode: str, *, transfers: int, seed: int = 7, event_poll_seconds: int = 60
) -> EventsWeek:
    """Run a week in ``mode`` ("events" or "adaptive") and measure it."""
    began = time.monotonic()
    clock = SimClock(frozen=True, start=START - timedelta(days=11))
    sim = OpenSRSSimulator(secret=SECRET, username=RESELLER, clock=clock)
    sim.events_enabled = mode == "events"
    workdir = tempfile.TemporaryDirectory(prefix="events-week-")
    url = f"sqlite+aiosqlite:///{workdir.name}/week.sqlite3"
    await upgrade_database(url)
    db = Database(url)
    result = EventsWeek(mode=mode, transfers=transfers)
    try:
        async with LoopbackServer(sim) as base_url:
            services = _services(db, base_url, clock, events=mode == "events",
                                 every=event_poll_seconds)  # fmt: skip
            watched = await _run(services, sim, clock, plans(transfers, seed))
            await services.registry.aclose()
        await _measure(db, sim, watched, result)
    finally:
        await db.dispose()
        workdir.cleanup()
    result.seconds = time.monotonic() - began
    return result


def _services(
    db: Database, base_url: str, clock: SimClock, *, events: bool, every: int
) -> Services:
    account = ProviderAccount(
        name="opensrs-bench", type="opensrs", base_url=base_url, username=RESELLER,
        secret_env="UNUSED", secret=SECRET, concurrency=10, rate_limit=50.0, timeout=10.0,
        read_retries=0, events=events, event_poll_seconds=every,
    )  # fmt: skip
    settings = Settings(
        watcher=WatcherSettings(sync_interval_minutes=0, batch_size=200), accounts=(account,)
    )
    return Services(
        settings=settings,
        db=db,
        registry=ProviderRegistry([account], transport_factory=provider_transport),
        slack=AsyncWebClient(),
        secret_box=SecretBox(None),
        instance="events-week",
        now=clock.now,
    )


async def _run(
    services: Services, sim: OpenSRSSimulator, clock: SimClock, plans: list[Plan]
) -> dict[str, float]:
    """The week; returns order id -> when it was watched (seconds from the week's start)."""
    clock.advance((START - clock.now()).total_seconds())
    pending = list(plans)
    watched: dict[str, float] = {}
    client = services.registry.get("opensrs-bench")
    events = services.settings.accounts[0].events
    while True:
        now = (clock.now() - START).total_seconds()
        while pending and pending[0].start <= now:
            plan = pending.pop(0)
            order_id = sim.add_order(
                f"w{len(watched) + len(pending)}-{int(plan.start)}.example",
                script=plan.script, age=max(0.0, now - plan.start),
            )  # fmt: skip
            if sim.orders[order_id].status in _FINISHED:
                continue
            snapshot = await client.get_transfer(order_id)
            async with services.db.session() as session:
                await watch_transfer(session, transfer=snapshot, watched_by="bench",
                                     now=clock.now(), next_poll_at=clock.now())  # fmt: skip
            watched[order_id] = now
        if events:
            await read_change_feeds(services)
        due, feed = await _next_due(services)
        if due is not None and due <= clock.now():  # else the pass would claim nothing
            await run_poll_pass(services)
            due, feed = await _next_due(services)
        upcoming = [t for t in (due, feed if events else None) if t is not None]
        if pending:
            upcoming.append(START + timedelta(seconds=pending[0].start))
        after = clock.now() + timedelta(seconds=TICK)
        target = max(after, min(upcoming, default=START + timedelta(seconds=WEEK)))
        seconds = math.ceil((target - START).total_seconds() / TICK) * TICK
        if seconds > WEEK:
            break
        clock.advance(seconds - now)
    return watched


async def _next_due(services: Services) -> tuple[datetime | None, datetime | None]:
    """When the next transfer poll and the next feed read are due."""
    async with services.db.session() as session:
        due = await session.scalar(
            select(func.min(col(TrackedTransfer.next_poll_at))).where(
                col(TrackedTransfer.watching).is_(True),
                col(TrackedTransfer.phase).not_in(_FINISHED),
            )
        )
        feed = await session.scalar(select(func.min(col(ChangeFeedState.next_poll_at))))
    return due, feed


async def _measure(
    db: Database, sim: OpenSRSSimulator, watched: dict[str, float], result: EventsWeek
) -> None:
    result.calls = {op: n for op, n in sim.faults.calls.items() if n}
    for order in sim.orders.values():  # what happened by the week's end, asked or not
        order.settle(START + timedelta(seconds=WEEK))
    async with db.session() as session:
        rows = {row.ref: row for row in await session.scalars(select(TrackedTransfer))}
        observed: dict[int, list[tuple[float, str]]] = {}
        for event in await session.scalars(
            select(TransferEvent).where(
                col(TransferEvent.kind).in_([EventKind.OBSERVED.value, EventKind.WATCHED.value])
            )
        ):
            at = (event.at - START).total_seconds()
            observed.setdefault(event.transfer_id, []).append((at, event.raw_code or ""))
    for order_id, since in watched.items():
        order, row = sim.orders[order_id], rows[order_id]
        history = [((at - START).total_seconds(), status) for at, status, _ in order.history]
        finish = next((at for at, status in history if status in _FINISHED), WEEK)
        if history[-1][1] == "cancelled":
            finish = WEEK  # a declined order stays blocked, and watched
        result.transfer_days += max(0.0, min(finish, WEEK) - since) / DAY
        seen = sorted(observed.get(row.id or 0, []))
        for at, status in history:
            if not since < at <= WEEK:
                continue
            rank = STATUSES[status].rank
            found = [t for t, code in seen if t >= at and STATUSES[code].rank >= rank]
            if found:
                result.delays.append(found[0] - at)
            else:
                result.undetected += 1


def fixed_week(*, transfers: int, seed: int = 7) -> EventsWeek:
    """A poll every 300 s from each order's watch: the same orders and changes, computed."""
    result = EventsWeek(mode="fixed 5 min", transfers=transfers)
    calls = 0
    for plan in plans(transfers, seed):
        since = max(0.0, plan.start)
        times, at = [], plan.start
        for offset, status, _ in plan.script:
            at += offset
            times.append((at, status))
        if any(status in _FINISHED and t <= since for t, status in times):
            continue  # finished before the week: never watched
        finish = next((t for t, status in times if status == "completed"), WEEK)
        end = min(finish, WEEK)
        if end <= since:
            continue
        calls += math.floor((end - since) / FIXED) + 1
        result.transfer_days += (end - since) / DAY
        for t, _status in times:
            if since < t <= WEEK:
                result.delays.append(since + math.ceil((t - since) / FIXED) * FIXED - t)
    result.calls = {"CHECK_TRANSFER": calls}
    return result
