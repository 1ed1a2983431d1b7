"""Sync: import the in-flight transfers of accounts whose provider can list them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.watcher.decisions import status_alert_key
from bot.watcher.intervals import PollPolicy, first_poll_delay
from bot.watcher.observe import SUPERSEDED_DETAIL
from bot.watcher.reservations import reserve_status_alert
from providers.base import Phase, Transfer
from providers.errors import ProviderError
from providers.registry import PROVIDER_LABELS, capabilities_of
from storage.audit import record_transfer_audit, transfer_name
from storage.errors import StorageError
from storage.transfers import WatchResult, get_transfer_by_ref, watch_transfer

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["AccountSync", "SyncReport", "import_transfer", "start_watching", "sync_accounts"]

logger = logging.getLogger(__name__)

PROVIDER_NAMES = PROVIDER_LABELS  # provider type -> "cPanel", "Gandi (v5)", from the descriptors


@dataclass
class AccountSync:
    """What a sync did for one account."""

    account: str
    imported: list[str] = field(default_factory=list)  # refs now watched
    already_tracked: list[str] = field(default_factory=list)
    error: str | None = None  # a user sentence: the account could not be listed
    skipped: str | None = None  # a user sentence: the provider can't list transfers


@dataclass
class SyncReport:
    """What a sync did, account by account."""

    accounts: list[AccountSync] = field(default_factory=list)

    @property
    def imported(self) -> dict[str, list[str]]:
        return {a.account: a.imported for a in self.accounts if a.imported}

    @property
    def already_tracked(self) -> dict[str, list[str]]:
        return {a.account: a.already_tracked for a in self.accounts if a.already_tracked}

    @property
    def errors(self) -> dict[str, str]:
        return {a.account: a.error for a in self.accounts if a.error}

    @property
    def skipped(self) -> dict[str, str]:
        return {a.account: a.skipped for a in self.accounts if a.skipped}

    def sentences(self) -> list[str]:
        """One plain sentence per account, for Slack."""
        lines = []
        for item in self.accounts:
            if item.error or item.skipped:
                lines.append(item.error or item.skipped or "")
                continue
            new = len(item.imported)
            lines.append(
                f"{item.account}: {new} new transfer{'s' if new != 1 else ''} now watched, "
                f"{len(item.already_tracked)} already tracked."
            )
        return lines


async def sync_accounts(
    services: Services, *, account: str | None = None, actor: str = "watcher"
) -> SyncReport:
    """Import in-flight transfers from every account (or ``account``) that can list them.

    Accounts are listed concurrently; one account's failure is its sentence in the
    report. Transfers already tracked are left as they are (an unwatched one stays
    unwatched); new ones are watched with ``actor`` as who watched them, and one found
    blocked gets its alert.
    """
    if account is not None:
        try:
            names = [services.registry.account(account).name]
        except ProviderError as exc:
            return SyncReport([AccountSync(account, error=exc.message)])
    else:
        names = services.registry.names
    results = await asyncio.gather(*(_sync_one(services, name, actor) for name in names))
    report = SyncReport(list(results))
    if report.imported:
        services.alert_posting.kick()  # transfers found blocked are told about
    logger.info("sync by %s: %s", actor, " ".join(report.sentences()))
    return report


async def _sync_one(services: Services, name: str, actor: str) -> AccountSync:
    result = AccountSync(name)
    provider_type = services.registry.account(name).type
    label = PROVIDER_NAMES.get(provider_type, provider_type)
    try:
        can_list = capabilities_of(provider_type).can_list
    except ProviderError as exc:
        result.error = exc.message
        return result
    if not can_list:
        result.skipped = (
            f"{name}: {label} can't list its transfers, so there is nothing to sync; "
            "watch each one with `/transfer watch`."
        )
        return result
    try:
        async with services.lanes.call(name, provider_type):
            transfers = await services.registry.get(name).list_transfers()
    except ProviderError as exc:
        result.error = f"{name}: {exc.message}"
        return result
    try:
        for transfer in transfers:
            if transfer.details.get(SUPERSEDED_DETAIL):
                continue  # its successor is in the list and is the one to follow
            if await import_transfer(services, transfer, actor=actor):
                result.imported.append(transfer.ref)
            else:
                result.already_tracked.append(transfer.ref)
    except StorageError as exc:
        result.error = f"{name}: {exc.message}"
    return result


async def import_transfer(
    services: Services, transfer: Transfer, *, actor: str, how: str = "sync"
) -> bool:
    """Watch a transfer found at the provider (by ``sync``, or its change feed): True if it
    is new; one found blocked gets its alert. A transfer already tracked is left alone."""
    now = services.now()
    async with services.db.session() as session:
        existing = await get_transfer_by_ref(session, account=transfer.account, ref=transfer.ref)
        if existing is not None:
            return False
        watched = await start_watching(session, services, transfer, actor=actor, now=now, how=how)
        row = watched.transfer
        if not watched.created:
            return False
        assert row.id is not None
        if transfer.phase is Phase.BLOCKED:
            key = status_alert_key(row.id, "blocked", None) + ":imported"
            await reserve_status_alert(session, row, "blocked", key=key, now=now)
    return True


async def start_watching(
    session: AsyncSession,
    services: Services,
    transfer: Transfer,
    *,
    actor: str,
    now: datetime,
    how: str | None = None,
) -> WatchResult:
    """Watch ``transfer``, just read from its provider, as watched by ``actor`` (a person,
    or imported by ``how``: sync or a change feed); its next poll comes when a poll would
    set it. A transfer that is watched anew (not already) is audited."""
    policy = PollPolicy.from_settings(services.settings.watcher)
    delay = first_poll_delay(transfer, now=now, policy=policy)
    result = await watch_transfer(
        session,
        transfer=transfer,
        watched_by=actor,
        now=now,
        poll_interval_seconds=delay,
        next_poll_at=now + timedelta(seconds=delay),
        message=f"Watched by {actor}." if how is None else f"Imported by {how}.",
    )
    if result.created or result.revived:
        named = transfer_name(result.transfer)
        detail = named if how is None else f"Imported {named} by {how}."
        await record_transfer_audit(
            session, transfer=result.transfer, actor=actor, verb="watched", detail=detail, now=now
        )
    return result
