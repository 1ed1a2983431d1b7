"""The audit log: who requested, approved, ran or watched what, and what came of it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import AuditEntry, TrackedTransfer
from storage.types import utc_now

__all__ = [
    "AuditLine",
    "export_audit",
    "list_audit",
    "record_audit",
    "record_transfer_audit",
    "transfer_name",
]

logger = logging.getLogger(__name__)


async def record_audit(
    session: AsyncSession,
    *,
    actor: str,
    verb: str,
    transfer_id: int | None = None,
    request_id: int | None = None,
    detail: str = "",
    now: datetime | None = None,
) -> AuditEntry:
    """Append an entry. ``actor`` is a Slack user id, "watcher" or "system"; ``verb`` e.g.
    requested, approved, rejected, withdrawn, expired, ran, failed, unknown, watched,
    unwatched, dry_run. ``detail`` is shown to people and must never hold a secret.
    """
    entry = AuditEntry(
        at=now or utc_now(),
        actor=actor,
        verb=verb,
        transfer_id=transfer_id,
        request_id=request_id,
        detail=detail,
    )
    session.add(entry)
    await session.flush()
    return entry


async def record_transfer_audit(
    session: AsyncSession,
    *,
    transfer: TrackedTransfer,
    actor: str,
    verb: str,
    detail: str | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append an entry about one tracked transfer; ``detail`` names it (see
    :func:`transfer_name`) unless given."""
    assert transfer.id is not None
    if detail is None:
        detail = transfer_name(transfer)
    return await record_audit(
        session, actor=actor, verb=verb, transfer_id=transfer.id, detail=detail, now=now
    )


def transfer_name(transfer: TrackedTransfer) -> str:
    """A transfer as the audit log names it: ``account ref (subject)``."""
    return f"{transfer.account} {transfer.ref} ({transfer.subject})"


async def list_audit(
    session: AsyncSession,
    *,
    transfer_id: int | None = None,
    request_id: int | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Entries, newest first, optionally about one transfer, request or actor."""
    stmt = select(AuditEntry)
    if transfer_id is not None:
        stmt = stmt.where(col(AuditEntry.transfer_id) == transfer_id)
    if request_id is not None:
        stmt = stmt.where(col(AuditEntry.request_id) == request_id)
    if actor is not None:
        stmt = stmt.where(col(AuditEntry.actor) == actor)
    if since is not None:
        stmt = stmt.where(col(AuditEntry.at) >= since)
    stmt = stmt.order_by(col(AuditEntry.id).desc()).limit(limit)
    return list(await session.scalars(stmt))


class AuditLine(NamedTuple):
    """An audit entry with the short id and ref of its transfer (None when it has none)."""

    entry: AuditEntry
    short_id: str | None
    ref: str | None


async def export_audit(
    session: AsyncSession, *, since: datetime | None = None
) -> Sequence[AuditLine]:
    """Every entry since ``since``, oldest first, with its transfer's short id and ref."""
    stmt = select(AuditEntry, col(TrackedTransfer.short_id), col(TrackedTransfer.ref)).outerjoin(
        TrackedTransfer, col(TrackedTransfer.id) == col(AuditEntry.transfer_id)
    )
    if since is not None:
        stmt = stmt.where(col(AuditEntry.at) >= since)
    stmt = stmt.order_by(col(AuditEntry.id))
    return [AuditLine(entry, short_id, ref) for entry, short_id, ref in await session.execute(stmt)]
