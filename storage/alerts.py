"""Channel alerts, each recorded exactly once by its unique key, then posted."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage._bulk import write_rows
from storage._dialect import dialect_insert
from storage.models import Alert, AlertState
from storage.types import utc_now

__all__ = [
    "claim_alert",
    "get_alert",
    "get_alert_by_key",
    "mark_alert_posted",
    "pending_alerts",
    "reserve_alert",
    "return_alert",
]

logger = logging.getLogger(__name__)


def _unposted(stale_before: datetime | None) -> ColumnElement[bool]:
    """Pending, or stuck in posting since before ``stale_before`` (its poster crashed)."""
    pending = col(Alert.state) == AlertState.PENDING.value
    if stale_before is None:
        return pending
    stuck = and_(
        col(Alert.state) == AlertState.POSTING.value, col(Alert.updated_at) <= stale_before
    )
    return or_(pending, stuck)


async def reserve_alert(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    account: str,
    transfer_id: int | None = None,
    message: str = "",
    payload: Mapping[str, Any] | None = None,
    channel: str | None = None,
    now: datetime | None = None,
) -> Alert | None:
    """Record an alert under ``key`` (e.g. ``transfer:42:blocked:event:977``), state pending.

    Returns None when an alert with that key exists already, here or in another replica,
    before or after a restart: the caller then posts nothing. ``INSERT ... ON CONFLICT DO
    NOTHING``, so the caller's transaction is not aborted on PostgreSQL.
    """
    now = now or utc_now()
    values = Alert(
        key=key,
        kind=kind,
        account=account,
        transfer_id=transfer_id,
        message=message,
        payload=dict(payload or {}),
        channel=channel,
        state=AlertState.PENDING.value,
        created_at=now,
        updated_at=now,
    ).model_dump(exclude={"id"})
    stmt = (
        dialect_insert(session, Alert)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[col(Alert.key)])
        .returning(Alert)
    )
    alert = (await session.scalars(stmt)).first()
    if alert is None:
        logger.debug("alert %s exists already", key)
    return alert


async def get_alert(session: AsyncSession, *, alert_id: int) -> Alert | None:
    return await session.get(Alert, alert_id, populate_existing=True)


async def get_alert_by_key(session: AsyncSession, *, key: str) -> Alert | None:
    return (await session.scalars(select(Alert).where(col(Alert.key) == key))).first()


async def count_alerts_by_kind(session: AsyncSession) -> dict[str, int]:
    """How many alerts of each kind were reserved (posted or not), kinds with none left out."""
    stmt = select(col(Alert.kind), func.count()).group_by(col(Alert.kind))
    return {str(kind): int(count) for kind, count in (await session.execute(stmt)).all()}


async def claim_alert(
    session: AsyncSession,
    *,
    alert_id: int,
    now: datetime | None = None,
    stale_before: datetime | None = None,
) -> bool:
    """pending → posting (counting the attempt); True only for the one caller who posts it.

    With ``stale_before``, an alert stuck in ``posting`` since before then (its poster
    crashed) may be claimed again; it may then appear twice in Slack, never zero times.
    """
    now = now or utc_now()
    stmt = (
        update(Alert)
        .where(col(Alert.id) == alert_id, _unposted(stale_before))
        .values(state=AlertState.POSTING.value, attempts=col(Alert.attempts) + 1, updated_at=now)
    )
    return await write_rows(session, stmt) == 1


async def mark_alert_posted(
    session: AsyncSession,
    *,
    alert_id: int,
    channel: str,
    ts: str,
    thread_ts: str | None = None,
    now: datetime | None = None,
) -> bool:
    """posting → posted, with where it landed in Slack."""
    now = now or utc_now()
    stmt = (
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.state) == AlertState.POSTING.value)
        .values(
            state=AlertState.POSTED.value,
            channel=channel,
            ts=ts,
            thread_ts=thread_ts,
            posted_at=now,
            updated_at=now,
            last_error=None,
        )
    )
    return await write_rows(session, stmt) == 1


async def return_alert(
    session: AsyncSession, *, alert_id: int, error: str, now: datetime | None = None
) -> bool:
    """posting → pending after a failed post, keeping why; it will be tried again."""
    now = now or utc_now()
    stmt = (
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.state) == AlertState.POSTING.value)
        .values(state=AlertState.PENDING.value, last_error=error, updated_at=now)
    )
    return await write_rows(session, stmt) == 1


async def pending_alerts(
    session: AsyncSession, *, stale_before: datetime | None = None, limit: int = 100
) -> list[Alert]:
    """Alerts still to post, oldest first (after a crash, or a failed post).

    With ``stale_before``, also those left in ``posting`` since before then.
    """
    stmt = select(Alert).where(_unposted(stale_before)).order_by(col(Alert.id)).limit(limit)
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))
