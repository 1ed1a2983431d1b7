"""OpenSRS event notifications drive the watcher: heard within one event-poll interval,
each alert once whatever the feed repeats or reorders, replicas read it once, and a failed
feed falls back to polling and recovers, one message each. Stepped clock throughout."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from bot.watcher.feeds import read_change_feeds
from bot.watcher.poll import run_poll_pass
from providers.simulators.opensrs import OpenSRSSimulator
from storage.database import Database
from storage.models import AlertState
from tests.reliability.processes import alerts
from tests.watcher.conftest import CHANNEL, Rig

TICK = 5.0
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
EVENT_POLL = 60  # the account's event_poll_seconds (the default)
# past the first safety-net poll (at most a day after the first), off the feed's minute
DECLINES_AT = 30 * HOUR + 17
DECLINES = ((0, "pending_owner", ""), (DECLINES_AT, "cancelled", "Registrant did not approve"))
MOVES = (
    (0, "pending_owner", ""),
    (10 * MINUTE, "pending_registry", ""),
    (20 * MINUTE, "completed", ""),
)


def with_events(rig: Rig, **fields: object) -> OpenSRSSimulator:
    """Turn the OpenSRS account's change feed on (settings and simulator alike)."""
    name = rig.account("opensrs")
    accounts = tuple(
        a.model_copy(update={"events": True, **fields}) if a.name == name else a
        for a in rig.services.settings.accounts
    )
    rig.services.settings = rig.services.settings.model_copy(update={"accounts": accounts})
    sim: OpenSRSSimulator = rig.sims["opensrs"]
    sim.events_enabled = True
    return sim


async def tick(rig: Rig, seconds: float = TICK) -> None:
    """What the watcher's tick does: due feeds, a poll pass, then posting."""
    rig.advance(seconds)
    await read_change_feeds(rig.services)
    await rig.poll()
    await rig.post()


async def run_for(rig: Rig, seconds: float, step: float = TICK) -> None:
    """Ticks of ``step`` seconds (the last one shorter) for ``seconds`` in all."""
    left = seconds
    while left > 0:
        await tick(rig, min(step, left))
        left -= step


async def posted_kinds(rig: Rig) -> Counter[str]:
    return Counter(a.kind for a in await alerts(rig.services) if a.state == AlertState.POSTED.value)


async def test_a_status_change_reaches_the_channel_within_one_event_poll_interval(rig: Rig) -> None:
    sim = with_events(rig)
    ref = sim.add_order("declines.example", script=DECLINES)
    row = await rig.watch("opensrs", ref)
    await tick(rig, 0)  # the feed is read (and trusted), then the first poll
    first = await rig.row(row.id or 0)
    assert first.next_poll_at is not None
    assert first.next_poll_at - rig.clock.now() > timedelta(hours=20)  # a safety-net wait
    checks = sim.faults.calls["CHECK_TRANSFER"]

    await run_for(rig, 30 * HOUR - 2 * MINUTE, step=HOUR / 2)
    assert not await posted_kinds(rig)
    changed_at = sim.orders[ref].history[0][0] + timedelta(seconds=DECLINES_AT)
    heard = None
    for _ in range(int((EVENT_POLL + 4 * MINUTE) / TICK)):
        await tick(rig)
        if await posted_kinds(rig):
            heard = rig.clock.now() - changed_at
            break
    assert heard is not None, "the change never reached the channel"
    print(f"heard {heard.total_seconds():.0f} s after the change")
    assert heard <= timedelta(seconds=EVENT_POLL + TICK)  # one event poll plus one tick
    assert await posted_kinds(rig) == {"blocked": 1}
    # a day and a quarter with the order waiting cost two reads of it, not dozens
    assert sim.faults.calls["CHECK_TRANSFER"] - checks <= 3
    assert not sim.events  # every event acknowledged


async def test_duplicate_reordered_and_unknown_events_post_nothing_twice(rig: Rig) -> None:
    sim = with_events(rig)
    refs = [sim.add_order(f"m{i}.example", script=MOVES) for i in range(3)]
    rows = [await rig.watch("opensrs", ref) for ref in refs]
    sim.event_faults = {"duplicate", "out_of_order", "unknown_order"}
    await run_for(rig, 35 * MINUTE, step=15)
    assert await posted_kinds(rig) == {"completed": 3}
    assert set(rig.standin.delivered().values()) == {1}
    for row in rows:
        assert (await rig.row(row.id or 0)).phase == "completed"
    assert not sim.events  # all acknowledged, the unknown order's too
    acks = Counter(sim.acked)
    assert set(acks.values()) == {1}  # each acknowledged once
    assert await rig.row_by_ref("opensrs", "999999999") is None  # nothing invented


async def test_an_event_for_an_untracked_transfer_in_imports_it_as_sync_would(rig: Rig) -> None:
    sim = with_events(rig)
    moving = sim.add_order("new-arrival.example", script=MOVES)
    done = sim.add_order("long-done.example", script="quick", age=DAY)
    await tick(rig, 0)
    imported = await rig.row_by_ref("opensrs", moving)
    assert imported is not None and imported.watched_by == "watcher"
    assert await rig.row_by_ref("opensrs", done) is None  # finished: sync leaves it too
    await run_for(rig, 35 * MINUTE, step=15)
    assert await posted_kinds(rig) == {"completed": 1}


async def test_a_backlog_of_more_than_a_page_drains_in_one_read(rig: Rig) -> None:
    sim = with_events(rig)
    refs = [sim.add_order(f"b{i}.example", script="waits_for_owner") for i in range(70)]
    for ref in refs[:10]:
        await rig.watch("opensrs", ref)
    assert len(sim.events) == 140  # 60 to import, 10 watched
    report = await read_change_feeds(rig.services)
    assert sim.faults.calls["POLL"] == 2 and not sim.events
    assert report.acked == 140 and report.imported == 60


async def test_an_empty_queue_is_a_working_feed(rig: Rig) -> None:
    sim = with_events(rig)
    ref = sim.add_order("quiet.example", script="waits_for_owner")
    await rig.watch("opensrs", ref)
    sim.event_faults = {"empty"}
    await run_for(rig, 10 * MINUTE, step=MINUTE)
    assert await posted_kinds(rig) == {}


async def test_a_failed_feed_falls_back_to_polling_and_recovers_with_one_message_each(
    rig: Rig,
) -> None:
    sim = with_events(rig)
    ref = sim.add_order("waiting.example", script="waits_for_owner")
    row = await rig.watch("opensrs", ref)
    await tick(rig, 0)
    assert (await rig.row(row.id or 0)).next_poll_at - rig.clock.now() > timedelta(hours=20)

    sim.events_enabled = False  # switched off in the Reseller Control Panel
    await run_for(rig, 10 * MINUTE, step=MINUTE)
    assert await posted_kinds(rig) == {"feed_down": 1}
    fallen = await rig.row(row.id or 0)
    assert fallen.next_poll_at - rig.clock.now() < timedelta(hours=6)  # adaptive again
    (down,) = [a for a in await alerts(rig.services) if a.kind == "feed_down"]
    assert "turned off" in (down.payload or {}).get("last_error", "")

    sim.events_enabled = True
    await run_for(rig, 5 * MINUTE, step=MINUTE)
    assert await posted_kinds(rig) == {"feed_down": 1, "feed_up": 1}
    [down_post] = rig.standin.channel(CHANNEL)  # one message, its recovery in its thread
    assert "change feed" in down_post.text.lower() and "opensrs-test" in down_post.text
    [up_post] = down_post.replies
    assert "answers again" in up_post.text
    await run_for(rig, 3 * MINUTE, step=MINUTE)
    assert (await rig.row(row.id or 0)).next_poll_at - rig.clock.now() > timedelta(hours=20)


async def test_two_replicas_read_the_feed_once(rig: Rig, database_url: str) -> None:
    sim = with_events(rig)
    refs = [sim.add_order(f"r{i}.example", script=MOVES) for i in range(6)]
    for ref in refs:
        await rig.watch("opensrs", ref)
    other = rig.make_services(Database(database_url), instance="watcher-test-2")
    rounds = 0
    for _ in range(30):
        rig.advance(MINUTE)
        polls = sim.faults.calls["POLL"]
        one, two = await asyncio.gather(read_change_feeds(rig.services), read_change_feeds(other))
        assert len(one.read) + len(two.read) == 1  # one replica read it this minute
        assert sim.faults.calls["POLL"] - polls == 1
        rounds += 1
        await asyncio.gather(rig.poll(), run_poll_pass(other))
    await rig.post()
    assert not sim.events
    assert set(Counter(sim.acked).values()) == {1}
    assert sim.faults.calls["ACK"] == len(sim.acked)  # no event acknowledged twice
    assert await posted_kinds(rig) == {"completed": 6}
    assert rounds == 30


async def test_a_silent_feed_is_caught_by_the_safety_net_and_recovers_when_it_speaks(
    rig: Rig,
) -> None:
    sim = with_events(rig, safety_poll_seconds=3600)
    script = ((0, "pending_owner", ""), (8000, "pending_admin", ""), (DAY, "pending_registry", ""))
    ref = sim.add_order("unheard.example", script=script)
    row = await rig.watch("opensrs", ref)
    await tick(rig, 0)
    sim.event_faults = {"empty"}  # it answers, and says nothing
    await run_for(rig, 4 * HOUR, step=MINUTE)
    assert (await rig.row(row.id or 0)).raw_code == "pending_admin"  # the safety net saw it
    assert await posted_kinds(rig) == {"feed_down": 1}
    [down] = rig.standin.channel(CHANNEL)
    assert "silent" in down.text and "unheard.example" in str(down.blocks)
    assert (await rig.row(row.id or 0)).next_poll_at - rig.clock.now() < timedelta(hours=1)

    await run_for(rig, HOUR, step=MINUTE)
    assert await posted_kinds(rig) == {"feed_down": 1}  # still silent: said once
    sim.event_faults = set()  # it speaks again: the events it held come
    await run_for(rig, 3 * MINUTE, step=MINUTE)
    assert await posted_kinds(rig) == {"feed_down": 1, "feed_up": 1}
    [up] = rig.standin.channel(CHANNEL)[0].replies
    assert "answers again" in up.text
