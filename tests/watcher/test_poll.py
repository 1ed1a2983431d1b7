"""Poll passes: errors cost one transfer, leases keep passes apart, resubmissions are followed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from bot.watcher.intervals import PollPolicy
from bot.watcher.observe import observe_transfer
from bot.watcher.outages import AccountWatch
from bot.watcher.poll import PassReport
from bot.watcher.recorder import PollResult, Recorder
from providers.base import Action
from storage.models import EventKind, TrackedTransfer
from storage.polling import claim_due_transfers, schedule_poll_now
from storage.transfers import list_events, record_superseded
from tests.watcher.conftest import CHANNEL, Rig

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


async def test_a_provider_error_on_one_transfer_costs_only_that_transfer(rig: Rig) -> None:
    hostway = rig.sims["hostway"]
    refs = [hostway.add_transfer(f"d{i}.example", age=3 * HOUR) for i in range(4)]
    rows = [await rig.watch("hostway", ref) for ref in refs]
    del hostway.transfers["d2.example"]  # the order is gone at Hostway: 404
    report = await rig.step(0)
    assert (report.polled, report.errors) == (3, 1)
    gone = await rig.row(rows[2].id)
    assert gone.consecutive_errors == 1 and "no" in (gone.last_error or "").lower()
    assert gone.next_poll_at is not None and gone.lease_owner is None
    fine = await rig.row(rows[0].id)
    assert fine.consecutive_errors == 0 and fine.last_polled_at == rig.clock.now()
    async with rig.services.db.session() as session:
        events = await list_events(session, transfer_id=rows[2].id)
    assert [e.kind for e in events][-1] == EventKind.ERROR

    delays = []
    for _ in range(4):  # the failing one backs off; no account outage for one bad transfer
        rig.advance((gone.next_poll_at - rig.clock.now()).total_seconds())
        await rig.poll()
        after = await rig.row(rows[2].id)
        delays.append((after.next_poll_at - rig.clock.now()).total_seconds())
        gone = after
    assert delays == sorted(delays) and delays[-1] > delays[0]
    await rig.post()
    assert rig.standin.channel(CHANNEL) == []


async def test_a_garbled_reply_fails_one_poll_and_the_next_one_recovers(rig: Rig) -> None:
    gandi = rig.sims["gandi"]
    refs = [gandi.add_operation(f"g{i}.example", story="stays_waiting") for i in range(3)]
    for ref in refs:
        await rig.watch("gandi", ref)
    gandi.faults.add("malformed", operation="operation.info", times=1)
    report = await rig.step(0)
    assert (report.polled, report.errors) == (2, 1)
    report = await rig.step(2 * MINUTE)
    assert (report.polled, report.errors) == (3, 0)


async def test_a_transfer_leased_by_another_poller_is_left_alone(rig: Rig) -> None:
    ref = rig.sims["hostway"].add_transfer("leased.example", age=3 * HOUR)
    row = await rig.watch("hostway", ref)
    async with rig.services.db.session() as session:
        [taken] = await claim_due_transfers(
            session, owner="someone-else", now=rig.clock.now(), limit=5, lease_seconds=60
        )
    assert (await rig.poll()).claimed == 0
    rig.advance(61)  # the other poller died: its lease runs out
    assert (await rig.poll()).polled == 1 and taken.id == row.id


async def test_limit_and_schedule_now(rig: Rig) -> None:
    hostway = rig.sims["hostway"]
    rows = [
        await rig.watch("hostway", hostway.add_transfer(f"l{i}.example", age=3 * HOUR))
        for i in range(5)
    ]
    assert (await run_limited(rig, 2)).claimed == 2
    assert (await rig.poll()).claimed == 3
    assert (await rig.poll()).claimed == 0
    async with rig.services.db.session() as session:  # a person asked: due at once
        await schedule_poll_now(session, transfer_id=rows[0].id, now=rig.clock.now())
    assert (await rig.poll()).claimed == 1


async def run_limited(rig: Rig, limit: int):  # type: ignore[no-untyped-def]
    from bot.watcher.poll import run_poll_pass

    return await run_poll_pass(rig.services, limit=limit)


async def test_a_resubmission_by_the_bot_is_followed_with_the_link_kept(rig: Rig) -> None:
    opensrs = rig.sims["opensrs"]
    old_ref = opensrs.add_order("again.example", script="bad_auth", age=3 * HOUR)
    old = await rig.watch("opensrs", old_ref)
    await rig.step(0)
    assert (await rig.row(old.id)).phase == "blocked"
    result = await rig.services.registry.get(rig.account("opensrs")).perform(old_ref, Action.RETRY)
    assert result.new_ref
    async with rig.services.db.session() as session:  # what the bot does after the action
        new = await record_superseded(
            session, transfer_id=old.id, new_ref=result.new_ref, now=rig.clock.now()
        )
    assert new is not None
    report = await rig.step(1)
    assert report.polled == 1  # the new order, not the old one
    followed = await rig.row(new.id)
    assert followed.last_polled_at == rig.clock.now() and followed.phase == "pending"
    assert followed.supersedes_id == old.id and (await rig.row(old.id)).superseded_by_id == new.id
    for _ in range(3):
        await rig.step(DAY)
    assert (await rig.row(old.id)).last_polled_at < (await rig.row(new.id)).last_polled_at


async def test_a_resubmission_made_at_the_provider_is_found_and_followed(rig: Rig) -> None:
    opensrs = rig.sims["opensrs"]
    old_ref = opensrs.add_order("outside.example", script="bad_auth", age=3 * HOUR)
    old = await rig.watch("opensrs", old_ref)
    await rig.step(0)
    new_ref = opensrs.resubmit(old_ref)  # someone used the OpenSRS control panel
    await rig.step(HOUR)
    new = await rig.row_by_ref("opensrs", new_ref)
    assert new is not None and new.watching and new.supersedes_id == old.id
    before = await rig.row(old.id)
    assert not before.watching and before.superseded_by_id == new.id
    async with rig.services.db.session() as session:
        events = await list_events(session, transfer_id=old.id)
    assert events[-1].kind == EventKind.SUPERSEDED and new_ref in events[-1].message
    await rig.step(1)
    assert (await rig.row(new.id)).last_polled_at == rig.clock.now()


async def test_intervals_follow_the_status(rig: Rig) -> None:
    gandi = rig.sims["gandi"]
    running = await rig.watch("gandi", gandi.add_operation("run.example", story="completes"))
    rig.advance(3700)  # WAIT for an hour, then RUN
    waiting = await rig.watch(
        "gandi", gandi.add_operation("wait.example", story="stays_waiting", age=60)
    )
    await rig.step(0)
    now = rig.clock.now()
    run_row, wait_row = await rig.row(running.id), await rig.row(waiting.id)
    assert run_row.raw_code == "RUN" and wait_row.raw_code == "WAIT"
    assert run_row.next_poll_at - now <= timedelta(seconds=15)
    assert wait_row.next_poll_at - now > timedelta(seconds=50)
    await rig.step(10 * MINUTE)  # DONE
    assert (await rig.row(running.id)).next_poll_at is None


async def test_a_change_a_person_saw_first_still_alerts_exactly_once(rig: Rig) -> None:
    ref = rig.sims["hostway"].add_transfer("seen.example", script="bad_auth", age=40 * MINUTE)
    row = await rig.watch("hostway", ref)
    await rig.step(0)
    rig.advance(25 * MINUTE)  # it blocks; a person asks for its status before the watcher
    snapshot = await rig.services.registry.get(rig.account("hostway")).get_transfer(ref)
    seen = await observe_transfer(
        rig.services, transfer_id=row.id, snapshot=snapshot, actor="U0ALICE"
    )
    assert seen is not None and seen.status_changed and seen.phase_changed
    assert len(seen.alerts) == 1 and seen.next_poll_at is not None
    await rig.services.drain(5)  # the alert was kicked off by the observation
    for _ in range(3):
        await rig.step(HOUR)  # the watcher sees the same status: nothing new
    [thread] = rig.standin.channel(CHANNEL)
    assert len(thread.replies) == 1 and "is stuck" in thread.replies[0].text
    async with rig.services.db.session() as session:
        events = await list_events(session, transfer_id=row.id)
    assert [e.phase for e in events if e.kind == EventKind.OBSERVED].count("blocked") == 1


@pytest.mark.parametrize("changed_meanwhile", [False, True])
async def test_quiet_polls_are_all_written_even_if_one_row_changed_meanwhile(
    rig: Rig, changed_meanwhile: bool
) -> None:
    hostway = rig.sims["hostway"]
    refs = [hostway.add_transfer(f"q{i}.example", age=3 * HOUR) for i in range(3)]
    rows = [await rig.watch("hostway", ref) for ref in refs]
    await rig.step(0)
    rig.advance(MINUTE)
    services, now = rig.services, rig.clock.now()
    async with services.db.session() as session:
        for row in rows:
            await schedule_poll_now(session, transfer_id=row.id, now=now)
        claimed = await claim_due_transfers(
            session, owner=services.instance, now=now, limit=10, lease_seconds=60
        )
    if changed_meanwhile:  # another writer (a person's /transfer status) got there first
        async with services.db.session() as session:
            await session.execute(
                update(TrackedTransfer)
                .where(col(TrackedTransfer.id) == rows[1].id)
                .values(version=col(TrackedTransfer.version) + 1)
            )
    assert len(claimed) == 3
    client = services.registry.get(rig.account("hostway"))
    results = [PollResult(row, snapshot=await client.get_transfer(row.ref)) for row in claimed]
    async with services.db.session() as session:
        watch = await AccountWatch.load(
            session, threshold=3, policy=PollPolicy.from_settings(services.settings.watcher)
        )
    report = PassReport(claimed=len(results))
    recorder = Recorder(services, owner=services.instance, watch=watch, report=report)
    for result in results:
        recorder.put(result)
    await recorder.close()
    assert (report.polled, report.changed, report.errors) == (3, 0, 0)
    for row in rows:
        after = await rig.row(row.id)
        assert after.lease_owner is None and after.last_polled_at == now
        assert after.next_poll_at is not None and after.next_poll_at > now
