"""Provider account health (consecutive failures, outage start, alerted?); proving writes."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage._bulk import write_rows
from storage._dialect import dialect_insert
from storage.models import AccountHealth
from storage.types import utc_now

__all__ = [
    "get_account_health",
    "list_account_health",
    "mark_outage_alerted",
    "prove_writable",
    "record_account_failure",
    "record_account_ok",
]

logger = logging.getLogger(__name__)


async def get_account_health(session: AsyncSession, *, account: str) -> AccountHealth | None:
    return await session.get(AccountHealth, account, populate_existing=True)


async def list_account_health(session: AsyncSession) -> list[AccountHealth]:
    stmt = select(AccountHealth).order_by(col(AccountHealth.account))
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def record_account_failure(
    session: AsyncSession, *, account: str, error: str, now: datetime | None = None
) -> AccountHealth:
    """One more failed call to ``account``; ``error`` is the user sentence. Returns the row."""
    now = now or utc_now()
    table = AccountHealth.__table__  # type: ignore[attr-defined]
    stmt = dialect_insert(session, AccountHealth).values(
        account=account,
        consecutive_failures=1,
        failing_since=now,
        outage_alerted=False,
        last_error=error,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[col(AccountHealth.account)],
        set_={
            "consecutive_failures": table.c.consecutive_failures + 1,
            "failing_since": func.coalesce(table.c.failing_since, stmt.excluded.failing_since),
            "last_error": stmt.excluded.last_error,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt)
    health = await get_account_health(session, account=account)
    assert health is not None
    return health


async def record_account_ok(
    session: AsyncSession, *, account: str, now: datetime | None = None
) -> AccountHealth | None:
    """A call to ``account`` worked. Returns how the account was *before* if it was failing.

    The caller posts a "recovered" alert when that earlier state has ``outage_alerted``.
    """
    now = now or utc_now()
    before = await get_account_health(session, account=account)
    snapshot = None
    if before is not None and before.consecutive_failures > 0:
        snapshot = AccountHealth(**before.model_dump())  # detached: the upsert refreshes `before`
    cleared = {
        "consecutive_failures": 0,
        "failing_since": None,
        "last_ok_at": now,
        "outage_alerted": False,
        "last_error": None,
        "updated_at": now,
    }
    stmt = dialect_insert(session, AccountHealth).values(account=account, **cleared)
    stmt = stmt.on_conflict_do_update(index_elements=[col(AccountHealth.account)], set_=cleared)
    await session.execute(stmt)
    return snapshot


async def mark_outage_alerted(session: AsyncSession, *, account: str) -> bool:
    """Record that the outage alert went out; True only for the first caller."""
    stmt = (
        update(AccountHealth)
        .where(
            col(AccountHealth.account) == account,
            col(AccountHealth.outage_alerted).is_(False),
            col(AccountHealth.consecutive_failures) > 0,
        )
        .values(outage_alerted=True)
    )
    return await write_rows(session, stmt) == 1


async def prove_writable(session: AsyncSession) -> None:
    """A write that changes nothing (an UPDATE matching no row), for `/healthz`; the caller
    rolls it back. It raises where writes are refused: a read-only SQLite file or connection,
    a PostgreSQL read-only transaction or standby. (A bare BEGIN IMMEDIATE is not proof: a
    SQLite connection to a write-protected file takes it, then refuses every write.)"""
    await write_rows(
        session,
        update(AccountHealth).where(false()).values(updated_at=col(AccountHealth.updated_at)),
    )
