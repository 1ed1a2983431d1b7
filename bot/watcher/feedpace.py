"""How a change feed paces polling: while an account's feed answers, its transfers are
polled only as a safety net (``safety_poll_seconds``); otherwise adaptively, as before."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.watcher.decisions import FEED_DOWN
from bot.watcher.reservations import reserve_outage
from providers.registry import capabilities_of
from providers.settings import ProviderAccount
from storage.feeds import (
    change_announced,
    get_feed_state,
    mark_feed_down_alerted,
    mark_feed_silent,
)
from storage.models import ChangeFeedState, TrackedTransfer
from storage.polling import poll_account_now

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "STALE_AFTER_READS",
    "feed_accounts",
    "feed_trusted",
    "note_unannounced_change",
    "safety_interval",
]

logger = logging.getLogger(__name__)

STALE_AFTER_READS = 3  # a feed not read for this many of its intervals is not trusted
SILENCE_READS = 3  # a change this many reads old that the feed never told of: it is silent


def feed_accounts(services: Services) -> list[ProviderAccount]:
    """The accounts whose change feed is turned on (and whose provider has one)."""
    return [
        account
        for account in services.settings.accounts
        if account.events and capabilities_of(account.type).change_feed
    ]


def feed_trusted(state: ChangeFeedState | None, account: ProviderAccount, now: datetime) -> bool:
    """The feed answered its last read, recently enough to rely on."""
    if state is None or state.consecutive_failures > 0 or state.last_ok_at is None:
        return False
    if state.silent_since is not None:
        return False  # it missed a change: polls carry on until it tells of one again
    age = (now - state.last_ok_at).total_seconds()
    return age <= STALE_AFTER_READS * account.event_poll_seconds + 60


async def safety_interval(
    session: AsyncSession, services: Services, account: str, now: datetime
) -> float | None:
    """Seconds between safety-net polls of ``account``'s transfers while its feed is
    trusted; None means poll adaptively."""
    settings = services.settings.account(account)
    if settings is None or not settings.events:
        return None
    state = await get_feed_state(session, account=account)
    if not feed_trusted(state, settings, now):
        return None
    return float(settings.safety_poll_seconds)


async def note_unannounced_change(
    session: AsyncSession, services: Services, row: TrackedTransfer, now: datetime
) -> str | None:
    """A poll (not the feed) found ``row``'s status changed while its account's feed was
    trusted. If the change is older than a few reads and the feed never told of it, the
    feed is silent: say so once, poll the account's transfers now, and trust the feed
    again only when it tells of a change. Returns the key of the alert reserved."""
    settings = services.settings.account(row.account)
    changed = row.changed_at
    if settings is None or not settings.events or changed is None or changed > now:
        return None  # when it changed is not known: nothing to hold against the feed
    bound = timedelta(seconds=SILENCE_READS * settings.event_poll_seconds)
    if now - changed < bound:
        return None  # the feed may simply not have been read since
    if await change_announced(session, account=row.account, ref=row.ref, since=changed):
        return None
    minutes = round((now - changed).total_seconds() / 60)
    error = (
        f"it said nothing of {row.subject} ({row.ref}) becoming {row.raw_code} "
        f"{minutes} min ago. Check the account's event settings at the provider."
    )
    if not await mark_feed_silent(session, account=row.account, error=error, now=now):
        return None  # said already
    if not await mark_feed_down_alerted(session, account=row.account):
        return None
    moved = await poll_account_now(session, account=row.account, now=now)
    message = f"The change feed of {row.account} is silent."
    key = await reserve_outage(
        session,
        FEED_DOWN,
        row.account,
        since=now,
        now=now,
        message=message,
        error=error,
        silent=True,
    )
    logger.warning("change feed of %s is silent: %s (%d polled now)", row.account, error, moved)
    return key
