"""Stalls: a transfer that sat in one raw status longer than expected gets one alert per stay."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.watcher.decisions import STALLED, stall_alert_key, stall_due_in
from bot.watcher.reservations import reserve_status_alert
from providers.base import Phase
from storage.models import EventKind, TrackedTransfer
from storage.polling import ClaimedTransfer
from storage.transfers import add_event, mark_stall_alerted

__all__ = ["flag_stall", "stall_in"]

logger = logging.getLogger(__name__)


def stall_in(
    row: TrackedTransfer | ClaimedTransfer, *, since: datetime, now: datetime, threshold: timedelta
) -> float | None:
    """Seconds until ``row`` counts as stalled; None when finished or already alerted."""
    if Phase(row.phase).finished:
        return None
    alerted = row.stalled_alerted_for is not None and row.stalled_alerted_for == row.raw_code
    return stall_due_in(since=since, now=now, threshold=threshold, alerted=alerted)


async def flag_stall(
    session: AsyncSession,
    *,
    row: TrackedTransfer,
    since: datetime,
    now: datetime,
    threshold: timedelta,
) -> str | None:
    """If ``row`` has stalled and nobody was told for this status yet: mark it, record a
    ``stalled`` event and reserve the alert. Returns the alert's key, or None."""
    due = stall_in(row, since=since, now=now, threshold=threshold)
    if due is None or due > 0:
        return None
    assert row.id is not None
    if not await mark_stall_alerted(session, transfer_id=row.id, raw_code=row.raw_code):
        return None  # another replica (or an earlier poll) got there first
    set_committed_value(row, "stalled_alerted_for", row.raw_code)
    days = (now - since).total_seconds() / 86400
    message = f"No change in {row.raw_code or row.phase} for {days:.1f} days."
    await add_event(session, transfer=row, kind=EventKind.STALLED, now=now, message=message)
    key = stall_alert_key(row.id, row.raw_code, since)
    reserved = await reserve_status_alert(
        session,
        row,
        STALLED,
        key=key,
        now=now,
        message=f"{row.subject} has not moved: {message}",
        since=since,
    )
    logger.info("transfer %s (%s) has stalled in %s", row.short_id, row.subject, row.raw_code)
    return reserved
