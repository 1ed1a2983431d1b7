"""Reminders, escalation and deadlines on a stepped clock, through the real path: the
Hostway simulator and the Slack stand-in on loopback, a real database, the watcher's
poll pass, then its reminder pass, then the alert poster, as each tick runs them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.runtime.slack_messages import PostedMessage
from bot.settings import FollowupSettings
from bot.watcher.alerts import post_pending_alerts
from bot.watcher.digest import reserve_digest
from bot.watcher.poll import run_poll_pass
from bot.watcher.reminders import run_reminder_pass
from storage.alerts import pending_alerts
from storage.audit import list_audit
from storage.database import Database
from storage.followups import get_followup, snooze_followup
from storage.models import Alert, AlertState, TrackedTransfer
from storage.owners import take_transfer
from storage.transfers import unwatch_transfer
from tests.watcher.conftest import CHANNEL, Rig

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
FOLLOWUP_WORDS = ("Reminder", "Escalation", "hourglass")


@pytest.fixture
def followup_config() -> FollowupSettings:
    """Reminders 1 h after a transfer gets stuck, then every 2 h; escalations at 3 h (a
    reminder slot too: the escalation takes its place) and 8 h."""
    return FollowupSettings.model_validate(
        {
            "policies": {
                "default": {
                    "remind_after": "1h",
                    "remind_every": "2h",
                    "escalations": [
                        {"after": "3h", "mention": ["S0TRIAGE"]},
                        {"after": "8h", "mention": ["S0LEADS", "U0BOSS"]},
                    ],
                }
            },
        }
    )


def followups(rig: Rig, row: TrackedTransfer) -> list[PostedMessage]:
    assert row.id is not None
    thread = rig.standin.thread_of(row.id)
    if thread is None:
        return []
    return [m for m in thread.replies if m.text.startswith(("Reminder", "Escalation"))]


async def blocked_now(rig: Rig, domain: str, script: list[tuple[float, int]]) -> TrackedTransfer:
    ref = rig.sims["hostway"].add_transfer(domain, script=script)
    row = await rig.watch("hostway", ref)
    await rig.step(0, remind=True)
    return row


async def run_for(rig: Rig, row: TrackedTransfer, hours: float) -> list[tuple[float, str]]:
    """Step 10 minutes at a time; each follow-up posted, with the hours it came at."""
    seen: list[tuple[float, str]] = []
    steps = int(hours * 6)
    for i in range(1, steps + 1):
        before = len(followups(rig, row))
        await rig.step(10 * MINUTE, remind=True)
        for message in followups(rig, row)[before:]:
            seen.append((i / 6, message.text))
    return seen


async def test_each_reminder_and_escalation_level_fires_once_at_its_moment(rig: Rig) -> None:
    row = await blocked_now(rig, "ignored.example", [(0, 32)])  # watched while blocked

    seen = await run_for(rig, row, 9.5)

    moments = [(round(at, 2), text.split(":")[0]) for at, text in seen]
    assert moments == [
        (1.0, "Reminder"),
        (3.0, "Escalation 1"),  # slot 2's moment: the escalation only
        (5.0, "Reminder"),
        (7.0, "Reminder"),
        (8.0, "Escalation 2"),
        (9.0, "Reminder"),
    ]
    messages = followups(rig, row)
    assert "<!subteam^S0TRIAGE>" in _blocks_text(messages[1])
    assert "<!subteam^S0LEADS>" in _blocks_text(messages[4])
    assert "<@U0BOSS>" in _blocks_text(messages[4])
    assert [m.broadcast for m in messages] == [False, True, False, False, True, False]
    assert "Nobody has taken it on" in _blocks_text(messages[0])
    assert "Snooze until tomorrow" in _buttons(messages[0])
    async with rig.services.db.session() as session:
        alerts = list(await session.scalars(select(Alert).where(Alert.transfer_id == row.id)))
        audit = await list_audit(session, transfer_id=row.id)
    assert all(rig.standin.delivered()[a.id] == 1 for a in alerts if a.state == "posted")
    assert [e.verb for e in audit].count("reminded") == 6


async def test_an_owner_is_reminded_and_no_escalation_goes_out(rig: Rig) -> None:
    row = await blocked_now(rig, "owned.example", [(0, 32)])
    await run_for(rig, row, 1.0)
    assert len(followups(rig, row)) == 1
    assert row.id is not None
    async with rig.services.db.session() as session:
        await take_transfer(session, transfer_id=row.id, user_id="U0CAROL", now=rig.clock.now())

    seen = await run_for(rig, row, 9.0)

    assert [text.split(":")[0] for _, text in seen] == ["Reminder"] * 4  # 3 h, 5 h, 7 h, 9 h
    for message in followups(rig, row)[1:]:
        assert _blocks_text(message).startswith("<@U0CAROL>")
        assert "Release" in _buttons(message)


async def test_nothing_more_once_the_transfer_moves_or_finishes(rig: Rig) -> None:
    # blocked (a bad authInfo) 10 minutes in, moving again at 2 h 30, completed at 6 h
    script = [(0, 13), (10 * MINUTE, 32), (150 * MINUTE, 14), (6 * HOUR, 5)]
    row = await blocked_now(rig, "fixed.example", script)

    seen = await run_for(rig, row, 12)

    assert [round(at, 2) for at, _ in seen] == [pytest.approx(1 + 1 / 6, abs=0.2)]
    assert row.id is not None
    async with rig.services.db.session() as session:
        assert await get_followup(session, transfer_id=row.id) is None


async def test_a_reminder_reserved_before_the_transfer_moved_is_not_posted(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = await blocked_now(rig, "raced.example", [(0, 32), (70 * MINUTE, 14)])
    with monkeypatch.context() as patch:  # the poster is not started: the reminder waits
        patch.setattr(rig.services.alert_posting, "kick", lambda: None)
        await rig.step(HOUR, post=False, remind=True)
    async with rig.services.db.session() as session:
        [waiting] = [a for a in await pending_alerts(session) if a.kind == "reminder"]
    await rig.step(15 * MINUTE, post=False)  # the transfer moves (14) before it is posted

    await post_pending_alerts(rig.services, pace=0)
    await rig.services.drain(5)  # and any poster the poll kicked off

    assert followups(rig, row) == []
    async with rig.services.db.session() as session:
        done = await session.get(Alert, waiting.id, populate_existing=True)
    assert done is not None and done.state == AlertState.POSTED.value and done.ts == ""


async def test_snoozed_until_tomorrow_then_reminded_again(rig: Rig) -> None:
    row = await blocked_now(rig, "snoozed.example", [(0, 32)])
    await run_for(rig, row, 1.0)
    assert row.id is not None
    async with rig.services.db.session() as session:
        until = rig.clock.now() + timedelta(days=1)
        snoozed = await snooze_followup(
            session, transfer_id=row.id, user_id="U0DAVE", until=until, now=rig.clock.now()
        )
    assert snoozed is not None

    seen = await run_for(rig, row, 27)  # to 28 h in: snoozed until 25 h

    assert [round(at, 2) for at, _ in seen] == [26.0]  # the first slot after the snooze (27 h)
    async with rig.services.db.session() as session:
        verbs = [e.verb for e in await list_audit(session, transfer_id=row.id)]
    assert "snoozed" in verbs


async def test_no_reminder_for_a_transfer_no_longer_watched(rig: Rig) -> None:
    row = await blocked_now(rig, "dropped.example", [(0, 32)])
    assert row.id is not None
    async with rig.services.db.session() as session:
        await unwatch_transfer(session, transfer_id=row.id, now=rig.clock.now())

    assert await run_for(rig, row, 5) == []
    async with rig.services.db.session() as session:
        assert await get_followup(session, transfer_id=row.id) is None


async def test_the_deadline_shows_in_the_thread_and_its_warning_comes_before_it(
    rig: Rig,
) -> None:
    row = await blocked_now(rig, "voided.example", [(0, 13), (10 * MINUTE, 32)])
    await rig.step(10 * MINUTE, remind=True)
    assert row.id is not None
    header = rig.standin.thread_of(row.id)
    assert header is not None
    assert "Voided in 60 days" in _blocks_text(header)

    warnings: list[float] = []
    for day in range(1, 60):
        before = len(_deadline_posts(rig, row))
        await rig.step(DAY, remind=True)
        if len(_deadline_posts(rig, row)) > before:
            warnings.append(day)

    assert warnings == [57]  # three days before the 60 days Hostway holds it (seed 003)
    [warning] = _deadline_posts(rig, row)
    assert warning.broadcast
    assert "Voided in 3 days" in _blocks_text(warning)


def _deadline_posts(rig: Rig, row: TrackedTransfer) -> list[PostedMessage]:
    assert row.id is not None
    thread = rig.standin.thread_of(row.id)
    return [
        m for m in (thread.replies if thread else []) if "hourglass_flowing_sand" in _blocks_text(m)
    ]


def _blocks_text(message: PostedMessage) -> str:
    parts = []
    for block in message.blocks:
        if block.get("type") == "section":
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn":
                parts.append(element["text"])
    return "\n".join(parts)


def _buttons(message: PostedMessage) -> list[str]:
    return [
        element["text"]["text"]
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


async def test_two_replicas_post_each_reminder_and_escalation_once(
    rig: Rig, database_url: str
) -> None:
    hostway = rig.sims["hostway"]
    rows = [
        await rig.watch("hostway", hostway.add_transfer(f"r{i}.example", script=[(0, 32)]))
        for i in range(20)
    ]
    other = rig.make_services(Database(database_url), instance="watcher-test-2")
    try:
        await asyncio.gather(run_poll_pass(rig.services), run_poll_pass(other))
        for _ in range(24):  # 4 hours, 10 minutes at a time, both replicas ticking
            rig.advance(10 * MINUTE)
            await asyncio.gather(run_poll_pass(rig.services), run_poll_pass(other))
            await asyncio.gather(run_reminder_pass(rig.services), run_reminder_pass(other))
            await asyncio.gather(
                post_pending_alerts(rig.services, pace=0), post_pending_alerts(other, pace=0)
            )
        await rig.services.drain(10)
        await other.drain(10)
        await asyncio.gather(
            post_pending_alerts(rig.services, pace=0), post_pending_alerts(other, pace=0)
        )
    finally:
        await other.db.dispose()
    async with rig.services.db.session() as session:
        kinds = list(await session.scalars(select(Alert.kind).where(Alert.kind != "header")))
    assert sorted(kinds) == ["escalation"] * 20 + ["reminder"] * 20  # 1 h and 3 h, each
    delivered = rig.standin.delivered()
    assert len(delivered) == 40 and set(delivered.values()) == {1}
    for row in rows:
        assert [m.text.split(":")[0] for m in followups(rig, row)] == ["Reminder", "Escalation 1"]


async def test_the_digest_shows_each_deadline(rig: Rig) -> None:
    row = await blocked_now(rig, "digested.example", [(0, 32)])
    await rig.step(10 * DAY, remind=True)
    assert await reserve_digest(rig.services)
    await rig.post()

    [digest] = [m for m in rig.standin.channel(CHANNEL) if m.text.startswith("Daily digest")]
    line = next(part for part in _blocks_text(digest).split("\n") if row.short_id in part)
    assert "Voided in 50 days (<!date^" in line
