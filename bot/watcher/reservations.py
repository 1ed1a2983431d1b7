"""The watcher's alerts about a transfer's status and about an account, reserved with the
payload their messages are built from: ``bot.watcher.messages`` reads it back, so an alert
posted late still tells what happened then, and a recovery finds the outage it ends."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.watcher.decisions import (
    FEED_DOWN,
    FEED_UP,
    RECOVERED,
    UNREACHABLE,
    feed_down_key,
    feed_up_key,
    outage_key,
    recovery_key,
)
from storage.alerts import reserve_alert
from storage.models import TrackedTransfer

__all__ = ["reserve_outage", "reserve_recovery", "reserve_status_alert"]

logger = logging.getLogger(__name__)

# an account's alerts: one key per outage (``since``) and kind
_ACCOUNT_KEYS: dict[str, Callable[[str, datetime], str]] = {
    UNREACHABLE: outage_key,
    RECOVERED: recovery_key,
    FEED_DOWN: feed_down_key,
    FEED_UP: feed_up_key,
}
_ENDS = {RECOVERED: UNREACHABLE, FEED_UP: FEED_DOWN}  # the outage kind a recovery ends


async def reserve_status_alert(
    session: AsyncSession,
    row: TrackedTransfer,
    kind: str,
    *,
    key: str,
    now: datetime,
    message: str | None = None,
    since: datetime | None = None,
) -> str | None:
    """Reserve ``kind`` (blocked, completed, stalled...) about ``row``'s status as it is now;
    ``since``: when a stall began. The message says the status unless given. Returns the
    key, or None when an alert with it exists already."""
    assert row.id is not None
    payload = {"phase": row.phase, "raw_code": row.raw_code, "raw_text": row.raw_text}
    if since is not None:
        payload["since"] = since.isoformat()
    alert = await reserve_alert(
        session,
        key=key,
        kind=kind,
        account=row.account,
        transfer_id=row.id,
        message=message or f"{row.subject} is {row.phase} ({row.provider} {row.raw_code}).",
        payload=payload,
        now=now,
    )
    return key if alert is not None else None


async def reserve_outage(
    session: AsyncSession,
    kind: str,
    account: str,
    *,
    since: datetime,
    now: datetime,
    message: str,
    error: str,
    silent: bool = False,
) -> str | None:
    """``account`` (UNREACHABLE), or its change feed (FEED_DOWN), stopped answering at
    ``since``, the last time saying ``error``. Returns the key, or None if said already."""
    key = _ACCOUNT_KEYS[kind](account, since)
    payload: dict[str, object] = {"since": since.isoformat(), "last_error": error}
    if silent:
        payload["silent"] = True  # the feed answers, but said nothing of a change
    alert = await reserve_alert(
        session, key=key, kind=kind, account=account, message=message, payload=payload, now=now
    )
    return key if alert is not None else None


async def reserve_recovery(
    session: AsyncSession, kind: str, account: str, *, since: datetime, now: datetime
) -> str | None:
    """``account`` (RECOVERED), or its change feed (FEED_UP), answers again after the outage
    said since ``since``; the alert names that outage's key, to answer in its thread.
    Returns the key, or None if said already."""
    key = _ACCOUNT_KEYS[kind](account, since)
    what = f"Provider account {account}" if kind == RECOVERED else f"The change feed of {account}"
    alert = await reserve_alert(
        session,
        key=key,
        kind=kind,
        account=account,
        message=f"{what} answers again.",
        payload={
            "since": since.isoformat(),
            "until": now.isoformat(),
            "outage_key": _ACCOUNT_KEYS[_ENDS[kind]](account, since),
        },
        now=now,
    )
    return key if alert is not None else None
