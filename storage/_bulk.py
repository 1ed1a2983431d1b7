"""Guarded UPDATE and DELETE statements run in bulk, and how many rows they changed."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Delete, Update
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["write_rows"]


async def write_rows(session: AsyncSession, stmt: Update | Delete) -> int:
    """Run ``stmt`` on the rows its WHERE matches; how many it changed (1 for the one caller
    of several racing that won a guarded write). The session's loaded objects are left as
    they are: the queries read rows again with ``populate_existing``."""
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return int(cast("CursorResult[Any]", result).rowcount or 0)
