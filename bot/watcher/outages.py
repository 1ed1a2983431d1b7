"""Account outages: one "unreachable" alert and one "recovered", and polling backed off between."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.watcher.decisions import RECOVERED, UNREACHABLE
from bot.watcher.intervals import PollPolicy, outage_probe_delay
from bot.watcher.reservations import reserve_outage, reserve_recovery
from providers.errors import AuthenticationFailed, BadReply, ProviderError, Unavailable
from storage.health import (
    list_account_health,
    mark_outage_alerted,
    record_account_failure,
    record_account_ok,
)
from storage.models import AccountHealth

__all__ = ["AccountWatch", "Outage", "counts_against_account", "record_account_result"]

logger = logging.getLogger(__name__)

# errors that say the account as a whole is not answering, not that one transfer is odd
_ACCOUNT_ERRORS = (Unavailable, AuthenticationFailed, BadReply)


def counts_against_account(error: ProviderError) -> bool:
    """True for an error that says the account is down (not one transfer's trouble)."""
    return isinstance(error, _ACCOUNT_ERRORS)


@dataclass(frozen=True, slots=True)
class Outage:
    """An account that failed ``outage_after_failures`` calls in a row, and when to probe."""

    account: str
    failures: int
    since: datetime
    last_failure_at: datetime
    next_probe_at: datetime


def _outage_of(health: AccountHealth, *, threshold: int, policy: PollPolicy) -> Outage | None:
    if health.consecutive_failures < threshold:
        return None
    last = health.updated_at
    delay = outage_probe_delay(health.consecutive_failures - threshold, policy)
    return Outage(
        account=health.account,
        failures=health.consecutive_failures,
        since=health.failing_since or last,
        last_failure_at=last,
        next_probe_at=last + timedelta(seconds=delay),
    )


@dataclass
class AccountWatch:
    """One poll pass's view of account health: who is down, and one probe each per pass."""

    threshold: int
    policy: PollPolicy
    outages: dict[str, Outage] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)  # any failure not yet cleared
    probing: set[str] = field(default_factory=set)

    @classmethod
    async def load(
        cls, session: AsyncSession, *, threshold: int, policy: PollPolicy
    ) -> AccountWatch:
        watch = cls(threshold=threshold, policy=policy)
        for health in await list_account_health(session):
            if health.consecutive_failures > 0:
                watch.failing.add(health.account)
            outage = _outage_of(health, threshold=threshold, policy=policy)
            if outage is not None:
                watch.outages[health.account] = outage
        return watch

    def hold_until(self, account: str, now: datetime) -> datetime | None:
        """When a transfer of a down account may be polled: None means now (it is the
        probe, or the account is up); else the time to put it off until."""
        outage = self.outages.get(account)
        if outage is None:
            return None
        if now >= outage.next_probe_at and account not in self.probing:
            self.probing.add(account)
            logger.info("probing provider account %s, down since %s", account, outage.since)
            return None
        after = max(outage.next_probe_at, now) + timedelta(seconds=self.policy.min_interval)
        return after

    def note(self, health: AccountHealth | None, account: str) -> None:
        """Take in the health row written after a call."""
        if health is None or health.consecutive_failures == 0:
            self.failing.discard(account)
            self.outages.pop(account, None)
            return
        self.failing.add(account)
        outage = _outage_of(health, threshold=self.threshold, policy=self.policy)
        if outage is not None:
            self.outages[account] = outage


async def record_account_result(
    session: AsyncSession,
    watch: AccountWatch,
    *,
    account: str,
    error: ProviderError | None,
    now: datetime,
) -> list[str]:
    """Count a call to ``account`` as answered or failed; reserve the outage or recovery
    alert when it crosses the line. Returns the keys of alerts reserved."""
    if error is None:
        if account not in watch.failing:
            return []  # nothing to clear: spare the database a write per poll
        before = await record_account_ok(session, account=account, now=now)
        watch.note(None, account)
        if before is None or not before.outage_alerted:
            return []
        return await _reserve_recovered(session, before, now)
    if not counts_against_account(error):
        return []
    health = await record_account_failure(session, account=account, error=error.message, now=now)
    watch.note(health, account)
    if health.consecutive_failures < watch.threshold or health.outage_alerted:
        return []
    if not await mark_outage_alerted(session, account=account):
        return []  # another replica said it
    since = health.failing_since or now
    message = f"Provider account {account} unreachable since {since.isoformat()}."
    key = await reserve_outage(
        session, UNREACHABLE, account, since=since, now=now, message=message, error=error.message
    )
    logger.warning("provider account %s is unreachable: %s", account, error.message)
    return [key] if key is not None else []


async def _reserve_recovered(
    session: AsyncSession, before: AccountHealth, now: datetime
) -> list[str]:
    since = before.failing_since or now
    key = await reserve_recovery(session, RECOVERED, before.account, since=since, now=now)
    logger.info("provider account %s answers again", before.account)
    return [key] if key is not None else []
