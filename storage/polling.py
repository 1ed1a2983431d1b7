"""The watcher's queries: claim transfers due for polling, record what was seen, release them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from providers.base import FINISHED_PHASES, Phase, Transfer
from storage._bulk import write_rows
from storage.models import EventKind, TrackedTransfer, TransferEvent
from storage.snapshots import SNAPSHOT_COLUMNS, transfer_columns
from storage.transfers import add_event, get_transfer
from storage.types import utc_now

__all__ = [
    "ClaimedTransfer",
    "Observation",
    "claim_due_transfers",
    "last_status_at",
    "last_statuses_at",
    "leased_ids",
    "poll_account_now",
    "poll_ref_now",
    "quiet_poll",
    "record_observation",
    "record_poll_error",
    "release_quiet_polls",
    "release_transfer",
    "reschedule_poll",
    "schedule_poll_now",
]

logger = logging.getLogger(__name__)

_FINISHED = sorted(phase.value for phase in FINISHED_PHASES)
_CAS_TRIES = 5


@dataclass(frozen=True, slots=True)
class Observation:
    """What one poll changed."""

    transfer: TrackedTransfer  # the row after the update
    previous_phase: Phase
    previous_raw_code: str
    previous_raw_text: str
    status_changed: bool  # phase, raw code or raw text differ: an event was appended
    changed: frozenset[str]  # snapshot columns that changed
    event: TransferEvent | None

    @property
    def phase_changed(self) -> bool:
        return self.previous_phase.value != self.transfer.phase


def _claimable(now: datetime) -> list[ColumnElement[bool]]:
    """Watched, unfinished, due, and not leased (or the lease ran out)."""
    return [
        col(TrackedTransfer.watching).is_(True),
        col(TrackedTransfer.phase).not_in(_FINISHED),
        col(TrackedTransfer.next_poll_at) <= now,
        or_(
            col(TrackedTransfer.lease_owner).is_(None), col(TrackedTransfer.lease_expires_at) <= now
        ),
    ]


class ClaimedTransfer(NamedTuple):
    """A transfer leased for one poll: TrackedTransfer's columns as plain values.

    A claim reads rows with Core rather than as ORM instances: building the instances
    cost about a third more CPU per claimed row (some 15 µs), and the watcher then reads
    their instrumented attributes dozens of times per poll. The fields are the table's
    columns, in its order (``tests/storage/test_polling.py`` holds them to it).
    """

    id: int
    short_id: str
    account: str
    provider: str
    ref: str
    subject: str
    phase: str
    raw_code: str
    raw_text: str
    waiting_for: str | None
    actions: list[Any]
    details: dict[str, Any]
    history: list[Any]
    changed_at: datetime | None
    first_seen_at: datetime
    updated_at: datetime
    watching: bool
    watched_by: str | None
    next_poll_at: datetime | None
    poll_interval_seconds: float
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_polled_at: datetime | None
    consecutive_errors: int
    last_error: str | None
    alert_channel: str | None
    alert_ts: str | None
    stalled_alerted_for: str | None
    superseded_by_id: int | None
    supersedes_id: int | None
    version: int
    owner_id: str | None
    owned_at: datetime | None


_TABLE = TrackedTransfer.__table__  # type: ignore[attr-defined]


async def claim_due_transfers(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime | None = None,
    limit: int,
    lease_seconds: float,
) -> list[ClaimedTransfer]:
    """Lease up to ``limit`` watched, unfinished transfers due by ``now`` to ``owner``.

    Several processes on one PostgreSQL never get the same transfer: rows are picked with
    ``FOR UPDATE SKIP LOCKED`` and the UPDATE re-checks that the lease is still free. A
    lease that expires makes the transfer claimable again. On SQLite the UPDATE holds the
    database's write lock, which serialises claimers. Most overdue first.
    """
    now = now or utc_now()
    due = (
        select(col(TrackedTransfer.id))
        .where(*_claimable(now))
        .order_by(col(TrackedTransfer.next_poll_at), col(TrackedTransfer.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(_TABLE)
        .where(_TABLE.c.id.in_(due.scalar_subquery()), *_claimable(now))
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
        .returning(*_TABLE.c)
    )
    claimed = [ClaimedTransfer._make(row) for row in await session.execute(stmt)]
    claimed.sort(key=lambda row: (row.next_poll_at or now, row.id))
    return claimed


async def release_transfer(
    session: AsyncSession,
    *,
    transfer_id: int,
    owner: str,
    next_poll_at: datetime | None,
    poll_interval_seconds: float | None = None,
) -> bool:
    """Give the lease back and set the next poll; False if ``owner`` no longer holds it."""
    values: dict[str, object] = {
        "lease_owner": None,
        "lease_expires_at": None,
        "next_poll_at": next_poll_at,
    }
    if poll_interval_seconds is not None:
        values["poll_interval_seconds"] = poll_interval_seconds
    stmt = (
        update(TrackedTransfer)
        .where(col(TrackedTransfer.id) == transfer_id, col(TrackedTransfer.lease_owner) == owner)
        .values(**values)
    )
    return await write_rows(session, stmt) == 1


async def record_observation(
    session: AsyncSession,
    *,
    transfer_id: int,
    transfer: Transfer,
    now: datetime | None = None,
) -> Observation | None:
    """Store a fresh snapshot; append an ``observed`` event when the status changed.

    Compare-and-set on ``version``, so two writers of the same change append one event.
    Bumps ``version`` when any snapshot column changed; clears the poll error count and,
    on a status change, the stall-alert mark. None if the transfer is unknown.
    """
    now = now or utc_now()
    snapshot = {name: transfer_columns(transfer)[name] for name in SNAPSHOT_COLUMNS}
    for _ in range(_CAS_TRIES):
        row = await get_transfer(session, transfer_id=transfer_id)
        if row is None:
            return None
        before = (Phase(row.phase), row.raw_code, row.raw_text)
        changed = frozenset(n for n in SNAPSHOT_COLUMNS if getattr(row, n) != snapshot[n])
        status_changed = before != (transfer.phase, snapshot["raw_code"], snapshot["raw_text"])
        values: dict[str, object] = {
            **{name: snapshot[name] for name in changed},
            "last_polled_at": now,
            "consecutive_errors": 0,
            "last_error": None,
            "updated_at": now,
            "version": row.version + (1 if changed else 0),
        }
        if status_changed:
            values["stalled_alerted_for"] = None
        stmt = (
            update(TrackedTransfer)
            .where(
                col(TrackedTransfer.id) == transfer_id, col(TrackedTransfer.version) == row.version
            )
            .values(**values)
        )
        if await write_rows(session, stmt) == 1:
            break
        logger.debug("transfer %s changed under us; reading it again", transfer_id)
    else:
        raise RuntimeError(f"transfer {transfer_id} kept changing while recording a poll")
    row = await get_transfer(session, transfer_id=transfer_id)
    assert row is not None
    event = None
    if status_changed:
        event = await add_event(session, transfer=row, kind=EventKind.OBSERVED, now=now)
    return Observation(
        transfer=row,
        previous_phase=before[0],
        previous_raw_code=before[1],
        previous_raw_text=before[2],
        status_changed=status_changed,
        changed=changed,
        event=event,
    )


async def record_poll_error(
    session: AsyncSession, *, transfer_id: int, message: str, now: datetime | None = None
) -> TrackedTransfer | None:
    """Count a failed poll; ``message`` is the user sentence from the error tree.

    An ``error`` event is appended when the sentence differs from the last one (not on
    every failed poll). Returns the updated row, or None if the transfer is unknown.
    """
    now = now or utc_now()
    row = await get_transfer(session, transfer_id=transfer_id)
    if row is None:
        return None
    is_new_error = row.last_error != message
    await write_rows(
        session,
        update(TrackedTransfer)
        .where(col(TrackedTransfer.id) == transfer_id)
        .values(
            consecutive_errors=col(TrackedTransfer.consecutive_errors) + 1,
            last_error=message,
            last_polled_at=now,
            updated_at=now,
        ),
    )
    row = await get_transfer(session, transfer_id=transfer_id)
    assert row is not None
    if is_new_error:
        await add_event(session, transfer=row, kind=EventKind.ERROR, now=now, message=message)
    return row


async def schedule_poll_now(
    session: AsyncSession, *, transfer_id: int, now: datetime | None = None
) -> bool:
    """Make a watched transfer due at once (after an action, or on request)."""
    now = now or utc_now()
    stmt = (
        update(TrackedTransfer)
        .where(col(TrackedTransfer.id) == transfer_id, col(TrackedTransfer.watching).is_(True))
        .values(next_poll_at=now)
    )
    return await write_rows(session, stmt) == 1


async def poll_account_now(session: AsyncSession, *, account: str, now: datetime) -> int:
    """Make every watched, unfinished transfer of ``account`` due by ``now`` (its change feed
    failed, so the long safety-net waits no longer hold); returns how many moved."""
    stmt = (
        update(TrackedTransfer)
        .where(
            col(TrackedTransfer.account) == account,
            col(TrackedTransfer.watching).is_(True),
            col(TrackedTransfer.phase).not_in(_FINISHED),
            col(TrackedTransfer.next_poll_at) > now,
        )
        .values(next_poll_at=now)
    )
    return await write_rows(session, stmt)


async def poll_ref_now(session: AsyncSession, *, account: str, ref: str, now: datetime) -> str:
    """Make the transfer ``ref`` of ``account`` due at once (a change feed said it moved).

    Returns ``"due"`` (it is due now), ``"leased"`` (a poll holds it: what that poll read
    may predate the change, so ask again later), ``"untracked"`` (no such transfer), or
    ``"idle"`` (not watched, or finished: nothing to read).
    """
    due = (
        update(TrackedTransfer)
        .where(
            col(TrackedTransfer.account) == account,
            col(TrackedTransfer.ref) == ref,
            col(TrackedTransfer.watching).is_(True),
            col(TrackedTransfer.phase).not_in(_FINISHED),
            or_(
                col(TrackedTransfer.lease_owner).is_(None),
                col(TrackedTransfer.lease_expires_at) <= now,
            ),
        )
        .values(next_poll_at=now)
    )
    if await write_rows(session, due) == 1:
        return "due"
    stmt = select(
        col(TrackedTransfer.watching),
        col(TrackedTransfer.phase),
        col(TrackedTransfer.lease_owner),
    ).where(col(TrackedTransfer.account) == account, col(TrackedTransfer.ref) == ref)
    row = (await session.execute(stmt)).first()
    if row is None:
        return "untracked"
    watching, phase, lease_owner = row
    if not watching or phase in _FINISHED:
        return "idle"
    return "leased" if lease_owner is not None else "due"


# -- the poll pass's bulk writes and status times (bot.watcher.recorder, bot.watcher.observe)
_STATUS_EVENTS = (EventKind.OBSERVED.value, EventKind.WATCHED.value)


async def last_status_at(session: AsyncSession, *, transfer_id: int) -> datetime | None:
    """When the transfer's last status event (observed or watched) was recorded."""
    stmt = (
        select(col(TransferEvent.at))
        .where(
            col(TransferEvent.transfer_id) == transfer_id,
            col(TransferEvent.kind).in_(_STATUS_EVENTS),
        )
        .order_by(col(TransferEvent.id).desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def last_statuses_at(
    session: AsyncSession, *, transfer_ids: list[int]
) -> dict[int, datetime]:
    """For each transfer, when its last status event (observed or watched) was recorded."""
    transfer_id, event_id = col(TransferEvent.transfer_id), col(TransferEvent.id)
    latest = (
        select(func.max(event_id))
        .where(transfer_id.in_(transfer_ids), col(TransferEvent.kind).in_(_STATUS_EVENTS))
        .group_by(transfer_id)
    )
    stmt = select(transfer_id, col(TransferEvent.at)).where(event_id.in_(latest.scalar_subquery()))
    return {row_id: at for row_id, at in (await session.execute(stmt)).all()}


def quiet_poll(
    row: ClaimedTransfer, owner: str, now: datetime, next_at: datetime | None, interval: Any
) -> dict[str, Any]:
    """One row of :func:`release_quiet_polls`: a poll that changed nothing but times."""
    return {
        "b_id": row.id,
        "b_version": row.version,
        "b_owner": owner,
        "b_now": now,
        "b_next": next_at,
        "b_interval": interval if interval is not None else row.poll_interval_seconds,
    }


_QUIET_UPDATE = (
    update(_TABLE)
    .where(
        _TABLE.c.id == bindparam("b_id"),
        _TABLE.c.version == bindparam("b_version"),
        _TABLE.c.lease_owner == bindparam("b_owner"),
    )
    .values(
        last_polled_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
        consecutive_errors=0,
        last_error=None,
        next_poll_at=bindparam("b_next"),
        poll_interval_seconds=bindparam("b_interval"),
        lease_owner=None,
        lease_expires_at=None,
    )
)


async def release_quiet_polls(session: AsyncSession, *, polls: list[dict[str, Any]]) -> bool:
    """Record many quiet polls in one executemany, each guarded by its version and lease;
    True when the driver says every one went through (else ask :func:`leased_ids`)."""
    if not polls:
        return True
    updated = await session.execute(_QUIET_UPDATE, polls)
    return bool(
        updated.supports_sane_multi_rowcount()  # type: ignore[attr-defined]
        and updated.rowcount == len(polls)  # type: ignore[attr-defined]
    )


async def leased_ids(session: AsyncSession, *, transfer_ids: list[int], owner: str) -> set[int]:
    """Which of these transfers ``owner`` still holds."""
    still = await session.scalars(
        select(col(TrackedTransfer.id)).where(
            col(TrackedTransfer.id).in_(transfer_ids),
            col(TrackedTransfer.lease_owner) == owner,
        )
    )
    return {transfer_id for transfer_id in still if transfer_id is not None}


async def reschedule_poll(
    session: AsyncSession,
    *,
    transfer_id: int,
    next_poll_at: datetime,
    interval: float | None,
    now: datetime,
) -> None:
    """Set the next poll unless a poll pass holds the transfer (its release sets it)."""
    await write_rows(
        session,
        update(TrackedTransfer)
        .where(
            col(TrackedTransfer.id) == transfer_id,
            col(TrackedTransfer.watching).is_(True),
            or_(
                col(TrackedTransfer.lease_owner).is_(None),
                col(TrackedTransfer.lease_expires_at) <= now,
            ),
        )
        .values(next_poll_at=next_poll_at, poll_interval_seconds=interval),
    )
