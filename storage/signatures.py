"""Signatures of Slack requests let in, shared by every replica: recorded once, then pruned."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage._dialect import dialect_insert
from storage.models import SeenSignature

__all__ = ["count_signatures", "prune_signatures", "record_signatures"]

logger = logging.getLogger(__name__)


async def record_signatures(session: AsyncSession, *, digests: dict[str, datetime]) -> set[str]:
    """Record request digests in one statement; the ones that were new. A digest missing from
    the answer was recorded already (by this replica or another, before or after a restart):
    its request was sent before.

    ``INSERT ... ON CONFLICT DO NOTHING`` on the unique digest, so two replicas recording
    one at once get one "new" between them, and neither transaction is aborted.
    """
    if not digests:
        return set()
    stmt = (
        dialect_insert(session, SeenSignature)
        .values([{"digest": d, "signed_at": at} for d, at in digests.items()])
        .on_conflict_do_nothing(index_elements=[col(SeenSignature.digest)])
        .returning(col(SeenSignature.digest))
    )
    return {str(digest) for digest in (await session.scalars(stmt)).all()}


async def prune_signatures(session: AsyncSession, *, signed_before: datetime) -> int:
    """Delete digests of requests signed before ``signed_before``; how many went."""
    result = await session.execute(
        delete(SeenSignature).where(col(SeenSignature.signed_at) < signed_before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def count_signatures(session: AsyncSession) -> int:
    """How many digests are kept."""
    return int(await session.scalar(select(func.count()).select_from(SeenSignature)) or 0)
