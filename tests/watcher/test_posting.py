"""Posting alerts: one thread per transfer kept current, Slack's pace and 429s, refusals, and
an alert whose post got no answer is looked up, not posted twice."""

from __future__ import annotations

import itertools
import logging

import pytest
from sqlalchemy import select

from bot.watcher.alerts import post_pending_alerts
from providers.base import Action
from storage.models import Alert, AlertState
from tests.watcher.conftest import CHANNEL, Rig

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


async def alerts(rig: Rig) -> list[Alert]:
    async with rig.services.db.session() as session:
        return list(await session.scalars(select(Alert).where(Alert.kind != "header")))


async def blocked_transfer(rig: Rig, domain: str = "stuck.example") -> int:
    """A Hostway transfer watched while moving, polled until it blocks (alert reserved)."""
    ref = rig.sims["hostway"].add_transfer(
        domain, script="bad_auth", age=40 * MINUTE, correct_auth_info="Right-EPP-42"
    )
    row = await rig.watch("hostway", ref)
    await rig.step(0, post=False)
    await rig.step(25 * MINUTE, post=False)
    assert (await rig.row(row.id)).phase == "blocked"
    assert row.id is not None
    return row.id


def post_gaps(rig: Rig) -> list[float]:
    times = [at for method, at in rig.standin.arrivals if method == "chat.postMessage"]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_one_thread_per_transfer_whose_first_message_stays_current(rig: Rig) -> None:
    transfer_id = await blocked_transfer(rig)
    await rig.post()
    [header] = rig.standin.channel(CHANNEL)
    assert "32" in header.text and not header.edited

    client = rig.services.registry.get(rig.account("hostway"))
    await client.perform("stuck.example", Action.RETRY, {"authInfo": "Right-EPP-42"})
    await rig.step(2 * MINUTE)  # 13 again: no alert, but the header shows it
    assert header.edited and " 13 " in f" {header.text} "
    await rig.step(10 * MINUTE)  # 14: waiting for the registrant's approval
    await rig.step(3 * DAY)  # 5: completed
    assert [a.kind for a in await alerts(rig)] == ["blocked", "completed"]
    assert rig.standin.channel(CHANNEL) == [header]  # everything in one thread
    assert ["is stuck" in r.text for r in header.replies] == [True, False]
    assert "completed" in header.replies[1].text
    assert "completed" in header.text.lower() or " 5 " in f" {header.text} "
    assert rig.standin.thread_of(transfer_id) is header


async def test_posts_keep_the_channel_pace(rig: Rig) -> None:
    await blocked_transfer(rig, "one.example")
    await blocked_transfer(rig, "two.example")
    assert await post_pending_alerts(rig.services, pace=1.0) == 2
    gaps = post_gaps(rig)
    assert len(gaps) == 3  # two headers, two alerts
    assert min(gaps) >= 0.95


async def test_a_429_is_waited_out_and_the_alert_posted_once(rig: Rig) -> None:
    await blocked_transfer(rig)
    rig.standin.rate_limit("chat.postMessage", retry_after=1)
    assert await rig.post() == 1
    statuses = [c.status for c in rig.standin.calls_to("chat.postMessage")]
    assert statuses == [429, 200, 200]  # header refused, then header and alert
    assert post_gaps(rig)[0] >= 0.95  # Retry-After: 1 honoured
    assert set(rig.standin.delivered().values()) == {1}


async def test_a_refused_post_is_tried_again_and_lands_once(rig: Rig) -> None:
    await blocked_transfer(rig)
    rig.standin.fail("chat.postMessage", "not_in_channel")
    assert await rig.post() == 0
    [alert] = await alerts(rig)
    assert alert.state == AlertState.PENDING.value and "not_in_channel" in (alert.last_error or "")
    assert await rig.post() == 1
    assert len(rig.standin.channel(CHANNEL)) == 1
    assert set(rig.standin.delivered().values()) == {1}


async def test_an_unanswered_header_is_found_in_the_channel_and_used(rig: Rig) -> None:
    transfer_id = await blocked_transfer(rig)
    rig.standin.swallow("chat.postMessage")  # the header lands, its answer never comes
    assert await rig.post() == 0
    [alert] = await alerts(rig)
    assert alert.state == AlertState.POSTING.value  # outcome unknown: kept claimed
    assert await rig.post() == 0  # within the lease nobody takes it over
    rig.advance(61)  # the lease (60 s) runs out
    assert await rig.post() == 1
    assert len(rig.standin.threads()) == 1  # the first header was adopted
    assert (await rig.row(transfer_id)).alert_ts == rig.standin.threads()[0].ts
    assert set(rig.standin.delivered().values()) == {1}


async def test_an_unanswered_alert_is_found_in_its_thread_and_not_posted_again(rig: Rig) -> None:
    await blocked_transfer(rig)
    rig.standin.swallow("chat.postMessage", after=1)  # header fine; the alert lands unanswered
    assert await rig.post() == 0
    rig.advance(61)
    assert await rig.post() == 1
    [alert] = await alerts(rig)
    assert alert.state == AlertState.POSTED.value
    [thread] = rig.standin.channel(CHANNEL)
    assert alert.ts == thread.replies[0].ts and len(thread.replies) == 1
    assert set(rig.standin.delivered().values()) == {1}


async def test_without_read_access_an_unanswered_alert_is_posted_again_not_lost(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await blocked_transfer(rig)
    rig.standin.readable = False  # no channels:history scope
    rig.standin.swallow("chat.postMessage", after=1)
    await rig.post()
    rig.advance(61)
    with caplog.at_level(logging.WARNING, logger="bot.watcher"):
        assert await rig.post() == 1
    assert list(rig.standin.delivered().values()) == [2]  # at least once, never zero
    assert "can't read back" in caplog.text
