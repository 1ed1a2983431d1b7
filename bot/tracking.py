"""Which transfer a person means, and keeping track of it: watch, unwatch, refresh, list."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.slack.blocks import Deadline, Row
from bot.watcher.messages import deadline_of
from bot.watcher.observe import observe_transfer
from bot.watcher.sync import start_watching
from providers.base import Phase, Transfer
from providers.errors import ProviderError
from storage.audit import record_transfer_audit
from storage.followups import get_followup
from storage.models import TrackedTransfer
from storage.snapshots import transfer_from_row
from storage.transfers import (
    count_transfers,
    find_transfers,
    get_transfer,
    get_transfer_by_short_id,
    list_transfers,
    unwatch_transfer,
)

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "LIST_PAGE_SIZE",
    "Fresh",
    "ListPage",
    "Watched",
    "home_rows",
    "list_page",
    "not_found",
    "refresh_transfer",
    "resolve_ref",
    "transfer_by_short_id",
    "unwatch",
    "watch",
]

logger = logging.getLogger(__name__)

LIST_PAGE_SIZE = 20
HOME_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Fresh:
    """A transfer as it stands now: the provider's answer, or the last one and why not newer."""

    row: TrackedTransfer
    snapshot: Transfer
    error: str | None = None  # the provider's error sentence when it could not be asked
    stalled_since: datetime | None = None
    superseded_by: str | None = None  # "t-xxxx (ref)" of the order that replaced it
    deadline: Deadline | None = None  # the provider's clock on its status, if any
    now: datetime | None = None  # when it was asked (the card counts the days left from it)


@dataclass(frozen=True, slots=True)
class Watched:
    row: TrackedTransfer
    snapshot: Transfer
    created: bool
    revived: bool


@dataclass(frozen=True, slots=True)
class ListPage:
    rows: list[Row]
    page: int
    pages: int
    total: int


def is_stalled(row: TrackedTransfer) -> bool:
    """The watcher flagged the transfer's current status as stuck for too long."""
    return bool(row.stalled_alerted_for) and row.stalled_alerted_for == row.raw_code


def row_of(row: TrackedTransfer) -> Row:
    return Row(row.short_id, transfer_from_row(row), is_stalled(row))


async def resolve_ref(
    services: Services, ref: str, *, account: str | None = None
) -> list[TrackedTransfer]:
    """The tracked transfers ``ref`` may mean: one when it is clear, several to choose from.

    A short id wins outright. Otherwise, when exactly one of the matches is still watched
    (an OpenSRS order and the one it was resubmitted as share a domain), that one is meant.
    """
    async with services.db.session() as session:
        matches = await find_transfers(session, query=ref, account=account)
    exact = [row for row in matches if row.short_id == ref.strip().lower()]
    if exact:
        return exact[:1]
    watched = [row for row in matches if row.watching]
    if len(watched) == 1:
        return watched
    return watched or matches


def not_found(services: Services, ref: str) -> str:
    """The sentence for a ref no tracked transfer answers to."""
    names = services.registry.names
    example = names[0] if names else "<account>"
    return (
        f"No tracked transfer answers to `{_quote(ref)}`; start tracking it with "
        f"`{services.settings.slack.command} watch {example} {_quote(ref)}`"
        + (f" (accounts: {', '.join(names)})." if names else ".")
    )


async def transfer_by_short_id(services: Services, short_id: str) -> TrackedTransfer | None:
    async with services.db.session() as session:
        return await get_transfer_by_short_id(session, short_id=short_id)


async def refresh_transfer(services: Services, row: TrackedTransfer, *, actor: str) -> Fresh:
    """Ask the provider for the transfer now and record what it says (alerts included).

    A provider that can't answer leaves the stored snapshot, with its sentence as ``error``.
    """
    assert row.id is not None
    stalled_since = None
    try:
        async with services.lanes.call(row.account, row.provider):
            snapshot = await services.registry.get(row.account).get_transfer(row.ref, detailed=True)
    except ProviderError as exc:
        logger.info("refresh of %s failed: %s", row.short_id, exc.kind)
        return await _described(services, row, transfer_from_row(row), exc.message, None)
    seen = await observe_transfer(services, transfer_id=row.id, snapshot=snapshot, actor=actor)
    if seen is not None:
        row = seen.transfer
        stalled_since = seen.status_since if is_stalled(row) else None
    return await _described(services, row, snapshot, None, stalled_since)


async def _described(
    services: Services,
    row: TrackedTransfer,
    snapshot: Transfer,
    error: str | None,
    stalled_since: datetime | None,
) -> Fresh:
    superseded = None
    async with services.db.session() as session:
        if row.superseded_by_id is not None:
            new = await get_transfer(session, transfer_id=row.superseded_by_id)
            superseded = f"{new.short_id} ({new.ref})" if new is not None else None
        followup = await get_followup(session, transfer_id=row.id) if row.id else None
    deadline = deadline_of(row, followup) or _provider_deadline(services, row, snapshot)
    return Fresh(row, snapshot, error, stalled_since, superseded, deadline, services.now())


def _provider_deadline(
    services: Services, row: TrackedTransfer, snapshot: Transfer
) -> Deadline | None:
    """Before the watcher has started its clock: the provider's own change time, if it
    gives one, plus the status's window."""
    if snapshot.phase.finished or snapshot.changed_at is None or snapshot.raw_code != row.raw_code:
        return None
    window = services.settings.followups.deadline_for(row.provider, row.raw_code)
    if window is None:
        return None
    return Deadline(snapshot.changed_at + window.after, window.outcome)


async def watch(services: Services, *, account: str, ref: str, actor: str) -> Watched:
    """Start tracking ``ref`` in ``account``; raises ProviderError with the provider's sentence."""
    provider = services.registry.get(account)
    async with services.lanes.call(account, provider.account.type):
        snapshot = await provider.get_transfer(ref, detailed=True)
    async with services.db.session() as session:
        result = await start_watching(session, services, snapshot, actor=actor, now=services.now())
    return Watched(result.transfer, snapshot, result.created, result.revived)


async def unwatch(services: Services, row: TrackedTransfer, *, actor: str) -> bool:
    """Stop tracking; False when it was not being watched."""
    assert row.id is not None
    now = services.now()
    async with services.db.session() as session:
        stopped = await unwatch_transfer(
            session, transfer_id=row.id, now=now, message=f"Unwatched by {actor}."
        )
        if stopped:
            await record_transfer_audit(
                session, transfer=row, actor=actor, verb="unwatched", now=now
            )
    return stopped


async def list_page(
    services: Services,
    *,
    provider: str | None = None,
    phase: Phase | None = None,
    page: int = 1,
    per_page: int = LIST_PAGE_SIZE,
) -> ListPage:
    """One page of the watched transfers, newest change first; a page past the end is the last."""
    async with services.db.session() as session:
        total = await count_transfers(session, provider=provider, phase=phase)
        pages = max(1, math.ceil(total / per_page))
        page = min(max(1, page), pages)
        rows = await list_transfers(
            session,
            provider=provider,
            phase=phase,
            limit=per_page,
            offset=(page - 1) * per_page,
        )
    return ListPage([row_of(row) for row in rows], page, pages, total)


async def home_rows(services: Services, *, limit: int = HOME_LIMIT) -> list[Row]:
    """The watched transfers for the Home tab, newest change first."""
    async with services.db.session() as session:
        rows = await list_transfers(session, limit=limit)
    return [row_of(row) for row in rows]


def _quote(text: str) -> str:
    cleaned = "".join(c for c in text if c not in "`<>&*_~")
    return cleaned if len(cleaned) <= 60 else cleaned[:59] + "…"
