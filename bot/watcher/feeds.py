"""Read each account's change feed (OpenSRS event notifications): a change about a tracked
transfer makes it due at once, one about an untracked transfer-in imports it (as ``sync``
would), and each change is acknowledged only after what it caused is recorded.

Exactly once, as far as anyone can see: a change's effect (the transfer due now, or
imported) and the note that the change was handled are written in one transaction; the
acknowledgement follows. A crash in between redelivers the change, which the note turns
into a bare acknowledgement; a duplicate or a change out of order only makes a transfer due
that a poll then reads as it is, so an alert (keyed by the recorded status change) is never
posted twice. Replicas read a feed once: each read holds the account's feed lease.

A feed that fails ``outage_after_failures`` reads in a row is said so once in the alert
channel; its account's transfers go back to adaptive polling at once, and a read that works
again says so once more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.watcher.decisions import FEED_DOWN, FEED_UP
from bot.watcher.feedpace import feed_accounts
from bot.watcher.observe import SUPERSEDED_DETAIL
from bot.watcher.reservations import reserve_outage, reserve_recovery
from bot.watcher.sync import import_transfer
from providers.base import Change, ChangeFeed
from providers.errors import ProviderError, TransferNotFound
from providers.settings import ProviderAccount
from storage.errors import StorageError
from storage.feeds import (
    claim_feed,
    mark_feed_down_alerted,
    prune_seen_changes,
    record_feed_failure,
    record_feed_ok,
    record_seen_change,
    release_feed,
    seen_change,
)
from storage.polling import poll_account_now, poll_ref_now

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["FeedReport", "read_change_feeds"]

logger = logging.getLogger(__name__)

POLL_LIMIT = 100  # the most one EVENT POLL returns
MAX_PAGES = 20  # polls in one read while they come full: 2,000 changes a read at most
LEASE_SHARE = 0.5  # no new page once this share of the feed's lease has gone by
KEEP_SEEN = timedelta(days=30)  # long past any redelivery
PRUNE_EVERY = 60  # reads: about hourly at the default event_poll_seconds


@dataclass
class FeedReport:
    """What one round of feed reads did, over every account read."""

    read: list[str] = field(default_factory=list)  # accounts whose feed this replica read
    changes: int = 0  # entries received (duplicates included)
    due: int = 0  # transfers made due at once
    imported: int = 0  # transfers-in imported
    acked: int = 0
    held: int = 0  # left unacknowledged for the next read (a poll held the transfer)
    failed: list[str] = field(default_factory=list)  # accounts whose feed read failed
    alerts: int = 0


async def read_change_feeds(services: Services) -> FeedReport:
    """Read every due feed this replica can lease; never raises for one account. The
    alerts it reserves are posted by the tick's kick that follows."""
    report = FeedReport()
    accounts = feed_accounts(services)
    if accounts:
        await asyncio.gather(*(_read_one(services, account, report) for account in accounts))
    if report.changes or report.failed:
        logger.info(
            "change feeds: %d changes, %d due, %d imported, %d acked, %d held; failed: %s",
            report.changes, report.due, report.imported, report.acked, report.held,
            ", ".join(report.failed) or "none",
        )  # fmt: skip
    return report


async def _read_one(services: Services, account: ProviderAccount, report: FeedReport) -> None:
    """Lease the feed, read it, act on its changes, then (in one transaction) record how
    the read went and give the lease back."""
    name, owner = account.name, services.instance
    now = services.now()
    lease = services.settings.watcher.lease_seconds
    try:
        async with services.db.session() as session:
            if not await claim_feed(
                session, account=name, owner=owner, now=now, lease_seconds=lease
            ):
                return  # not due, or another replica reads it
    except StorageError as exc:
        logger.warning("change feed of %s not read: %s", name, exc.message)
        return
    report.read.append(name)
    outcome: str | int | None = None  # an error sentence, or how many changes came
    try:
        outcome = await _read_leased(services, account, report)
    except StorageError as exc:  # the lease runs out; the changes come again
        logger.warning("change feed of %s: %s", name, exc.message)
    except Exception:
        logger.exception("reading the change feed of %s failed unexpectedly", name)
    next_at = services.now() + timedelta(seconds=account.event_poll_seconds)
    try:
        async with services.db.session() as session:
            if isinstance(outcome, str):
                threshold = services.settings.watcher.outage_after_failures
                await _failed(session, account, outcome, now, report, threshold)
            elif isinstance(outcome, int):
                await _answered(session, account, outcome, now, report)
            await release_feed(session, account=name, owner=owner, next_poll_at=next_at)
    except StorageError as exc:
        logger.warning("change feed lease of %s not given back: %s", name, exc.message)


async def _read_leased(
    services: Services, account: ProviderAccount, report: FeedReport
) -> str | int:
    """Read the feed and act on each change, page after page while pages come full (a
    backlog after downtime drains in one read, not a hundred a minute); the error
    sentence, or how many changes came."""
    name = account.name
    client = services.registry.get(name)
    if not isinstance(client, ChangeFeed):
        return f"{name} offers no change feed."
    read = _LeasedRead(services, client, account, report)
    received = 0
    stop_at = time.monotonic() + services.settings.watcher.lease_seconds * LEASE_SHARE
    for _ in range(MAX_PAGES):
        try:
            changes = await client.poll_changes(POLL_LIMIT)
        except ProviderError as exc:
            return exc.message if received == 0 else received
        received += len(changes)
        acked = await read.act_on(changes)
        if len(changes) < POLL_LIMIT or acked == 0 or time.monotonic() > stop_at:
            break  # drained; its head waits for a poll in flight; or the lease runs short
    return received


@dataclass
class _LeasedRead:
    """One read of an account's feed while this replica holds its lease: what each change
    causes is recorded, then the change is acknowledged."""

    services: Services
    client: ChangeFeed
    account: ProviderAccount
    report: FeedReport

    async def act_on(self, changes: Sequence[Change]) -> int:
        """Record what each change causes, then acknowledge it; returns how many were."""
        report = self.report
        report.changes += len(changes)
        handled: set[str] = set()
        acked = 0
        for change in changes:  # in any order: each only says which transfer to read
            if change.id in handled:
                continue  # listed twice in one reply
            if not await self.handle(change):
                report.held += 1
                continue
            handled.add(change.id)
            try:
                await self.client.ack_change(change.id)
                report.acked += 1
                acked += 1
            except ProviderError as exc:  # it comes again, and is only acknowledged then
                logger.info("change %s of %s not acknowledged: %s", change.id, self.account.name,
                            exc.message)  # fmt: skip
        return acked

    async def handle(self, change: Change) -> bool:
        """Record what ``change`` causes; True once it is recorded (it may be acknowledged)."""
        name, now = self.account.name, self.services.now()
        async with self.services.db.session() as session:
            if await seen_change(session, account=name, change_id=change.id):
                return True  # a redelivery: its effect is already recorded
            outcome = await poll_ref_now(session, account=name, ref=change.ref, now=now)
            if change.ref and outcome == "leased":
                return False  # a poll in flight may have read it before the change: ask again
            if not change.ref or outcome != "untracked" or not change.transfer_in:
                self.report.due += int(outcome == "due" and bool(change.ref))
                await record_seen_change(
                    session, account=name, change_id=change.id, ref=change.ref, now=now
                )
                return True
        if not await self.import_change(change):
            return False
        async with self.services.db.session() as session:
            await record_seen_change(
                session, account=name, change_id=change.id, ref=change.ref, now=now
            )
        return True

    async def import_change(self, change: Change) -> bool:
        """Import the transfer-in a change is about (sync's rules: in flight, not
        superseded); False if it could not be read now (the change comes again)."""
        provider = self.services.registry.get(self.account.name)
        try:
            transfer = await provider.get_transfer(change.ref)
        except TransferNotFound:
            logger.info("change %s names order %s, which %s does not know", change.id, change.ref,
                        self.account.name)  # fmt: skip
            return True
        except ProviderError as exc:
            logger.info("change %s: order %s not read: %s", change.id, change.ref, exc.message)
            return False
        if transfer.phase.finished or transfer.details.get(SUPERSEDED_DETAIL):
            return True  # sync would not import it either
        if await import_transfer(self.services, transfer, actor="watcher", how="its change feed"):
            self.report.imported += 1
        return True


async def _answered(
    session: AsyncSession, account: ProviderAccount, changes: int, now: datetime,
    report: FeedReport,
) -> None:  # fmt: skip
    """The feed answered: at the end of a failure it said, say it recovered."""
    before = await record_feed_ok(session, account=account.name, now=now, changes=changes)
    reads = int(now.timestamp() // account.event_poll_seconds)
    if changes == 0 and reads % PRUNE_EVERY == 0:  # a quiet read: forget old changes
        await prune_seen_changes(session, before=now - KEEP_SEEN)
    if before is None or not before.down_alerted:
        return
    since = before.failing_since or before.silent_since or now
    key = await reserve_recovery(session, FEED_UP, account.name, since=since, now=now)
    logger.info("change feed of %s answers again", account.name)
    report.alerts += int(key is not None)


async def _failed(
    session: AsyncSession, account: ProviderAccount, error: str, now: datetime,
    report: FeedReport, threshold: int,
) -> None:  # fmt: skip
    """One more failed read; at the threshold, say so once and poll every transfer now."""
    name = account.name
    report.failed.append(name)
    state = await record_feed_failure(session, account=name, error=error, now=now)
    if state.consecutive_failures < threshold or state.down_alerted:
        return
    if not await mark_feed_down_alerted(session, account=name):
        return  # another replica said it
    since = state.failing_since or now
    moved = await poll_account_now(session, account=name, now=now)
    message = f"The change feed of {name} is not answering."
    key = await reserve_outage(
        session, FEED_DOWN, name, since=since, now=now, message=message, error=error
    )
    logger.warning("change feed of %s is down (%s); %d transfers polled now", name, error, moved)
    report.alerts += int(key is not None)
