"""Action requests: create, compare-and-set transitions, expiry and crash recovery."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from providers.base import Action
from storage._bulk import write_rows
from storage.models import REQUEST_TRANSITIONS, ActionRequest, RequestState, TrackedTransfer
from storage.types import utc_now

__all__ = [
    "INTERRUPTED_MESSAGE",
    "OPEN_REQUEST_STATES",
    "create_request",
    "expire_requests",
    "find_open_request",
    "get_request",
    "list_requests",
    "lock_transfer_requests",
    "mark_interrupted_requests_unknown",
    "set_request_message",
    "transition_request",
]

logger = logging.getLogger(__name__)

INTERRUPTED_MESSAGE = (
    "The bot stopped while this action was running, so its outcome is unknown; "
    "check the transfer's status before asking again."
)
OPEN_REQUEST_STATES = (RequestState.PENDING, RequestState.APPROVED, RequestState.RUNNING)
_SETTABLE = frozenset(
    {
        "decided_by",
        "decided_at",
        "started_at",
        "finished_at",
        "result_message",
        "new_ref",
        "channel",
        "message_ts",
        "has_secret",
    }
)


async def create_request(
    session: AsyncSession,
    *,
    transfer_id: int,
    action: Action | str,
    requested_by: str,
    expires_at: datetime,
    inputs: Mapping[str, str] | None = None,
    has_secret: bool = False,
    dry_run: bool = False,
    channel: str | None = None,
    message_ts: str | None = None,
    now: datetime | None = None,
) -> ActionRequest:
    """A new pending request. ``inputs`` are the public ones only: a secret goes to secrets.py."""
    now = now or utc_now()
    request = ActionRequest(
        transfer_id=transfer_id,
        action=Action(action).value,
        requested_by=requested_by,
        inputs=dict(inputs or {}),
        has_secret=has_secret,
        dry_run=dry_run,
        channel=channel,
        message_ts=message_ts,
        state=RequestState.PENDING.value,
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
    )
    session.add(request)
    await session.flush()
    return request


async def get_request(session: AsyncSession, *, request_id: int) -> ActionRequest | None:
    return await session.get(ActionRequest, request_id, populate_existing=True)


async def lock_transfer_requests(session: AsyncSession, *, transfer_id: int) -> None:
    """Serialise request creation per transfer until the transaction ends: a no-op write
    takes the transfer's row lock (PostgreSQL) or the database write lock (SQLite)."""
    await write_rows(
        session,
        update(TrackedTransfer)
        .where(col(TrackedTransfer.id) == transfer_id)
        .values(updated_at=col(TrackedTransfer.updated_at)),
    )


async def find_open_request(
    session: AsyncSession, *, transfer_id: int, action: Action | str, since: datetime
) -> ActionRequest | None:
    """The newest request for ``action`` on the transfer that is still open, or that was
    asked at or after ``since`` whatever its state (a repeat of it); None if there is none."""
    is_open = col(ActionRequest.state).in_([s.value for s in OPEN_REQUEST_STATES])
    stmt = (
        select(ActionRequest)
        .where(
            col(ActionRequest.transfer_id) == transfer_id,
            col(ActionRequest.action) == Action(action).value,
            or_(is_open, col(ActionRequest.created_at) >= since),
        )
        .order_by(col(ActionRequest.id).desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).first()


async def set_request_message(
    session: AsyncSession, *, request_id: int, channel: str, ts: str
) -> None:
    """Remember where the request's Slack message is (its channel and ``ts``)."""
    await write_rows(
        session,
        update(ActionRequest)
        .where(col(ActionRequest.id) == request_id)
        .values(channel=channel, message_ts=ts),
    )


async def list_requests(
    session: AsyncSession,
    *,
    transfer_id: int | None = None,
    states: Iterable[RequestState | str] | None = None,
    limit: int = 50,
) -> list[ActionRequest]:
    """Requests, oldest first, optionally of one transfer and in some states."""
    stmt = select(ActionRequest)
    if transfer_id is not None:
        stmt = stmt.where(col(ActionRequest.transfer_id) == transfer_id)
    if states is not None:
        stmt = stmt.where(col(ActionRequest.state).in_([RequestState(s).value for s in states]))
    stmt = stmt.order_by(col(ActionRequest.id)).limit(limit)
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def transition_request(
    session: AsyncSession,
    *,
    request_id: int,
    from_states: Iterable[RequestState | str],
    to_state: RequestState | str,
    now: datetime | None = None,
    **fields: Any,
) -> bool:
    """Move a request on, in one ``UPDATE ... WHERE state IN (...)``; True only for the winner.

    Of several callers racing (a double click, a Slack retry, two replicas) exactly one
    gets True and goes on to act. ``fields`` (decided_by, decided_at, started_at,
    finished_at, result_message, new_ref, channel, message_ts, has_secret) are written
    with the state. A transition the state machine does not allow raises ValueError.
    """
    now = now or utc_now()
    target = RequestState(to_state)
    sources = {RequestState(state) for state in from_states}
    for source in sources:
        if target not in REQUEST_TRANSITIONS.get(source, frozenset()):
            raise ValueError(f"a request can't go from {source.value} to {target.value}")
    unknown = set(fields) - _SETTABLE
    if unknown:
        raise ValueError(f"can't set {', '.join(sorted(unknown))} on a request transition")
    values = {**fields, "state": target.value, "updated_at": now}
    if target is RequestState.RUNNING:
        values.setdefault("started_at", now)
    if target in (RequestState.DONE, RequestState.FAILED, RequestState.UNKNOWN):
        values.setdefault("finished_at", now)
    stmt = (
        update(ActionRequest)
        .where(
            col(ActionRequest.id) == request_id,
            col(ActionRequest.state).in_(sorted(s.value for s in sources)),
        )
        .values(**values)
    )
    won = await write_rows(session, stmt) == 1
    if won:
        logger.info("request %s: now %s", request_id, target.value)
    return won


async def expire_requests(
    session: AsyncSession, *, now: datetime | None = None
) -> list[ActionRequest]:
    """Pending requests past their expiry become ``expired``; returns them (to update Slack)."""
    now = now or utc_now()
    past_expiry = col(ActionRequest.expires_at) <= now
    return await _move_requests(
        session, RequestState.PENDING, RequestState.EXPIRED, past_expiry, now
    )


async def mark_interrupted_requests_unknown(
    session: AsyncSession,
    *,
    started_before: datetime,
    now: datetime | None = None,
    message: str = INTERRUPTED_MESSAGE,
) -> list[ActionRequest]:
    """Requests left ``running`` by a crash become ``unknown``; returns them. Never re-run.

    Only those that started before ``started_before``, so a replica starting up does not
    touch an action another replica is running right now: pass a time further back than
    any action can take (for instance now minus ten minutes).
    """
    now = now or utc_now()
    started = col(ActionRequest.started_at) <= started_before
    interrupted = await _move_requests(
        session,
        RequestState.RUNNING,
        RequestState.UNKNOWN,
        started,
        now,
        result_message=message,
        finished_at=now,
    )
    for request in interrupted:
        logger.warning("request %s was interrupted while running; now unknown", request.id)
    return interrupted


async def _move_requests(
    session: AsyncSession,
    source: RequestState,
    target: RequestState,
    due: ColumnElement[bool],
    now: datetime,
    **fields: Any,
) -> list[ActionRequest]:
    """Every request in ``source`` that is ``due`` goes to ``target`` (with ``fields``) in one
    UPDATE ... RETURNING; the state in its WHERE leaves alone a request another caller moved
    first. Returns them, oldest first."""
    stmt = (
        update(ActionRequest)
        .where(col(ActionRequest.state) == source.value, due)
        .values(**fields, state=target.value, updated_at=now)
        .returning(ActionRequest)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return sorted(await session.scalars(stmt), key=lambda r: r.id or 0)
