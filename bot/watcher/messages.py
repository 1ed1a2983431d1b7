"""What an alert says, built from the database rows with the bot's Block Kit builders."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.slack.alerts import (
    Deadline,
    alert_message,
    feed_down_message,
    feed_up_message,
    followup_message,
    outage_message,
    recovered_message,
    thread_header,
)
from bot.slack.blocks import Message, Owner
from bot.watcher.decisions import FEED_DOWN, FEED_UP, STALLED, UNREACHABLE
from bot.watcher.observe import status_since
from providers.base import Phase, Transfer
from providers.registry import descriptor_of
from storage.followups import get_followup
from storage.models import Alert, Followup, TrackedTransfer
from storage.snapshots import transfer_from_row
from storage.transfers import get_transfer

__all__ = [
    "account_alert_message",
    "deadline_of",
    "followup_alert_message",
    "header_message",
    "owner_of",
    "parse_time",
    "transfer_alert_message",
    "transfer_at_alert",
]

logger = logging.getLogger(__name__)


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def transfer_at_alert(alert: Alert, row: TrackedTransfer) -> Transfer:
    """The transfer as the alert saw it: its status then, and no buttons if it moved on."""
    transfer = transfer_from_row(row)
    payload = alert.payload or {}
    phase = str(payload.get("phase") or "")
    if phase in Phase._value2member_map_ and phase != row.phase:
        transfer = replace(
            transfer,
            phase=Phase(phase),
            raw_code=str(payload.get("raw_code", "")),
            raw_text=str(payload.get("raw_text", "")),
            actions=(),
        )
    return transfer


async def _superseded_by(session: AsyncSession, row: TrackedTransfer) -> str | None:
    if row.superseded_by_id is None:
        return None
    new = await get_transfer(session, transfer_id=row.superseded_by_id)
    return f"{new.ref} ({new.short_id})" if new is not None else None


async def transfer_alert_message(
    session: AsyncSession, alert: Alert, row: TrackedTransfer
) -> Message:
    stalled_since = (
        parse_time((alert.payload or {}).get("since")) if alert.kind == STALLED else None
    )
    return alert_message(
        alert.kind,
        transfer_at_alert(alert, row),
        short_id=row.short_id,
        stalled_since=stalled_since,
        superseded_by=await _superseded_by(session, row),
        owner=owner_of(row),
    )


def owner_of(row: TrackedTransfer) -> Owner | None:
    """Who has taken the transfer on, as the builders take it."""
    if row.owner_id is None:
        return None
    return Owner(row.owner_id, row.owned_at or row.updated_at)


def deadline_of(row: TrackedTransfer, followup: Followup | None) -> Deadline | None:
    """The provider's clock on the transfer's current status, if its follow-up has one."""
    if followup is None or followup.deadline_at is None or followup.raw_code != row.raw_code:
        return None
    known = descriptor_of(row.provider).deadlines.get(row.raw_code.strip())
    return Deadline(followup.deadline_at, known.outcome if known is not None else "due")


def followup_alert_message(
    alert: Alert, row: TrackedTransfer, followup: Followup, now: datetime
) -> Message:
    """A reminder, escalation or deadline warning as the transfer stands now."""
    payload = alert.payload or {}
    mention = payload.get("mention") or []
    return followup_message(
        alert.kind,
        transfer_from_row(row),
        short_id=row.short_id,
        since=followup.since,
        now=now,
        slot=int(payload.get("slot") or 0),
        level=int(payload.get("level") or 0),
        mention=[str(m) for m in mention] if isinstance(mention, list) else [],
        owner=owner_of(row),
        deadline=deadline_of(row, followup),
    )


async def header_message(session: AsyncSession, row: TrackedTransfer, now: datetime) -> Message:
    """The thread's first message as the transfer stands now."""
    stalled_since = None
    if row.stalled_alerted_for is not None and row.stalled_alerted_for == row.raw_code:
        stalled_since = await status_since(session, row, now=now)
    followup = await get_followup(session, transfer_id=row.id) if row.id is not None else None
    return thread_header(
        transfer_from_row(row),
        short_id=row.short_id,
        stalled_since=stalled_since,
        last_error=row.last_error,
        superseded_by=await _superseded_by(session, row),
        polled_at=row.last_polled_at,
        owner=owner_of(row),
        deadline=deadline_of(row, followup),
        now=now,
    )


def account_alert_message(alert: Alert) -> Message:
    payload = alert.payload or {}
    since = parse_time(payload.get("since")) or alert.created_at
    if alert.kind == UNREACHABLE:
        return outage_message(alert.account, since, str(payload.get("last_error") or ""))
    until = parse_time(payload.get("until")) or alert.created_at
    if alert.kind == FEED_DOWN:
        error = str(payload.get("last_error") or "")
        return feed_down_message(alert.account, since, error, silent=bool(payload.get("silent")))
    if alert.kind == FEED_UP:
        return feed_up_message(alert.account, since, until)
    return recovered_message(alert.account, since, until)
