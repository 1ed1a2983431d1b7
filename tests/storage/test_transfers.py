"""Tracked transfers: snapshots round trip, watch and re-watch, find, list, supersede."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, timedelta

import pytest

from providers.base import Phase
from storage.database import Database
from storage.models import EventKind
from storage.snapshots import transfer_from_row
from storage.transfers import (
    SHORT_ID_ALPHABET,
    count_transfers,
    count_transfers_by_phase,
    find_transfers,
    get_transfer,
    get_transfer_by_short_id,
    list_events,
    list_transfers,
    mark_stall_alerted,
    record_superseded,
    set_alert_thread,
    unwatch_transfer,
    watch_transfer,
)
from tests.storage.samples import T0, cpanel_session, hostway_blocked


async def test_snapshot_round_trip_keeps_everything(db: Database) -> None:
    original = hostway_blocked()
    async with db.session() as session:
        watched = await watch_transfer(session, transfer=original, watched_by="U1", now=T0)
    async with db.session() as session:  # a new session reads from the database, not memory
        row = await get_transfer(session, transfer_id=watched.transfer.id)
        assert row is not None
        restored = transfer_from_row(row)
    assert restored == original
    assert restored.actions[0].inputs[0].secret is True
    assert restored.actions[0].inputs[0].max_length == 16
    assert restored.history[1].at == original.history[1].at
    assert restored.changed_at is not None and restored.changed_at.tzinfo is not None


async def test_times_come_back_aware_in_utc(db: Database) -> None:
    async with db.session() as session:
        watched = await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1", now=T0)
    async with db.session() as session:
        row = await get_transfer(session, transfer_id=watched.transfer.id)
    assert row is not None
    assert row.first_seen_at == T0 and row.first_seen_at.tzinfo == UTC
    assert row.changed_at == hostway_blocked().changed_at  # 09:30+02:00 is 07:30 UTC
    assert row.changed_at.tzinfo == UTC and row.changed_at.hour == 7
    assert row.next_poll_at == T0 + timedelta(seconds=300)


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.session() as session:
            await watch_transfer(
                session, transfer=hostway_blocked(), watched_by="U1", now=T0.replace(tzinfo=None)
            )


async def test_watching_again_updates_one_row_and_revives_an_unwatched_one(db: Database) -> None:
    async with db.session() as session:
        first = await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1", now=T0)
        again = await watch_transfer(session, transfer=hostway_blocked(), watched_by="U2", now=T0)
    assert first.created and not again.created and not again.revived
    assert again.transfer.id == first.transfer.id
    assert again.transfer.short_id == first.transfer.short_id

    async with db.session() as session:
        assert await unwatch_transfer(session, transfer_id=first.transfer.id, now=T0)
        assert not await unwatch_transfer(session, transfer_id=first.transfer.id, now=T0)
    async with db.session() as session:
        row = await get_transfer(session, transfer_id=first.transfer.id)
        assert row is not None and not row.watching and row.next_poll_at is None
        revived = await watch_transfer(
            session, transfer=hostway_blocked(), watched_by="U3", now=T0 + timedelta(hours=1)
        )
        kinds = [e.kind for e in await list_events(session, transfer_id=first.transfer.id)]
    assert revived.revived and revived.transfer.watching and revived.transfer.watched_by == "U3"
    assert kinds == [EventKind.WATCHED, EventKind.UNWATCHED, EventKind.WATCHED]
    async with db.session() as session:
        assert await count_transfers(session, watching=None) == 1


async def test_short_ids_are_short_unambiguous_and_unique(db: Database) -> None:
    async with db.session() as session:
        rows = [
            (
                await watch_transfer(session, transfer=cpanel_session(f"s{i}"), watched_by="U1")
            ).transfer
            for i in range(60)
        ]
    ids = [row.short_id for row in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(f"t-[{SHORT_ID_ALPHABET}]{{4}}", short) for short in ids)
    async with db.session() as session:
        found = await get_transfer_by_short_id(session, short_id=ids[7].upper())
    assert found is not None and found.ref == "s7"


async def test_find_returns_every_match_so_the_bot_can_ask(db: Database) -> None:
    async with db.session() as session:
        a = await watch_transfer(session, transfer=hostway_blocked("shop.example"), watched_by="U1")
        b = await watch_transfer(
            session, transfer=hostway_blocked("shop.example", account="hostway-eu"), watched_by="U1"
        )
        await watch_transfer(session, transfer=hostway_blocked("other.example"), watched_by="U1")
    async with db.session() as session:
        by_domain = await find_transfers(session, query="Shop.Example")
        by_short = await find_transfers(session, query=a.transfer.short_id)
        by_ref = await find_transfers(session, query="100234/other.example")
        in_account = await find_transfers(session, query="shop.example", account="hostway-eu")
        nothing = await find_transfers(session, query="missing.example")
    assert {t.id for t in by_domain} == {a.transfer.id, b.transfer.id}
    assert [t.id for t in by_short] == [a.transfer.id]
    assert [t.subject for t in by_ref] == ["other.example"]
    assert [t.id for t in in_account] == [b.transfer.id]
    assert nothing == []


async def test_list_filters_and_pages_newest_change_first(db: Database) -> None:
    async with db.session() as session:
        for i in range(5):
            snap = cpanel_session(f"s{i}", phase=Phase.PAUSED if i % 2 else Phase.ACTIVE)
            snap = replace(snap, changed_at=T0 + timedelta(minutes=i))
            await watch_transfer(session, transfer=snap, watched_by="U1", now=T0)
        await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1", now=T0)
    async with db.session() as session:
        cpanel = await list_transfers(session, provider="cpanel", limit=3)
        page_two = await list_transfers(session, provider="cpanel", limit=3, offset=3)
        paused = await list_transfers(session, phase=Phase.PAUSED)
        blocked = await list_transfers(session, provider="hostway", phase="blocked")
        total = await count_transfers(session, provider="cpanel")
    assert [t.ref for t in cpanel] == ["s4", "s3", "s2"]
    assert [t.ref for t in page_two] == ["s1", "s0"]
    assert [t.ref for t in paused] == ["s3", "s1"]
    assert [t.ref for t in blocked] == ["100234/example.com"]
    assert total == 5


async def test_phases_are_counted_for_the_watched_transfers_only(db: Database) -> None:
    async with db.session() as session:
        for i in range(3):
            snap = cpanel_session(f"s{i}", phase=Phase.PAUSED if i else Phase.ACTIVE)
            await watch_transfer(session, transfer=snap, watched_by="U1", now=T0)
        watched = await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1", now=T0)
        assert watched.transfer.id is not None
        await unwatch_transfer(session, transfer_id=watched.transfer.id, now=T0)
    async with db.session() as session:
        counts = await count_transfers_by_phase(session)
        everything = await count_transfers_by_phase(session, watching=None)
    assert counts == {"active": 1, "paused": 2}
    assert everything == {"active": 1, "paused": 2, "blocked": 1}


async def test_superseded_transfer_hands_over_to_the_new_order(db: Database) -> None:
    async with db.session() as session:
        old = (await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")).transfer
        assert await set_alert_thread(session, transfer_id=old.id, channel="C1", ts="111.1")
        assert not await set_alert_thread(session, transfer_id=old.id, channel="C1", ts="222.2")
    async with db.session() as session:
        new = await record_superseded(session, transfer_id=old.id, new_ref="987654", now=T0)
    assert new is not None
    async with db.session() as session:
        old_row = await get_transfer(session, transfer_id=old.id)
        new_row = await get_transfer(session, transfer_id=new.id)
        old_events = await list_events(session, transfer_id=old.id)
    assert old_row is not None and new_row is not None
    assert old_row.superseded_by_id == new_row.id and new_row.supersedes_id == old_row.id
    assert not old_row.watching and new_row.watching and new_row.next_poll_at == T0
    assert (new_row.alert_channel, new_row.alert_ts) == ("C1", "111.1")  # one thread
    assert new_row.subject == old_row.subject and new_row.account == old_row.account
    assert old_events[-1].kind == EventKind.SUPERSEDED and "987654" in old_events[-1].message


async def test_a_stall_is_marked_once_per_raw_status(db: Database) -> None:
    async with db.session() as session:
        row = (await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")).transfer
        assert await mark_stall_alerted(session, transfer_id=row.id, raw_code="7")
        assert not await mark_stall_alerted(session, transfer_id=row.id, raw_code="7")
        assert await mark_stall_alerted(session, transfer_id=row.id, raw_code="9")
