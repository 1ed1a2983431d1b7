"""Who has taken a stuck transfer on: take, release, clear once it moves, list one's own."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from providers.base import Phase
from storage._bulk import write_rows
from storage.audit import record_audit
from storage.models import TrackedTransfer
from storage.transfers import get_transfer
from storage.types import utc_now

__all__ = [
    "Taken",
    "clear_owner_if_moving",
    "list_owned_transfers",
    "release_transfer",
    "still_stuck",
    "take_transfer",
]

logger = logging.getLogger(__name__)


def still_stuck(row: TrackedTransfer) -> bool:
    """Blocked, or stalled at the status the stall alert was about."""
    if row.phase == Phase.BLOCKED.value:
        return True
    return row.stalled_alerted_for is not None and row.stalled_alerted_for == row.raw_code


class Taken(NamedTuple):
    row: TrackedTransfer  # as it stands: its owner_id says who has it
    won: bool  # this call made the owner


async def take_transfer(
    session: AsyncSession, *, transfer_id: int, user_id: str, now: datetime | None = None
) -> Taken | None:
    """Make ``user_id`` the owner if nobody is; audited. None when the transfer is unknown."""
    now = now or utc_now()
    stmt = (
        update(TrackedTransfer)
        .where(col(TrackedTransfer.id) == transfer_id, col(TrackedTransfer.owner_id).is_(None))
        .values(owner_id=user_id, owned_at=now, updated_at=now)
    )
    won = await write_rows(session, stmt) == 1
    row = await _fresh(session, transfer_id)
    if row is None:
        return None
    if won:
        await record_audit(
            session,
            actor=user_id,
            verb="owned",
            transfer_id=transfer_id,
            detail=f"took on {row.subject or row.ref} ({row.account} {row.ref})",
            now=now,
        )
    return Taken(row, won)


async def release_transfer(
    session: AsyncSession, *, transfer_id: int, user_id: str, now: datetime | None = None
) -> str | None:
    """Clear the owner (whoever it is: an absent owner must not keep it); audited.
    Returns the owner it had, or None when it had none."""
    now = now or utc_now()
    row = await _fresh(session, transfer_id)
    if row is None or row.owner_id is None:
        return None
    owner = row.owner_id
    if not await _let_go(session, transfer_id=transfer_id, owner=owner, now=now):
        return None  # someone else released it first
    detail = "released it" if owner == user_id else f"released it from {owner}"
    await record_audit(
        session, actor=user_id, verb="released", transfer_id=transfer_id, detail=detail, now=now
    )
    return owner


async def clear_owner_if_moving(
    session: AsyncSession, *, transfer_id: int, now: datetime | None = None
) -> str | None:
    """The owner goes once the transfer is no longer stuck (left blocked, or a stalled one
    moved); audited as the watcher's. Returns the owner cleared, if any."""
    row = await _fresh(session, transfer_id)
    if row is None or row.owner_id is None or still_stuck(row):
        return None
    now = now or utc_now()
    owner = row.owner_id
    if not await _let_go(session, transfer_id=transfer_id, owner=owner, now=now):
        return None
    await record_audit(
        session,
        actor="watcher",
        verb="released",
        transfer_id=transfer_id,
        detail=f"no longer stuck (now {row.phase} {row.raw_code}); {owner} is free of it",
        now=now,
    )
    return owner


async def list_owned_transfers(
    session: AsyncSession, *, user_id: str, limit: int = 100
) -> list[TrackedTransfer]:
    """The transfers ``user_id`` owns, longest-held first."""
    stmt = (
        select(TrackedTransfer)
        .where(col(TrackedTransfer.owner_id) == user_id)
        .order_by(col(TrackedTransfer.owned_at), col(TrackedTransfer.id))
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def _let_go(session: AsyncSession, *, transfer_id: int, owner: str, now: datetime) -> bool:
    """Clear ``owner`` if it still owns the transfer; False when someone cleared it first."""
    stmt = (
        update(TrackedTransfer)
        .where(col(TrackedTransfer.id) == transfer_id, col(TrackedTransfer.owner_id) == owner)
        .values(owner_id=None, owned_at=None, updated_at=now)
    )
    return await write_rows(session, stmt) == 1


async def _fresh(session: AsyncSession, transfer_id: int) -> TrackedTransfer | None:
    return await get_transfer(session, transfer_id=transfer_id)  # read again, not cached
