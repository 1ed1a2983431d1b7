"""Action requests: compare-and-set transitions, expiry, and requests a crash interrupted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from providers.base import Action
from storage.database import Database
from storage.models import RequestState
from storage.requests import (
    create_request,
    expire_requests,
    find_open_request,
    get_request,
    list_requests,
    lock_transfer_requests,
    mark_interrupted_requests_unknown,
    set_request_message,
    transition_request,
)
from tests.storage.samples import T0, retry_request

PENDING = [RequestState.PENDING]


async def _request(db: Database, **kwargs: object) -> int:
    return await retry_request(db, inputs={"note": "registrant confirmed"}, now=T0, **kwargs)


async def test_of_twenty_concurrent_approvers_exactly_one_wins(
    db: Database, database_url: str
) -> None:
    request_id = await _request(db)
    second = Database(database_url)  # a second replica's engine

    async def approve(database: Database, user: str) -> bool:
        async with database.session() as session:
            return await transition_request(
                session,
                request_id=request_id,
                from_states=PENDING,
                to_state=RequestState.APPROVED,
                decided_by=user,
                decided_at=T0,
            )

    try:
        results = await asyncio.gather(
            *(approve(db if i % 2 else second, f"U{i:02d}") for i in range(20))
        )
    finally:
        await second.dispose()
    winners = [f"U{i:02d}" for i, won in enumerate(results) if won]
    assert len(winners) == 1
    async with db.session() as session:
        request = await get_request(session, request_id=request_id)
    assert request is not None
    assert request.state == RequestState.APPROVED and request.decided_by == winners[0]


async def test_a_request_runs_once_then_finishes(db: Database) -> None:
    request_id = await _request(db)
    async with db.session() as session:
        assert await transition_request(
            session,
            request_id=request_id,
            from_states=PENDING,
            to_state="approved",
            decided_by="U2",
            now=T0,
        )
        start = {"request_id": request_id, "from_states": ["approved"], "to_state": "running"}
        assert await transition_request(session, now=T0 + timedelta(seconds=1), **start)
        assert not await transition_request(session, **start)  # the second click does nothing
        assert await transition_request(
            session,
            request_id=request_id,
            from_states=["running"],
            to_state="done",
            result_message="Reset; the registry will retry the transfer.",
            now=T0 + timedelta(seconds=3),
        )
        request = await get_request(session, request_id=request_id)
    assert request is not None and request.state == RequestState.DONE
    assert request.started_at == T0 + timedelta(seconds=1)
    assert request.finished_at == T0 + timedelta(seconds=3)
    assert request.inputs == {"note": "registrant confirmed"}


async def test_transitions_the_state_machine_forbids_are_refused(db: Database) -> None:
    request_id = await _request(db)
    async with db.session() as session:
        with pytest.raises(ValueError, match="from done to running"):
            await transition_request(
                session, request_id=request_id, from_states=["done"], to_state="running"
            )
        with pytest.raises(ValueError, match="can't set state"):
            await transition_request(
                session,
                request_id=request_id,
                from_states=PENDING,
                to_state="rejected",
                state="done",
            )


async def test_pending_requests_past_expiry_expire_and_are_returned(db: Database) -> None:
    early = await _request(db)
    async with db.session() as session:
        first = await get_request(session, request_id=early)
        assert first is not None
        late = await create_request(
            session,
            transfer_id=first.transfer_id,
            action="cancel",
            requested_by="U3",
            expires_at=T0 + timedelta(hours=3),
            now=T0,
        )
    async with db.session() as session:
        assert await expire_requests(session, now=T0 + timedelta(minutes=59)) == []
        expired = await expire_requests(session, now=T0 + timedelta(hours=1))
    assert [r.id for r in expired] == [early] and expired[0].state == RequestState.EXPIRED
    async with db.session() as session:  # expiry never undoes a decision
        assert not await transition_request(
            session, request_id=early, from_states=PENDING, to_state="approved"
        )
        still = await list_requests(session, states=PENDING)
    assert [r.id for r in still] == [late.id]


async def test_requests_left_running_by_a_crash_become_unknown_never_rerun(db: Database) -> None:
    crashed = await _request(db)
    running_now = await _request(db, dry_run=True)
    async with db.session() as session:
        for request_id, started in ((crashed, T0), (running_now, T0 + timedelta(minutes=20))):
            assert await transition_request(
                session, request_id=request_id, from_states=PENDING, to_state="running", now=started
            )
    async with db.session() as session:
        unknown = await mark_interrupted_requests_unknown(
            session, started_before=T0 + timedelta(minutes=10), now=T0 + timedelta(minutes=21)
        )
        left = await get_request(session, request_id=running_now)
    assert [r.id for r in unknown] == [crashed]
    assert unknown[0].state == RequestState.UNKNOWN and "unknown" in unknown[0].result_message
    assert left is not None and left.state == RequestState.RUNNING and left.dry_run


async def test_an_open_request_is_found_and_a_finished_one_only_if_recent(db: Database) -> None:
    request_id = await _request(db)
    async with db.session() as session:
        request = await get_request(session, request_id=request_id)
        assert request is not None
        transfer_id, later = request.transfer_id, T0 + timedelta(hours=2)
        found = await find_open_request(
            session, transfer_id=transfer_id, action=Action.RETRY, since=later
        )
        assert found is not None and found.id == request_id  # pending: open, however old
        assert (
            await find_open_request(
                session, transfer_id=transfer_id, action=Action.CANCEL, since=T0
            )
            is None
        )
        assert await transition_request(
            session, request_id=request_id, from_states=PENDING, to_state="rejected"
        )
        finished = {"transfer_id": transfer_id, "action": "retry"}
        assert await find_open_request(session, since=later, **finished) is None
        recent = await find_open_request(session, since=T0, **finished)
    assert recent is not None and recent.state == RequestState.REJECTED


async def test_creation_under_the_transfer_lock_makes_one_request_of_many(
    db: Database, database_url: str
) -> None:
    first = await _request(db)
    async with db.session() as session:
        request = await get_request(session, request_id=first)
        assert request is not None
        transfer_id = request.transfer_id
    second = Database(database_url)  # a second replica's engine

    async def ask(database: Database) -> bool:
        async with database.session() as session:
            await lock_transfer_requests(session, transfer_id=transfer_id)
            open_one = await find_open_request(
                session, transfer_id=transfer_id, action="cancel", since=T0
            )
            if open_one is not None:
                return False
            await asyncio.sleep(0.01)  # a slow asker: others must wait for the lock
            await create_request(
                session,
                transfer_id=transfer_id,
                action="cancel",
                requested_by="U1",
                expires_at=T0 + timedelta(hours=1),
                now=T0,
            )
            return True

    try:
        created = await asyncio.gather(*(ask(db if i % 2 else second) for i in range(8)))
    finally:
        await second.dispose()
    assert created.count(True) == 1
    async with db.session() as session:
        cancels = [r for r in await list_requests(session) if r.action == "cancel"]
    assert len(cancels) == 1


async def test_where_the_request_message_is_is_remembered(db: Database) -> None:
    request_id = await _request(db)
    async with db.session() as session:
        await set_request_message(session, request_id=request_id, channel="C0OPS", ts="17.0001")
    async with db.session() as session:
        request = await get_request(session, request_id=request_id)
    assert request is not None and (request.channel, request.message_ts) == ("C0OPS", "17.0001")
