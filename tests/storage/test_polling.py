"""The watcher's queries: leases that never overlap, observations that append events once."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import update

from providers.base import Phase, Transfer
from storage.database import Database
from storage.models import EventKind, TrackedTransfer
from storage.polling import (
    ClaimedTransfer,
    claim_due_transfers,
    record_observation,
    record_poll_error,
    release_transfer,
    schedule_poll_now,
)
from storage.transfers import (
    get_transfer,
    list_events,
    mark_stall_alerted,
    unwatch_transfer,
    watch_transfer,
)
from tests.storage.samples import T0, cpanel_session, hostway_blocked


async def _watch_many(db: Database, count: int, *, due: datetime = T0) -> list[int]:
    ids = []
    async with db.session() as session:
        for i in range(count):
            snapshot = cpanel_session(f"sess{i:04d}")
            watched = await watch_transfer(
                session, transfer=snapshot, watched_by="U1", now=T0, next_poll_at=due
            )
            assert watched.transfer.id is not None
            ids.append(watched.transfer.id)
    return ids


async def test_only_watched_unfinished_due_unleased_transfers_are_claimed(db: Database) -> None:
    async with db.session() as session:

        async def watch(snapshot: Transfer, due: datetime) -> TrackedTransfer:
            watched = await watch_transfer(
                session, transfer=snapshot, watched_by="U1", now=T0, next_poll_at=due
            )
            return watched.transfer

        await watch(cpanel_session("due"), T0)
        await watch(cpanel_session("later"), T0 + timedelta(minutes=5))
        await watch(cpanel_session("done", phase=Phase.COMPLETED, raw_code="COMPLETED"), T0)
        gone = await watch(cpanel_session("unwatched"), T0)
        await unwatch_transfer(session, transfer_id=gone.id, now=T0)
        await watch(cpanel_session("leased"), T0 - timedelta(minutes=1))  # the most overdue
        taken = await claim_due_transfers(session, owner="other", now=T0, limit=1, lease_seconds=60)
    assert [row.ref for row in taken] == ["leased"]
    async with db.session() as session:
        claimed = await claim_due_transfers(
            session, owner="me", now=T0 + timedelta(seconds=1), limit=10, lease_seconds=60
        )
    assert [(row.ref, row.lease_owner) for row in claimed] == [("due", "me")]
    assert claimed[0].lease_expires_at == T0 + timedelta(seconds=61)


async def test_an_expired_lease_makes_a_transfer_claimable_again(db: Database) -> None:
    (transfer_id,) = await _watch_many(db, 1)
    async with db.session() as session:
        first = await claim_due_transfers(session, owner="a", now=T0, limit=5, lease_seconds=30)
    async with db.session() as session:
        during = await claim_due_transfers(
            session, owner="b", now=T0 + timedelta(seconds=29), limit=5, lease_seconds=30
        )
    async with db.session() as session:
        after = await claim_due_transfers(
            session, owner="b", now=T0 + timedelta(seconds=30), limit=5, lease_seconds=30
        )
    assert [r.id for r in first] == [transfer_id] and during == []
    assert [r.id for r in after] == [transfer_id] and after[0].lease_owner == "b"
    async with db.session() as session:  # "a" lost it: its release changes nothing
        assert not await release_transfer(
            session, transfer_id=transfer_id, owner="a", next_poll_at=T0 + timedelta(hours=1)
        )
        assert await release_transfer(
            session,
            transfer_id=transfer_id,
            owner="b",
            next_poll_at=T0 + timedelta(minutes=10),
            poll_interval_seconds=600,
        )
        row = await get_transfer(session, transfer_id=transfer_id)
    assert row is not None and row.lease_owner is None and row.poll_interval_seconds == 600
    assert row.next_poll_at == T0 + timedelta(minutes=10)


async def _claim_until_none_left(database: Database, owner: str, now: datetime) -> list[int]:
    got: list[int] = []
    while True:
        async with database.session() as session:
            batch = await claim_due_transfers(
                session, owner=owner, now=now, limit=7, lease_seconds=60
            )
        if not batch:
            return got
        got.extend(row.id for row in batch if row.id is not None)


async def test_two_concurrent_claimers_never_get_the_same_transfer(
    db: Database, database_url: str
) -> None:
    """Two engines (two connection pools) claim in small batches at the same time, repeatedly."""
    ids = await _watch_many(db, 240)
    other = Database(database_url)
    try:
        for round_ in range(4):
            now = T0 + timedelta(minutes=10 * round_)  # earlier leases (60 s) have expired
            results = await asyncio.gather(
                _claim_until_none_left(db, f"a{round_}", now),
                _claim_until_none_left(other, f"b{round_}", now),
                _claim_until_none_left(db, f"c{round_}", now),
                _claim_until_none_left(other, f"d{round_}", now),
            )
            counts = Counter(i for claimed in results for i in claimed)
            assert counts.most_common(1)[0][1] == 1, "a transfer was claimed twice"
            assert set(counts) == set(ids)  # and none was left behind
    finally:
        await other.dispose()


async def test_schedule_now_makes_a_transfer_due(db: Database) -> None:
    (transfer_id,) = await _watch_many(db, 1, due=T0 + timedelta(hours=1))
    async with db.session() as session:
        assert (
            await claim_due_transfers(session, owner="a", now=T0, limit=5, lease_seconds=30) == []
        )
        assert await schedule_poll_now(session, transfer_id=transfer_id, now=T0)
        claimed = await claim_due_transfers(session, owner="a", now=T0, limit=5, lease_seconds=30)
    assert [row.id for row in claimed] == [transfer_id]


async def test_an_observation_appends_an_event_only_when_the_status_changes(db: Database) -> None:
    blocked = hostway_blocked()
    async with db.session() as session:
        row = (await watch_transfer(session, transfer=blocked, watched_by="U1", now=T0)).transfer
        version = row.version
        same = await record_observation(
            session, transfer_id=row.id, transfer=blocked, now=T0 + timedelta(minutes=5)
        )
    assert same is not None and not same.status_changed and same.event is None
    assert same.changed == frozenset() and same.transfer.version == version
    assert same.transfer.last_polled_at == T0 + timedelta(minutes=5)

    moving = replace(
        blocked, phase=Phase.ACTIVE, raw_code="2", raw_text="Pending registry", actions=()
    )
    async with db.session() as session:
        assert await mark_stall_alerted(session, transfer_id=row.id, raw_code="7")
        seen = await record_observation(
            session, transfer_id=row.id, transfer=moving, now=T0 + timedelta(minutes=10)
        )
        events = await list_events(session, transfer_id=row.id)
    assert seen is not None and seen.status_changed and seen.phase_changed
    assert seen.previous_phase is Phase.BLOCKED and seen.previous_raw_code == "7"
    assert seen.changed == {"phase", "raw_code", "raw_text", "actions"}
    assert seen.transfer.version == version + 1 and seen.transfer.actions == []
    assert seen.transfer.stalled_alerted_for is None  # a new status may stall anew
    assert [(e.kind, e.phase, e.raw_code) for e in events] == [
        (EventKind.WATCHED, "blocked", "7"),
        (EventKind.OBSERVED, "active", "2"),
    ]


async def test_concurrent_writers_of_the_same_change_append_one_event(
    db: Database, database_url: str
) -> None:
    blocked = hostway_blocked()
    async with db.session() as session:
        row = (await watch_transfer(session, transfer=blocked, watched_by="U1", now=T0)).transfer
    done = replace(blocked, phase=Phase.COMPLETED, raw_code="10", raw_text="Completed", actions=())
    other = Database(database_url)
    try:

        async def observe(database: Database) -> bool:
            async with database.session() as session:
                seen = await record_observation(session, transfer_id=row.id, transfer=done)
                return bool(seen and seen.status_changed)

        results = await asyncio.gather(*(observe(d) for d in (db, other, db, other, db)))
    finally:
        await other.dispose()
    async with db.session() as session:
        events = await list_events(session, transfer_id=row.id)
    assert sum(results) == 1
    assert [e.kind for e in events] == [EventKind.WATCHED, EventKind.OBSERVED]


async def test_poll_errors_count_up_and_log_each_new_sentence_once(db: Database) -> None:
    async with db.session() as session:
        row = (await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")).transfer
        down = "The provider is unavailable right now; try again in a few minutes."
        for _ in range(3):
            errored = await record_poll_error(session, transfer_id=row.id, message=down, now=T0)
        limited = "The provider is rate limiting us; try again in a minute."
        errored = await record_poll_error(session, transfer_id=row.id, message=limited, now=T0)
        events = await list_events(session, transfer_id=row.id)
    assert errored is not None and errored.consecutive_errors == 4
    assert errored.last_error == limited
    assert [e.message for e in events if e.kind == EventKind.ERROR] == [down, limited]
    async with db.session() as session:
        ok = await record_observation(session, transfer_id=row.id, transfer=hostway_blocked())
    assert ok is not None and ok.transfer.consecutive_errors == 0 and ok.transfer.last_error is None


async def test_finished_transfers_are_never_claimed(db: Database) -> None:
    (transfer_id,) = await _watch_many(db, 1)
    async with db.session() as session:
        await session.execute(
            update(TrackedTransfer)
            .where(TrackedTransfer.id == transfer_id)
            .values(phase=Phase.CANCELLED.value)
        )
    async with db.session() as session:
        assert (
            await claim_due_transfers(session, owner="a", now=T0, limit=5, lease_seconds=30) == []
        )


async def test_a_claimed_transfer_carries_every_column_as_stored(db: Database) -> None:
    (transfer_id,) = await _watch_many(db, 1)
    async with db.session() as session:
        [claimed] = await claim_due_transfers(session, owner="a", now=T0, limit=5, lease_seconds=30)
        row = await get_transfer(session, transfer_id=transfer_id)
    assert row is not None
    columns = [column.name for column in TrackedTransfer.__table__.c]  # type: ignore[attr-defined]
    assert list(ClaimedTransfer._fields) == columns
    assert {name: getattr(claimed, name) for name in columns} == row.model_dump()
