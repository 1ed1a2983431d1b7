"""Every alert kind fires once, at the first poll after it happened, through the real path:
simulators and the Slack stand-in on loopback, a real database, a stepped clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.runtime.slack_messages import PostedMessage
from providers.base import Action
from storage.models import EventKind
from storage.transfers import list_events
from tests.watcher.conftest import CHANNEL, Rig

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def buttons(message: PostedMessage) -> list[str]:
    labels = []
    for block in message.blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            labels.append(element.get("text", {}).get("text", ""))
    return labels


def alerts_in(rig: Rig, kind: str | None = None) -> list[Any]:
    """Every alert message posted (thread replies and top-level), oldest first."""
    found = []
    for ts, metadata in rig.standin.metadata.items():
        if metadata.get("event_type") != "transferbot_alert":
            continue
        message = rig.standin.message(CHANNEL, ts)
        assert message is not None
        if kind is None or message.text.lower().find(kind) >= 0:
            found.append(message)
    return found


async def kinds_posted(rig: Rig) -> list[str]:
    from sqlalchemy import select

    from storage.models import Alert, AlertState

    async with rig.services.db.session() as session:
        rows = list(await session.scalars(select(Alert).order_by(Alert.id)))
    delivered = rig.standin.delivered()
    assert all(delivered[a.id] == 1 for a in rows if a.kind != "header"), delivered
    assert all(a.state == AlertState.POSTED.value for a in rows)
    return [a.kind for a in rows if a.kind != "header"]


async def test_becoming_blocked_alerts_once_in_a_thread_with_the_recovery_button(rig: Rig) -> None:
    ref = rig.sims["hostway"].add_transfer("stuck.example", script="bad_auth", age=40 * MINUTE)
    row = await rig.watch("hostway", ref)
    assert row.phase == "pending"  # code 13, awaiting transfer initiation

    await rig.step(0)
    await rig.step(10 * MINUTE)  # still 13: nothing to say
    assert rig.standin.channel(CHANNEL) == []

    await rig.step(15 * MINUTE)  # 32: invalid EPP key, can be reset
    [thread] = rig.standin.channel(CHANNEL)
    assert "stuck.example" in thread.text
    [alert] = thread.replies
    assert "stuck" in alert.text and "32" in alert.text
    assert any(label.startswith("Retry") for label in buttons(alert))

    for _ in range(4):  # more polls, later: still blocked, nothing new
        await rig.step(HOUR)
    assert len(rig.standin.channel(CHANNEL)) == 1 and len(thread.replies) == 1
    assert await kinds_posted(rig) == ["blocked"]


async def test_completed_failed_and_cancelled_each_alert_once_when_they_happen(rig: Rig) -> None:
    cpanel = rig.sims["cpanel"]
    done = cpanel.add_session(script=[(0, "RUNNING"), (10 * MINUTE, "COMPLETED")], accounts=["a"])
    dies = cpanel.add_session(script=[(0, "RUNNING"), (20 * MINUTE, "FAILED")], accounts=["b"])
    abort = cpanel.add_session(script=[(0, "RUNNING")], accounts=["c"])
    for ref in (done, dies, abort):
        await rig.watch("cpanel", ref)
    await rig.step(0)
    assert rig.standin.channel(CHANNEL) == []

    await rig.step(11 * MINUTE)
    assert await kinds_posted(rig) == ["completed"]

    client = rig.services.registry.get(rig.account("cpanel"))
    result = await client.perform(abort, Action.CANCEL)
    assert result.action is Action.CANCEL
    rig.advance(10)  # ABORTING, then ABORTED
    await rig.step(11 * MINUTE)
    assert sorted(await kinds_posted(rig)) == ["cancelled", "completed", "failed"]

    for _ in range(3):
        report = await rig.step(HOUR)
        assert report.claimed == 0  # finished transfers are never polled again
    assert sorted(await kinds_posted(rig)) == ["cancelled", "completed", "failed"]
    assert len(rig.standin.threads()) == 3  # one thread each


async def test_a_stall_alerts_once_right_after_its_threshold(rig: Rig) -> None:
    ref = rig.sims["opensrs"].add_order("slow-owner.example", script="waits_for_owner")
    row = await rig.watch("opensrs", ref)
    stalls_at = row.first_seen_at + timedelta(days=2)  # opensrs:pending_owner in the rig
    polls = 0
    while rig.clock.now() < stalls_at - timedelta(hours=1):
        polls += (await rig.step(HOUR)).polled
    assert 0 < polls < 30  # backing off: far fewer than one an hour
    assert rig.standin.channel(CHANNEL) == []
    due = (await rig.row(row.id)).next_poll_at
    assert due is not None and due <= stalls_at + timedelta(seconds=16)  # polled on time

    rig.advance((stalls_at - rig.clock.now()).total_seconds() - 1)
    await rig.step(0)
    assert rig.standin.channel(CHANNEL) == []  # one second early: not yet
    await rig.step(16)
    assert await kinds_posted(rig) == ["stalled"]
    [thread] = rig.standin.channel(CHANNEL)
    assert "has not moved" in thread.replies[0].text
    assert any(label.startswith("Resend") for label in buttons(thread.replies[0]))

    for _ in range(10):
        await rig.step(6 * HOUR)
    assert await kinds_posted(rig) == ["stalled"]
    async with rig.services.db.session() as session:
        events = await list_events(session, transfer_id=row.id)
    assert [e.kind for e in events].count(EventKind.STALLED) == 1


async def test_an_account_outage_alerts_once_and_its_recovery_once(rig: Rig) -> None:
    gandi = rig.sims["gandi"]
    refs = [gandi.add_operation(f"op{i}.example", story="stays_waiting") for i in range(5)]
    for ref in refs:
        await rig.watch("gandi", ref)
    await rig.step(0)
    gandi.faults.add("error", times=None, status=503)
    for _ in range(6):
        await rig.step(10 * MINUTE)
    assert await kinds_posted(rig) == ["unreachable"]
    [outage] = rig.standin.channel(CHANNEL)
    assert "gandi-test" in outage.text and "unreachable since" in outage.text

    calls_before = sum(gandi.faults.calls.values())
    await rig.step(1)  # put off: no calls until the next probe
    assert sum(gandi.faults.calls.values()) == calls_before
    gandi.faults.clear()
    for _ in range(3):
        await rig.step(10 * MINUTE)
    assert await kinds_posted(rig) == ["unreachable", "recovered"]
    assert len(rig.standin.channel(CHANNEL)) == 1  # the recovery answers in the outage's thread
    [recovered] = outage.replies
    assert "answers again" in recovered.text and recovered.broadcast
    rows = [await rig.row_by_ref("gandi", ref) for ref in refs]
    assert all(row is not None and row.consecutive_errors == 0 for row in rows)


async def test_many_alerts_at_once_become_one_summary_with_details_in_its_thread(
    rig: Rig,
) -> None:
    gandi = rig.sims["gandi"]
    refs = [gandi.add_operation(f"shop{i}.example", story="quick") for i in range(8)]
    for ref in refs:
        await rig.watch("gandi", ref)
    await rig.step(0)
    assert rig.standin.channel(CHANNEL) == []
    await rig.step(2 * MINUTE)  # all eight are DONE
    assert await kinds_posted(rig) == ["completed"] * 8
    [summary] = rig.standin.channel(CHANNEL)
    assert summary.text.startswith("8 transfer updates")
    details = " ".join(reply.text for reply in summary.replies)
    assert all(f"shop{i}.example" in details for i in range(8))
    assert len(summary.replies) < 8  # packed, not one post each
