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
    get_request,
    list_requests,
    mark_interrupted_requests_unknown,
    transition_request,
)
from storage.transfers import watch_transfer
from tests.storage.samples import T0, hostway_blocked

PENDING = [RequestState.PENDING]


async def _request(db: Database, **kwargs: object) -> int:
    async with db.session() as session:
        transfer = (
            await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")
        ).transfer
        request = await create_request(
            session,
            transfer_id=transfer.id,
            action=Action.RETRY,
            requested_by="U1",
            expires_at=T0 + timedelta(hours=1),
            inputs={"note": "registrant confirmed"},
            now=T0,
            **kwargs,  # type: ignore[arg-type]
        )
    assert request.id is not None
    return request.id


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
