"""Change feeds: one lease per account (replicas read a feed once), its health, and the
feed entries already handled (a redelivery changes nothing)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage._bulk import write_rows
from storage._dialect import dialect_insert
from storage.models import ChangeFeedState, SeenChange

__all__ = [
    "change_announced",
    "claim_feed",
    "get_feed_state",
    "list_feed_states",
    "mark_feed_down_alerted",
    "mark_feed_silent",
    "prune_seen_changes",
    "record_feed_failure",
    "record_feed_ok",
    "record_seen_change",
    "release_feed",
    "seen_change",
]

logger = logging.getLogger(__name__)

_TABLE = ChangeFeedState.__table__  # type: ignore[attr-defined]


async def get_feed_state(session: AsyncSession, *, account: str) -> ChangeFeedState | None:
    return await session.get(ChangeFeedState, account, populate_existing=True)


async def list_feed_states(session: AsyncSession) -> list[ChangeFeedState]:
    stmt = select(ChangeFeedState).order_by(col(ChangeFeedState.account))
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def claim_feed(
    session: AsyncSession, *, account: str, owner: str, now: datetime, lease_seconds: float
) -> bool:
    """Lease ``account``'s feed to ``owner`` if it is due and nobody holds it; True if won.

    The UPDATE re-checks the lease in its WHERE, so of two replicas only one wins. The
    account's row is made the first time.
    """
    if await _take_lease(session, account=account, owner=owner, now=now, lease=lease_seconds):
        return True
    await session.execute(
        dialect_insert(session, ChangeFeedState)
        .values(account=account, consecutive_failures=0, down_alerted=False, updated_at=now)
        .on_conflict_do_nothing(index_elements=[col(ChangeFeedState.account)])
    )  # (rowcount is no guide here: not every driver reports it for ON CONFLICT)
    return await _take_lease(session, account=account, owner=owner, now=now, lease=lease_seconds)


async def _take_lease(
    session: AsyncSession, *, account: str, owner: str, now: datetime, lease: float
) -> bool:
    stmt = (
        update(ChangeFeedState)
        .where(
            col(ChangeFeedState.account) == account,
            or_(
                col(ChangeFeedState.lease_expires_at).is_(None),
                col(ChangeFeedState.lease_expires_at) <= now,
            ),
            or_(
                col(ChangeFeedState.next_poll_at).is_(None),
                col(ChangeFeedState.next_poll_at) <= now,
            ),
        )
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease))
    )
    return await write_rows(session, stmt) == 1


async def release_feed(
    session: AsyncSession, *, account: str, owner: str, next_poll_at: datetime
) -> bool:
    """Give the feed's lease back with its next read; False if ``owner`` no longer holds it."""
    stmt = (
        update(ChangeFeedState)
        .where(col(ChangeFeedState.account) == account, col(ChangeFeedState.lease_owner) == owner)
        .values(lease_owner=None, lease_expires_at=None, next_poll_at=next_poll_at)
    )
    return await write_rows(session, stmt) == 1


async def record_feed_ok(
    session: AsyncSession, *, account: str, now: datetime, changes: int
) -> ChangeFeedState | None:
    """The feed answered (with ``changes`` entries). Returns how it was *before* if this
    ends its trouble (it failed, or it was silent and now tells of changes), so the caller
    can say it recovered."""
    before = await get_feed_state(session, account=account)
    snapshot = None
    still_silent = before is not None and before.silent_since is not None and not changes
    troubled = before is not None and (
        before.consecutive_failures > 0 or before.silent_since is not None
    )
    if before is not None and troubled and not still_silent:
        snapshot = ChangeFeedState(**before.model_dump())  # detached from the update
    values: dict[str, object] = {
        "consecutive_failures": 0,
        "failing_since": None,
        "last_ok_at": now,
        "updated_at": now,
    }
    if not still_silent:
        values.update(down_alerted=False, last_error=None)
    if changes:
        values.update(last_change_at=now, silent_since=None)
    await write_rows(
        session,
        update(ChangeFeedState).where(col(ChangeFeedState.account) == account).values(**values),
    )
    return snapshot


async def record_feed_failure(
    session: AsyncSession, *, account: str, error: str, now: datetime
) -> ChangeFeedState:
    """One more failed read of the feed; ``error`` is the user sentence. Returns the row."""
    await write_rows(
        session,
        update(ChangeFeedState)
        .where(col(ChangeFeedState.account) == account)
        .values(
            consecutive_failures=_TABLE.c.consecutive_failures + 1,
            failing_since=func.coalesce(_TABLE.c.failing_since, now),
            last_error=error,
            updated_at=now,
        ),
    )
    state = await get_feed_state(session, account=account)
    assert state is not None  # claim_feed made it
    return state


async def mark_feed_down_alerted(session: AsyncSession, *, account: str) -> bool:
    """Record that the feed-down alert went out; True only for the first caller."""
    stmt = (
        update(ChangeFeedState)
        .where(
            col(ChangeFeedState.account) == account,
            col(ChangeFeedState.down_alerted).is_(False),
            or_(
                col(ChangeFeedState.consecutive_failures) > 0,
                col(ChangeFeedState.silent_since).is_not(None),
            ),
        )
        .values(down_alerted=True)
    )
    return await write_rows(session, stmt) == 1


async def mark_feed_silent(
    session: AsyncSession, *, account: str, error: str, now: datetime
) -> bool:
    """A poll found a change the feed never told of: the feed is silent from ``now`` until
    it tells of a change again. True only for the first caller (the one to say so)."""
    stmt = (
        update(ChangeFeedState)
        .where(
            col(ChangeFeedState.account) == account,
            col(ChangeFeedState.silent_since).is_(None),
            col(ChangeFeedState.down_alerted).is_(False),
        )
        .values(silent_since=now, last_error=error, updated_at=now)
    )
    return await write_rows(session, stmt) == 1


async def change_announced(
    session: AsyncSession, *, account: str, ref: str, since: datetime
) -> bool:
    """True if the feed told of a change to ``ref`` at or after ``since``."""
    stmt = (
        select(col(SeenChange.change_id))
        .where(
            col(SeenChange.account) == account,
            col(SeenChange.ref) == ref,
            col(SeenChange.seen_at) >= since,
        )
        .limit(1)
    )
    return (await session.scalar(stmt)) is not None


async def seen_change(session: AsyncSession, *, account: str, change_id: str) -> bool:
    """True if the feed entry's effect is already recorded."""
    found = await session.get(SeenChange, (account, change_id))
    return found is not None


async def record_seen_change(
    session: AsyncSession, *, account: str, change_id: str, ref: str, now: datetime
) -> None:
    """Remember a handled feed entry, in the transaction that records its effect (once:
    a second note of the same entry changes nothing)."""
    await session.execute(
        dialect_insert(session, SeenChange)
        .values(account=account, change_id=change_id, ref=ref[:255], seen_at=now)
        .on_conflict_do_nothing(index_elements=[col(SeenChange.account), col(SeenChange.change_id)])
    )


async def prune_seen_changes(session: AsyncSession, *, before: datetime) -> int:
    """Forget handled entries older than ``before`` (long acknowledged by then)."""
    stmt = delete(SeenChange).where(col(SeenChange.seen_at) < before)
    return await write_rows(session, stmt)
