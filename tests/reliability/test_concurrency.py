"""Races through the real request path: many clicks at once, two replicas, approval vs expiry.

Every decision on a request is a compare-and-set in the database; these tests race it the
ways a deployment does: fifty approvers clicking at once, one click delivered to two
replicas (two Bolt apps, two Services, one database; SQLite and PostgreSQL), and an
approval landing in the same instant as the sweep that expires the request.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.actions.approvals import expire_due_requests
from bot.runtime.signed import find_button
from storage.audit import list_audit
from storage.migrate import upgrade_database
from storage.models import RequestState
from storage.requests import get_request, list_requests
from tests.reliability.replicas import replica
from tests.reliability.results import record
from tests.slack.conftest import ALICE, BOB, CAROL, CHANNEL, ERIN, Bot, a_resend_redelivered

logger = logging.getLogger(__name__)

ABORT = "abort_transfer_session"
APPROVERS = (BOB, CAROL, ERIN)
RACES = 12  # approvals racing their expiry, per backend


def aborts(bot: Bot) -> int:
    return bot.sims["cpanel"].faults.calls[ABORT]


async def ask_to_cancel(bot: Bot) -> tuple[int, dict[str, Any]]:
    """A running cPanel session, watched, and ALICE's request to cancel it: (id, message)."""
    session = bot.sims["cpanel"].add_session("RUNNING", accounts=["shop"])
    short_id = await bot.watch("whm-east", session)
    await bot.command(f"cancel {short_id}", user=ALICE)
    async with bot.services.db.session() as db:
        newest = max(await list_requests(db, limit=1000), key=lambda r: r.id or 0)
    assert newest.id is not None and newest.state == RequestState.PENDING.value
    return newest.id, bot.as_seen(bot.request_message())


async def verbs_by_request(bot: Bot) -> dict[int, Counter[str]]:
    async with bot.services.db.session() as session:
        entries = await list_audit(session, limit=10_000)
    found: dict[int, Counter[str]] = {}
    for entry in entries:
        if entry.request_id is not None:
            found.setdefault(entry.request_id, Counter())[entry.verb] += 1
    return found


async def ran_once(bot: Bot, request_id: int, what: str, *, note: str) -> None:
    """Record in the results table how many times the provider received the cancel for
    ``what``; it must be once, with one request, one approval and one run in the audit."""
    record("load held", f"{what}: actions run", aborts(bot), "actions", note=note)
    assert aborts(bot) == 1
    assert verbs_of(await verbs_by_request(bot), request_id) == {
        "requested": 1,
        "approved": 1,
        "ran": 1,
    }


@pytest.fixture
async def replicas(bot: Bot, database_url: str) -> AsyncIterator[tuple[Bot, Bot]]:
    """Two replicas of the bot on one database (SQLite, and PostgreSQL when marked)."""
    await upgrade_database(database_url)
    async with (
        replica(bot, database_url, name="replica-a") as first,
        replica(bot, database_url, name="replica-b") as second,
    ):
        yield first, second


def backend(database_url: str) -> str:
    return "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"


async def test_fifty_concurrent_approve_clicks_run_the_action_once(bot: Bot) -> None:
    request_id, message = await ask_to_cancel(bot)
    clicks = [
        bot.slack.click("Approve", user=APPROVERS[n % 3], message=message, channel=CHANNEL)
        for n in range(50)
    ]
    responses = await asyncio.gather(*clicks)
    await bot.settle()
    assert [r.status_code for r in responses] == [200] * 50
    await ran_once(
        bot,
        request_id,
        "50 concurrent Approve clicks on one request",
        note="Clicks sent at once through the real request path; the provider's received "
        "action calls counted (must be 1), with one approval, one run and one outcome reply.",
    )
    told = [a.text for user in APPROVERS for a in bot.answers_to(user)]
    assert len(told) == 50
    assert sum("done" in text and "already" not in text for text in told) == 1
    shown = bot.request_message()
    assert len(shown.replies) == 1 and "Done" in bot.text_of(shown)
    async with bot.services.db.session() as session:
        done = await get_request(session, request_id=request_id)
    assert done is not None and done.state == RequestState.DONE.value


async def test_the_same_click_delivered_to_two_replicas_runs_once(
    replicas: tuple[Bot, Bot], database_url: str
) -> None:
    first, second = replicas
    request_id, message = await ask_to_cancel(first)
    click = first.slack.click_body(
        find_button(message["blocks"], "Approve"), user=BOB, message=message, channel=CHANNEL
    )
    sends = [r.slack.post(click) for _ in range(10) for r in (first, second)]
    responses = await asyncio.gather(*sends)
    await asyncio.gather(first.settle(), second.settle())
    assert [r.status_code for r in responses] == [200] * 20
    await ran_once(
        first,
        request_id,
        f"one Approve click sent 10 times to each of two replicas ({backend(database_url)})",
        note="Two Bolt apps with their own Services on one database, the same signed click "
        "posted to both at once; the provider's received action calls counted (must be 1).",
    )
    assert len(first.request_message().replies) == 1

    # a command redelivered by Slack to the other replica: the database tells it a repeat
    await a_resend_redelivered(first, to=second)


async def test_an_approval_racing_its_expiry_is_approved_or_expired_never_both(
    replicas: tuple[Bot, Bot], database_url: str
) -> None:
    """Replica A's clock is a second short of the expiry when BOB clicks; replica B's sweep
    runs a second past it, at the same moment (clocks skew between hosts)."""
    clicker, sweeper = replicas
    rng = random.Random(8)
    ids = []
    for race in range(RACES):
        base = {"hours": 2 * race}
        clicker.now.skipped = sweeper.now.skipped = timedelta(**base)
        request_id, message = await ask_to_cancel(clicker)
        ids.append(request_id)
        clicker.now.advance(minutes=30, seconds=-1)
        sweeper.now.advance(minutes=30, seconds=1)

        async def sweep(delay: float) -> None:
            await asyncio.sleep(delay)
            await expire_due_requests(sweeper.services)

        await asyncio.gather(
            clicker.slack.click("Approve", user=BOB, message=message, channel=CHANNEL),
            sweep(rng.uniform(0, 0.03)),
        )
        await asyncio.gather(clicker.settle(), sweeper.settle())

    verbs = await verbs_by_request(clicker)
    async with clicker.services.db.session() as session:
        states = {i: (await get_request(session, request_id=i)).state for i in ids}  # type: ignore[union-attr]
    ran = [i for i in ids if states[i] == RequestState.DONE.value]
    expired = [i for i in ids if states[i] == RequestState.EXPIRED.value]
    both = [i for i in ids if verbs[i]["expired"] and (verbs[i]["approved"] or verbs[i]["ran"])]
    name = f"approvals racing their expiry ({backend(database_url)})"
    note = (
        "Approve clicked on one replica as the other's sweep expired the request; each ended "
        "approved and run once, or expired with nothing run; never both."
    )
    record("load held", f"{name}: approved and run", len(ran), "requests", note=note)
    record("load held", f"{name}: expired", len(expired), "requests", note=note)
    record("load held", f"{name}: both", len(both), "requests", note=note)
    assert sorted(ran + expired) == sorted(ids)
    assert both == []
    assert aborts(clicker) == len(ran)
    for request_id in ran:
        assert verbs[request_id]["ran"] == 1 and verbs[request_id]["approved"] == 1
    told = [a.text for a in clicker.answers_to(BOB)]
    assert sum("expired" in text for text in told) == len(expired)


def verbs_of(verbs: dict[int, Counter[str]], request_id: int) -> dict[str, int]:
    return dict(verbs.get(request_id, Counter()))
