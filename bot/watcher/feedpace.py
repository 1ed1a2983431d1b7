"""How a change feed paces polling: while an account's feed answers, its transfers are
polled only as a safety net (``safety_poll_seconds``); otherwise adaptively, as before."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from providers.registry import capabilities_of
from providers.settings import ProviderAccount
from storage.feeds import get_feed_state
from storage.models import ChangeFeedState

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["STALE_AFTER_READS", "feed_accounts", "feed_trusted", "safety_interval"]

logger = logging.getLogger(__name__)

STALE_AFTER_READS = 3  # a feed not read for this many of its intervals is not trusted


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
