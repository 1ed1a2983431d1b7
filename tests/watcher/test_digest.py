"""The daily digest at a local time in the team's zone, stepped through a daylight-saving
change on the rig's clock: posted at that local time every day, once a day, however many
watchers ask; and it leads with what is stuck and nobody owns."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.settings import WatcherSettings
from bot.watcher.digest import digest_day_due
from bot.watcher.schedule import Watcher
from storage.database import Database
from storage.owners import take_transfer
from tests.watcher.conftest import CHANNEL, Rig, watcher_settings

PARIS = ZoneInfo("Europe/Paris")
STEP = 300.0  # the watchers look every five minutes of the rig's clock
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@pytest.fixture
def watcher_config() -> WatcherSettings:
    return watcher_settings(digest_time="09:00", digest_timezone="Europe/Paris")


def next_change(after: datetime) -> datetime:
    """The first whole UTC hour after ``after`` at which Paris's offset from UTC changes."""
    at = after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    offset = at.astimezone(PARIS).utcoffset()
    while at.astimezone(PARIS).utcoffset() == offset:
        at += timedelta(hours=1)
    return at


async def test_the_digest_follows_the_local_clock_across_a_dst_change_once_a_day(
    rig: Rig, db: Database
) -> None:
    change = next_change(rig.clock.now() + timedelta(days=3))
    start = (change - timedelta(days=2)).astimezone(PARIS)
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)  # local midnight
    rig.advance((start - rig.clock.now()).total_seconds())
    hostway = rig.sims["hostway"]
    await rig.watch("hostway", hostway.add_transfer("digest.example", age=3 * HOUR))
    first = Watcher(rig.services)
    second = Watcher(rig.make_services(db, instance="watcher-test-2"))  # another replica
    posted: list[datetime] = []
    for _ in range(int(4 * DAY / STEP)):
        before = len(rig.standin.channel(CHANNEL))
        rig.advance(STEP)
        await asyncio.gather(first.digest(), second.digest())
        if (step := rig.clock.now()).astimezone(PARIS).hour == 15:
            await Watcher(rig.services).digest()  # a restart the same afternoon: no second one
        for services in (rig.services, *rig.extra):
            await services.drain(5)  # the poster each reservation kicked
        await rig.post()
        posted += [step] * (len(rig.standin.channel(CHANNEL)) - before)

    local = [at.astimezone(PARIS) for at in posted]
    assert [at.time() for at in local] == [time(9, 0)] * 4  # 09:00 in Paris, each day
    days = [at.date() for at in local]
    assert days == [start.date() + timedelta(days=n) for n in range(4)]  # once a day
    before_change = {at.utcoffset() for at in local if at < change}
    after_change = {at.utcoffset() for at in local if at > change}
    assert len(before_change) == len(after_change) == 1
    assert before_change != after_change  # the UTC hour moved; the local hour did not
    digests = rig.standin.channel(CHANNEL)
    assert all(d.text.startswith("Daily digest: 1 transfers in flight") for d in digests)


def test_a_time_the_change_skips_is_due_when_the_clock_has_passed_it() -> None:
    change = next_change(datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC")))  # spring: 02:00 -> 03:00
    assert change.astimezone(PARIS).hour == 3
    gap = time(2, 30)
    just_before = change - timedelta(minutes=1)
    assert digest_day_due(just_before, gap, PARIS) is None  # 01:59 local: not yet
    assert digest_day_due(change + timedelta(minutes=29), gap, PARIS) is None  # 03:29
    day = digest_day_due(change + timedelta(minutes=30), gap, PARIS)  # 03:30
    assert day == change.astimezone(PARIS).date()


async def test_the_digest_leads_with_what_is_stuck_and_nobody_owns(rig: Rig) -> None:
    hostway = rig.sims["hostway"]
    rows = {}
    for name in ("taken.example", "orphan.example"):
        ref = hostway.add_transfer(name, script="bad_auth", age=40 * MINUTE)
        rows[name] = await rig.watch("hostway", ref)
    moving = hostway.add_transfer("moving.example", age=3 * HOUR)
    await rig.watch("hostway", moving)
    await rig.step(0)
    await rig.step(25 * MINUTE)  # the two bad_auth ones are blocked now
    async with rig.services.db.session() as session:
        taken = rows["taken.example"].id
        assert taken is not None
        await take_transfer(session, transfer_id=taken, user_id="U0BOB", now=rig.clock.now())

    settings = rig.services.settings.watcher
    local = rig.clock.now().astimezone(PARIS)
    nine = datetime.combine(local.date() + timedelta(days=1), time(9, 0), tzinfo=PARIS)
    rig.advance((nine - rig.clock.now()).total_seconds())
    assert digest_day_due(rig.clock.now(), time(9, 0), settings.digest_zone) == nine.date()
    await Watcher(rig.services).digest()
    await rig.post()

    [digest] = [m for m in rig.standin.channel(CHANNEL) if m.text.startswith("Daily digest")]
    assert digest.text.endswith("; 1 stuck with no owner")
    texts = [block["text"]["text"] for block in digest.blocks if block["type"] == "section"]
    assert texts[0].startswith("*Daily digest: 3 transfers in flight*")
    unowned, rest = texts[1], texts[2]
    assert unowned.startswith("*Stuck, and nobody has taken it on (1)*")
    assert "orphan.example" in unowned and "taken.example" not in unowned
    assert rest.startswith("*In flight*")
    assert rest.index("taken.example") < rest.index("moving.example")  # stuck ones first
    assert "owned by <@U0BOB>" in rest
    assert "Due soon" not in str(digest.blocks)  # no deadlines yet: nothing made up
