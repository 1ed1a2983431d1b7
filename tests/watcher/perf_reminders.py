"""The reminder pass's cost per tick, for tests/perf/watcher.py (``--reminders``).

N tracked transfers, a share of them blocked for up to three days, each with its
follow-up as the watcher leaves it (checked by the previous tick, next moment set). Then
the reminder pass runs as the tick runs it, the clock moving one tick at a time, and each
pass's database statements and wall time are counted:

- steady: ticks in a row (what a running watcher pays every tick);
- burst: every follow-up due at once (a bot back after an outage), pass after pass until
  none is left (``followups.batch_size`` at a time).
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import event, insert, select, update

from bot.services import Services
from bot.settings import Settings
from bot.watcher.reminders import plan, policy_of, run_reminder_pass
from providers.base import Phase
from providers.registry import ProviderRegistry
from storage.database import Database
from storage.migrate import upgrade_database
from storage.models import Followup, TrackedTransfer
from storage.secrets import SecretBox

__all__ = ["reminder_bench"]

TICK = timedelta(seconds=5)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


async def _seed(db: Database, settings: Settings, transfers: int, blocked: int, now: datetime):
    rng = random.Random(16)
    rows = []
    for i in range(transfers):
        stuck = i < blocked
        rows.append(
            TrackedTransfer(
                short_id=f"r-{i:06d}",
                account="hostway-bench",
                provider="hostway",
                ref=f"d{i}.example",
                subject=f"d{i}.example",
                phase=(Phase.BLOCKED if stuck else Phase.PENDING).value,
                raw_code="32" if stuck else "13",
                watched_by="bench",
                first_seen_at=now,
                updated_at=now,
                next_poll_at=now + timedelta(hours=1),
            ).model_dump(exclude={"id"})
        )
    async with db.session() as session:
        for start in range(0, len(rows), 2000):
            await session.execute(insert(TrackedTransfer), rows[start : start + 2000])
        ids = list(
            await session.scalars(
                select(TrackedTransfer.id).where(TrackedTransfer.phase == Phase.BLOCKED.value)
            )
        )
    fs = settings.followups
    deadline = fs.deadline_for("hostway", "32")
    assert deadline is not None
    followups = []
    last_tick = now - TICK
    for transfer_id in ids:
        since = now - timedelta(seconds=rng.uniform(0, 3 * 86400))
        followup = Followup(
            transfer_id=transfer_id,
            raw_code="32",
            stuck=True,
            since=since,
            deadline_at=since + deadline.after,
            checked_at=last_tick,
        )
        _, followup.due_at = plan(
            followup,
            policy=policy_of(fs),
            warning=fs.deadline_warning,
            warn=deadline.warn,
            owned=False,
            now=last_tick,
        )
        followups.append(followup.model_dump())
    async with db.session() as session:
        for start in range(0, len(followups), 2000):
            await session.execute(insert(Followup), followups[start : start + 2000])
    return len(ids)


async def reminder_bench(url: str, *, transfers: int, blocked_share: float, ticks: int):
    """Seed, then time ``ticks`` steady passes and a burst; returns the figures."""
    await upgrade_database(url)
    db = Database(url)
    now = datetime.now(UTC).replace(microsecond=0)
    settings = Settings()  # the default policy; no alert channel, so nothing is posted
    blocked = await _seed(db, settings, transfers, int(transfers * blocked_share), now)
    clock = _Clock(now)
    services = Services(
        settings=settings,
        db=db,
        registry=ProviderRegistry([]),
        slack=AsyncWebClient(),
        secret_box=SecretBox(None),
        instance="reminder-bench",
        now=clock.now,
    )
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)

    async def one_pass() -> tuple[int, float, int, int]:
        nonlocal statements
        statements = 0
        began = time.perf_counter()
        report = await run_reminder_pass(services)
        seconds = time.perf_counter() - began
        await services.drain(5)
        return statements, seconds, report.due, report.reserved

    steady = []
    for _ in range(ticks):
        steady.append(await one_pass())
        clock.at += TICK
    async with db.session() as session:  # everything due at once: a bot back after a day off
        await session.execute(update(Followup).values(due_at=clock.at, checked_at=None))
    burst = []
    while True:
        result = await one_pass()
        if not result[2]:
            break
        burst.append(result)
    event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    await db.dispose()
    return {
        "transfers": transfers,
        "blocked": blocked,
        "dialect": db.dialect,
        "steady_ticks": ticks,
        "steady_queries_median": statistics.median(s[0] for s in steady),
        "steady_queries_max": max(s[0] for s in steady),
        "steady_ms_median": round(statistics.median(s[1] for s in steady) * 1000, 2),
        "steady_ms_max": round(max(s[1] for s in steady) * 1000, 2),
        "steady_due_total": sum(s[2] for s in steady),
        "burst_passes": len(burst),
        "burst_due_per_pass": [b[2] for b in burst],
        "burst_queries_per_pass": [b[0] for b in burst],
        "burst_ms_per_pass": [round(b[1] * 1000, 1) for b in burst],
        "burst_reserved": sum(b[3] for b in burst),
    }
