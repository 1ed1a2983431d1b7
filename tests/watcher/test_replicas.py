"""Two watchers (two Services, two engines) on one database: each due transfer is polled once
per due time and each alert is posted once. On PostgreSQL when TRANSFERBOT_TEST_PG_URL is set
(required under CI=true), and on SQLite."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlmodel import col

from bot.watcher.alerts import post_pending_alerts
from bot.watcher.poll import run_poll_pass
from storage.database import Database
from storage.models import TrackedTransfer
from tests.watcher.conftest import Rig

MINUTE = 60.0


async def due_count(rig: Rig) -> int:
    async with rig.services.db.session() as session:
        stmt = select(func.count()).where(
            col(TrackedTransfer.watching).is_(True),
            col(TrackedTransfer.next_poll_at) <= rig.clock.now(),
            col(TrackedTransfer.phase).not_in(["completed", "failed", "cancelled"]),
        )
        return int(await session.scalar(stmt) or 0)


async def test_two_watchers_poll_each_due_transfer_once_and_post_each_alert_once(
    rig: Rig, database_url: str
) -> None:
    hostway = rig.sims["hostway"]
    for i in range(50):
        await rig.watch("hostway", hostway.add_transfer(f"m{i}.example", age=3 * 3600))
    for i in range(10):
        ref = hostway.add_transfer(f"b{i}.example", script="bad_auth", age=40 * MINUTE)
        await rig.watch("hostway", ref)
    other = rig.make_services(Database(database_url), instance="watcher-test-2")
    try:
        polled_total = 0
        for step in (0, 30 * MINUTE, 2 * MINUTE, 20 * MINUTE, 3 * 3600):
            rig.advance(step)
            due = await due_count(rig)
            calls = hostway.faults.calls["get_transfer_status"]
            one, two = await asyncio.gather(run_poll_pass(rig.services), run_poll_pass(other))
            assert one.polled + two.polled == due  # every due transfer polled...
            assert hostway.faults.calls["get_transfer_status"] - calls == due  # ...once
            assert one.errors == two.errors == 0
            polled_total += due
        assert polled_total > 60

        posted = await asyncio.gather(
            post_pending_alerts(rig.services, pace=0), post_pending_alerts(other, pace=0)
        )
        assert sum(posted) == 10
        delivered = rig.standin.delivered()
        assert len(delivered) == 10 and set(delivered.values()) == {1}
        assert await post_pending_alerts(other, pace=0) == 0
    finally:
        await other.db.dispose()
