"""Tracked transfers: watch, unwatch, find, list, supersede, and their event history."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from providers.base import FINISHED_PHASES, Phase, Transfer
from storage._bulk import write_rows
from storage._dialect import dialect_insert
from storage.models import EventKind, TrackedTransfer, TransferEvent
from storage.snapshots import SNAPSHOT_COLUMNS, transfer_columns
from storage.types import utc_now

__all__ = [
    "DEFAULT_POLL_INTERVAL_SECONDS",
    "SHORT_ID_ALPHABET",
    "WatchResult",
    "add_event",
    "count_transfers",
    "find_transfers",
    "get_transfer",
    "get_transfer_by_ref",
    "get_transfer_by_short_id",
    "get_transfers",
    "list_events",
    "list_in_flight_transfers",
    "list_transfers",
    "mark_stall_alerted",
    "new_short_id",
    "record_superseded",
    "set_alert_thread",
    "unwatch_transfer",
    "watch_transfer",
]

logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_SECONDS = 300.0
# No 0/o, 1/l/i: short ids are read aloud and typed from screenshots.
SHORT_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_SHORT_ID_LENGTH = 4
_SHORT_ID_TRIES = 8


@dataclass(frozen=True, slots=True)
class WatchResult:
    transfer: TrackedTransfer
    created: bool  # first time we track this account + ref
    revived: bool  # it was known but no longer watched


def new_short_id(length: int = _SHORT_ID_LENGTH) -> str:
    """A short id for Slack such as ``t-4k7q``."""
    return "t-" + "".join(secrets.choice(SHORT_ID_ALPHABET) for _ in range(length))


async def get_transfer(session: AsyncSession, *, transfer_id: int) -> TrackedTransfer | None:
    return await session.get(TrackedTransfer, transfer_id, populate_existing=True)


async def get_transfers(
    session: AsyncSession, *, transfer_ids: Iterable[int]
) -> dict[int, TrackedTransfer]:
    """The transfers with these ids that exist, by id (one query)."""
    wanted = sorted(set(transfer_ids))
    if not wanted:
        return {}
    stmt = select(TrackedTransfer).where(col(TrackedTransfer.id).in_(wanted))
    rows = await session.scalars(stmt.execution_options(populate_existing=True))
    return {row.id: row for row in rows if row.id is not None}


async def get_transfer_by_ref(
    session: AsyncSession, *, account: str, ref: str
) -> TrackedTransfer | None:
    stmt = select(TrackedTransfer).where(
        col(TrackedTransfer.account) == account, col(TrackedTransfer.ref) == ref
    )
    return (await session.scalars(stmt.execution_options(populate_existing=True))).first()


async def get_transfer_by_short_id(
    session: AsyncSession, *, short_id: str
) -> TrackedTransfer | None:
    stmt = select(TrackedTransfer).where(col(TrackedTransfer.short_id) == short_id.strip().lower())
    return (await session.scalars(stmt)).first()


async def find_transfers(
    session: AsyncSession, *, query: str, account: str | None = None
) -> list[TrackedTransfer]:
    """Every transfer ``query`` may mean: a short id, a provider ref, or a subject (domain).

    More than one match means the bot should ask which one. Watched ones come first.
    """
    text = query.strip()
    if not text:
        return []
    stmt = select(TrackedTransfer).where(
        or_(
            col(TrackedTransfer.short_id) == text.lower(),
            col(TrackedTransfer.ref) == text,
            func.lower(col(TrackedTransfer.subject)) == text.lower().rstrip("."),
        )
    )
    if account is not None:
        stmt = stmt.where(col(TrackedTransfer.account) == account)
    stmt = stmt.order_by(col(TrackedTransfer.watching).desc(), col(TrackedTransfer.id).desc())
    return list(await session.scalars(stmt))


def _list_conditions(
    *,
    provider: str | None,
    phase: Phase | str | None,
    account: str | None,
    watching: bool | None,
) -> list[ColumnElement[bool]]:
    conditions = []
    if provider is not None:
        conditions.append(col(TrackedTransfer.provider) == provider)
    if phase is not None:
        conditions.append(col(TrackedTransfer.phase) == Phase(phase).value)
    if account is not None:
        conditions.append(col(TrackedTransfer.account) == account)
    if watching is not None:
        conditions.append(col(TrackedTransfer.watching) == watching)
    return conditions


async def list_transfers(
    session: AsyncSession,
    *,
    provider: str | None = None,
    phase: Phase | str | None = None,
    account: str | None = None,
    watching: bool | None = True,
    limit: int = 20,
    offset: int = 0,
) -> list[TrackedTransfer]:
    """Tracked transfers, newest provider change first (first seen when the provider gives none)."""
    newest = func.coalesce(col(TrackedTransfer.changed_at), col(TrackedTransfer.first_seen_at))
    conditions = _list_conditions(
        provider=provider, phase=phase, account=account, watching=watching
    )
    stmt = (
        select(TrackedTransfer)
        .where(*conditions)
        .order_by(newest.desc(), col(TrackedTransfer.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(await session.scalars(stmt))


async def count_transfers(
    session: AsyncSession,
    *,
    provider: str | None = None,
    phase: Phase | str | None = None,
    account: str | None = None,
    watching: bool | None = True,
) -> int:
    conditions = _list_conditions(
        provider=provider, phase=phase, account=account, watching=watching
    )
    stmt = select(func.count()).select_from(TrackedTransfer).where(*conditions)
    return int((await session.execute(stmt)).scalar_one())


async def count_transfers_by_phase(
    session: AsyncSession, *, watching: bool | None = True
) -> dict[str, int]:
    """How many transfers are in each phase (phases with none are left out)."""
    stmt = select(col(TrackedTransfer.phase), func.count()).group_by(col(TrackedTransfer.phase))
    if watching is not None:
        stmt = stmt.where(col(TrackedTransfer.watching) == watching)
    return {str(phase): int(count) for phase, count in (await session.execute(stmt)).all()}


async def list_in_flight_transfers(
    session: AsyncSession, *, limit: int = 500
) -> list[TrackedTransfer]:
    """Watched transfers not finished yet, most recently updated first."""
    stmt = (
        select(TrackedTransfer)
        .where(
            col(TrackedTransfer.watching).is_(True),
            col(TrackedTransfer.phase).not_in([p.value for p in FINISHED_PHASES]),
        )
        .order_by(col(TrackedTransfer.updated_at).desc())
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def add_event(
    session: AsyncSession,
    *,
    transfer: TrackedTransfer,
    kind: EventKind,
    now: datetime,
    message: str = "",
) -> TransferEvent:
    """Append an event carrying the transfer's current phase and raw status."""
    assert transfer.id is not None
    event = TransferEvent(
        transfer_id=transfer.id,
        at=now,
        kind=kind.value,
        phase=transfer.phase,
        raw_code=transfer.raw_code,
        raw_text=transfer.raw_text,
        message=message,
    )
    session.add(event)
    await session.flush()
    return event


async def list_events(
    session: AsyncSession, *, transfer_id: int, limit: int = 20
) -> list[TransferEvent]:
    """The most recent ``limit`` events of a transfer, oldest first."""
    stmt = (
        select(TransferEvent)
        .where(col(TransferEvent.transfer_id) == transfer_id)
        .order_by(col(TransferEvent.id).desc())
        .limit(limit)
    )
    return list(reversed(list(await session.scalars(stmt))))


async def watch_transfer(
    session: AsyncSession,
    *,
    transfer: Transfer,
    watched_by: str,
    now: datetime | None = None,
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS,
    next_poll_at: datetime | None = None,
    message: str = "",
) -> WatchResult:
    """Start (or keep) watching a transfer, upserting by account + ref with its snapshot.

    Re-watching an unwatched transfer revives it. The first poll is due at ``next_poll_at``
    (default: one interval from now, since ``transfer`` was just fetched).
    """
    now = now or utc_now()
    due = next_poll_at or now + timedelta(seconds=poll_interval_seconds)
    row = await _insert_new(session, transfer, watched_by, now, poll_interval_seconds, due)
    if row is not None:
        await add_event(session, transfer=row, kind=EventKind.WATCHED, now=now, message=message)
        return WatchResult(row, created=True, revived=False)
    existing = await get_transfer_by_ref(session, account=transfer.account, ref=transfer.ref)
    assert existing is not None  # the insert conflicted on (account, ref)
    revived = not existing.watching
    snapshot = transfer_columns(transfer)
    if any(getattr(existing, name) != snapshot[name] for name in SNAPSHOT_COLUMNS):
        for name in SNAPSHOT_COLUMNS:
            setattr(existing, name, snapshot[name])
        existing.version += 1
    if revived:
        existing.watching = True
        existing.watched_by = watched_by
        existing.poll_interval_seconds = poll_interval_seconds
        existing.consecutive_errors = 0
        existing.last_error = None
    existing.next_poll_at = min(due, existing.next_poll_at or due)
    existing.updated_at = now
    await session.flush()
    if revived:
        await add_event(
            session, transfer=existing, kind=EventKind.WATCHED, now=now, message=message
        )
    return WatchResult(existing, created=False, revived=revived)


async def _insert_new(
    session: AsyncSession,
    transfer: Transfer,
    watched_by: str,
    now: datetime,
    poll_interval_seconds: float,
    next_poll_at: datetime,
) -> TrackedTransfer | None:
    """Insert a new row; None when (account, ref) exists. Retries short-id collisions."""
    for _ in range(_SHORT_ID_TRIES):
        candidate = TrackedTransfer(
            short_id=new_short_id(),
            watched_by=watched_by,
            first_seen_at=now,
            updated_at=now,
            watching=True,
            poll_interval_seconds=poll_interval_seconds,
            next_poll_at=next_poll_at,
            **transfer_columns(transfer),
        )
        values = candidate.model_dump(exclude={"id"})
        stmt = (
            dialect_insert(session, TrackedTransfer)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(TrackedTransfer)
        )
        row: TrackedTransfer | None = (await session.scalars(stmt)).first()
        if row is not None:
            return row
        if await get_transfer_by_ref(session, account=transfer.account, ref=transfer.ref):
            return None
        logger.info("short id %s taken; drawing another", candidate.short_id)
    raise RuntimeError("could not draw a free short id")  # 31**4 ids: a full table or a bug


async def unwatch_transfer(
    session: AsyncSession, *, transfer_id: int, now: datetime | None = None, message: str = ""
) -> bool:
    """Stop watching; True if it was being watched. Its history and alert thread are kept."""
    now = now or utc_now()
    stmt = (
        update(TrackedTransfer)
        .where(col(TrackedTransfer.id) == transfer_id, col(TrackedTransfer.watching).is_(True))
        .values(
            watching=False,
            next_poll_at=None,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    if await write_rows(session, stmt) != 1:
        return False
    row = await get_transfer(session, transfer_id=transfer_id)
    assert row is not None
    await add_event(session, transfer=row, kind=EventKind.UNWATCHED, now=now, message=message)
    return True


async def record_superseded(
    session: AsyncSession,
    *,
    transfer_id: int,
    new_ref: str,
    now: datetime | None = None,
    transfer: Transfer | None = None,
    watched_by: str | None = None,
) -> TrackedTransfer | None:
    """The old transfer was resubmitted as ``new_ref`` (OpenSRS): watch the new one instead.

    The new transfer is linked both ways, inherits the old one's alert thread (one thread
    for the whole story), and is due for polling now. ``transfer`` is the new one's
    snapshot when the provider gave one. Returns the new transfer, or None if the old one
    is unknown.
    """
    now = now or utc_now()
    old = await get_transfer(session, transfer_id=transfer_id)
    if old is None:
        return None
    snapshot = transfer or Transfer(
        account=old.account,
        provider=old.provider,
        ref=new_ref,
        subject=old.subject,
        phase=Phase.PENDING,
        raw_code="",
        raw_text="",
    )
    watched = await watch_transfer(
        session,
        transfer=snapshot,
        watched_by=watched_by or old.watched_by or "system",
        now=now,
        poll_interval_seconds=old.poll_interval_seconds,
        next_poll_at=now,
        message=f"Resubmission of {old.ref} ({old.short_id}).",
    )
    new = watched.transfer
    new.supersedes_id = old.id
    if new.alert_ts is None:
        new.alert_channel, new.alert_ts = old.alert_channel, old.alert_ts
    old.superseded_by_id = new.id
    old.watching = False
    old.next_poll_at = None
    old.lease_owner = old.lease_expires_at = None
    old.updated_at = now
    await session.flush()
    await add_event(
        session,
        transfer=old,
        kind=EventKind.SUPERSEDED,
        now=now,
        message=f"Resubmitted as {new_ref} ({new.short_id}).",
    )
    return new


async def set_alert_thread(
    session: AsyncSession, *, transfer_id: int, channel: str, ts: str
) -> bool:
    """Remember the alert thread's first message; True only for the first caller."""
    stmt = (
        update(TrackedTransfer)
        .where(col(TrackedTransfer.id) == transfer_id, col(TrackedTransfer.alert_ts).is_(None))
        .values(alert_channel=channel, alert_ts=ts)
    )
    return await write_rows(session, stmt) == 1


async def mark_stall_alerted(session: AsyncSession, *, transfer_id: int, raw_code: str) -> bool:
    """Record a stall alert for this raw status; True only if none was recorded for it yet.

    A change of status (record_observation) clears the mark.
    """
    column = col(TrackedTransfer.stalled_alerted_for)
    stmt = (
        update(TrackedTransfer)
        .where(col(TrackedTransfer.id) == transfer_id, or_(column.is_(None), column != raw_code))
        .values(stalled_alerted_for=raw_code)
    )
    return await write_rows(session, stmt) == 1
