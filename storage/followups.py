"""Follow-ups: the clock on a stuck transfer (reminders, escalation) and on a provider deadline.

One row per transfer (``followups``), replaced when its status changes. The reminder pass
reads only the rows whose ``due_at`` has come (an indexed range, bounded by ``limit``),
and moves each one on with a guarded UPDATE, so two replicas never both act on one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage._bulk import write_rows
from storage._dialect import dialect_insert
from storage.audit import record_audit
from storage.models import Followup, TrackedTransfer
from storage.types import utc_now

__all__ = [
    "DueFollowup",
    "advance_followup",
    "drop_followup",
    "due_followups",
    "ensure_followups",
    "get_followup",
    "list_deadlines",
    "put_followup",
    "snooze_followup",
]

logger = logging.getLogger(__name__)

_FIELDS = (
    "raw_code",
    "stuck",
    "since",
    "deadline_at",
    "due_at",
    "checked_at",
    "snoozed_until",
    "snoozed_by",
)


class DueFollowup(NamedTuple):
    """A follow-up whose moment has come, with what the pass needs of its transfer."""

    followup: Followup
    short_id: str
    account: str
    provider: str
    subject: str
    phase: str
    raw_code: str  # the transfer's status now (the follow-up's may be older)
    watching: bool
    owner_id: str | None


async def get_followup(session: AsyncSession, *, transfer_id: int) -> Followup | None:
    return await session.get(Followup, transfer_id, populate_existing=True)


async def put_followup(session: AsyncSession, *, followup: Followup) -> None:
    """Insert the transfer's follow-up, or replace the one it had (a new status)."""
    values = followup.model_dump()
    stmt = dialect_insert(session, Followup).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[col(Followup.transfer_id)],
        set_={name: getattr(stmt.excluded, name) for name in _FIELDS},
    )
    await session.execute(stmt)


async def ensure_followups(session: AsyncSession, *, followups: Sequence[Followup]) -> None:
    """Insert those follow-ups a transfer does not have yet; the others are left alone
    (a transfer watched while already stuck, seen by a quiet poll)."""
    if not followups:
        return
    rows = [f.model_dump() for f in followups]
    stmt = dialect_insert(session, Followup).on_conflict_do_nothing(
        index_elements=[col(Followup.transfer_id)]
    )
    await session.execute(stmt, rows)


async def drop_followup(session: AsyncSession, *, transfer_id: int) -> bool:
    """The transfer moved on, finished or is no longer watched: its clock stops."""
    stmt = delete(Followup).where(col(Followup.transfer_id) == transfer_id)
    return await write_rows(session, stmt) > 0


async def due_followups(
    session: AsyncSession, *, now: datetime, limit: int = 500
) -> list[DueFollowup]:
    """Follow-ups due by ``now``, soonest first: ``due_at <= now`` on its index, at most
    ``limit``, joined to the few columns of their transfers the pass reads."""
    stmt = (
        select(
            Followup,
            col(TrackedTransfer.short_id),
            col(TrackedTransfer.account),
            col(TrackedTransfer.provider),
            col(TrackedTransfer.subject),
            col(TrackedTransfer.phase),
            col(TrackedTransfer.raw_code),
            col(TrackedTransfer.watching),
            col(TrackedTransfer.owner_id),
        )
        .join(TrackedTransfer, col(TrackedTransfer.id) == col(Followup.transfer_id))
        .where(col(Followup.due_at) <= now)
        .order_by(col(Followup.due_at))
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return [DueFollowup(*row) for row in (await session.execute(stmt)).all()]


async def advance_followup(
    session: AsyncSession,
    *,
    transfer_id: int,
    was_due: datetime | None,
    checked_at: datetime,
    due_at: datetime | None,
) -> bool:
    """Record a pass over the follow-up and its next moment, only if it is still due as
    it was read (``was_due``): True for the one pass (of any replica) that moved it."""
    stmt = (
        update(Followup)
        .where(col(Followup.transfer_id) == transfer_id, col(Followup.due_at) == was_due)
        .values(checked_at=checked_at, due_at=due_at)
    )
    return await write_rows(session, stmt) == 1


async def snooze_followup(
    session: AsyncSession,
    *,
    transfer_id: int,
    until: datetime,
    user_id: str,
    now: datetime | None = None,
) -> Followup | None:
    """No reminders or escalation until ``until``; audited. None if nothing runs a clock
    on the transfer (it is not stuck)."""
    now = now or utc_now()
    stmt = (
        update(Followup)
        .where(col(Followup.transfer_id) == transfer_id, col(Followup.stuck).is_(True))
        .values(snoozed_until=until, snoozed_by=user_id)
    )
    if await write_rows(session, stmt) != 1:
        return None
    await record_audit(
        session,
        actor=user_id,
        verb="snoozed",
        transfer_id=transfer_id,
        detail=f"snoozed its reminders until {until.isoformat(timespec='minutes')}",
        now=now,
    )
    return await get_followup(session, transfer_id=transfer_id)


async def list_deadlines(
    session: AsyncSession, *, transfer_ids: Iterable[int]
) -> Mapping[int, datetime]:
    """The deadline of each of these transfers that has one."""
    ids = list(transfer_ids)
    if not ids:
        return {}
    stmt = select(col(Followup.transfer_id), col(Followup.deadline_at)).where(
        col(Followup.transfer_id).in_(ids), col(Followup.deadline_at).is_not(None)
    )
    return {int(tid): at for tid, at in (await session.execute(stmt)).all() if at is not None}
