"""The Watcher wires APScheduler's clock to the jobs; the state stays in the database."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.watcher.digest import reserve_digest
from bot.watcher.schedule import Watcher
from tests.waiting import until
from tests.watcher.conftest import CHANNEL, Rig

HOUR = 3600.0


async def test_the_watcher_ticks_by_itself_posts_and_stops(rig: Rig) -> None:
    cpanel = rig.sims["cpanel"]
    ref = cpanel.add_session(script=[(0, "RUNNING"), (60, "COMPLETED")], accounts=["a"])
    await rig.watch("cpanel", ref)
    rig.advance(120)  # it has completed by the first tick
    watcher = Watcher(rig.services)
    watcher.start()
    try:
        assert watcher.running
        await until(lambda: watcher.last_tick_at is not None, seconds=15)
        assert watcher.last_pass is not None and watcher.last_pass.polled == 1
        await until(lambda: any(m.replies for m in rig.standin.channel(CHANNEL)), seconds=15)
    finally:
        watcher.shutdown()
    assert not watcher.running
    [thread] = rig.standin.channel(CHANNEL)
    assert "completed" in thread.replies[0].text


async def test_request_expiry_waits_for_the_bots_function(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = Watcher(rig.services)
    with caplog.at_level(logging.INFO, logger="bot.watcher"):
        await watcher.expire_requests()
        await watcher.expire_requests()
    try:
        import bot.actions.approvals  # noqa: F401
    except ImportError:
        assert caplog.text.count("expire_due_requests is not there yet") == 1


async def test_the_daily_digest_is_posted_once_across_replicas(rig: Rig, db) -> None:  # type: ignore[no-untyped-def]
    hostway = rig.sims["hostway"]
    for i in range(3):
        await rig.watch("hostway", hostway.add_transfer(f"d{i}.example", age=3 * HOUR))
    other = rig.make_services(db, instance="watcher-test-2")
    results = await asyncio.gather(reserve_digest(rig.services), reserve_digest(other))
    assert sorted(results) == [False, True]
    await rig.services.drain(5)
    await other.drain(5)
    [digest] = rig.standin.channel(CHANNEL)
    assert digest.text.startswith("Daily digest: 3 transfers in flight")
    assert all(f"d{i}.example" in str(digest.blocks) for i in range(3))
