"""The async engine and short sessions: SQLite (aiosqlite) by default, PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import StaticPool

from storage.errors import DatabaseUnavailable

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Database",
    "create_engine",
    "database_url",
    "describe_url",
]

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./transferbot.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 5000

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
}


def database_url(url: str | URL) -> URL:
    """Parse a database URL, choosing our async drivers for plain ``sqlite:`` / ``postgresql:``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(
            "The database URL is not valid; use e.g. sqlite+aiosqlite:///./transferbot.sqlite3 "
            "or postgresql+psycopg://user:password@host/dbname."
        ) from None
    driver = _DRIVERS.get(parsed.drivername, parsed.drivername)
    if driver not in ("sqlite+aiosqlite", "postgresql+psycopg"):
        raise DatabaseUnavailable(
            f"Database driver '{parsed.drivername}' is not supported; use SQLite or PostgreSQL."
        )
    return parsed.set(drivername=driver)


def describe_url(url: str | URL) -> str:
    """The URL as it may be shown to people and logs: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _install_sqlite_pragmas(engine: AsyncEngine, busy_timeout_ms: int, memory: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA secure_delete=ON")  # erased secrets leave no bytes behind
        cursor.close()


def create_engine(
    url: str | URL = DEFAULT_DATABASE_URL,
    *,
    echo: bool = False,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    **engine_kwargs: Any,
) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, foreign keys, busy_timeout, secure_delete.

    A SQLite file's directory is created if missing. ``sqlite+aiosqlite://`` (in memory)
    shares one connection and suits quick single-task tests only.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine_kwargs.setdefault("pool_pre_ping", True)
        return _create_async_engine(parsed, echo=echo, **engine_kwargs)
    memory = _is_memory(parsed)
    if memory:
        engine_kwargs.setdefault("poolclass", StaticPool)
    elif parsed.database:
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(parsed, echo=echo, **engine_kwargs)
    _install_sqlite_pragmas(engine, busy_timeout_ms, memory)
    return engine


class Database:
    """One database: an engine and a factory of short sessions (one per unit of work).

    Usage::

        db = Database(url)
        async with db.session() as session:
            await claim_due_transfers(session, owner=..., now=..., limit=50, lease_seconds=60)
        # committed here; rolled back if the block raised
        await db.dispose()
    """

    def __init__(
        self,
        url: str | URL = DEFAULT_DATABASE_URL,
        *,
        engine: AsyncEngine | None = None,
        echo: bool = False,
    ) -> None:
        self.url = database_url(url)
        self.engine = engine or create_engine(self.url, echo=echo)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Database({describe_url(self.url)!r})"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block ends, rolled back if it raises.

        A database that can't be reached (or stays locked) raises DatabaseUnavailable.
        """
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except OperationalError as exc:
                with contextlib.suppress(Exception):  # the connection may be gone already
                    await session.rollback()
                logger.warning("database error on %s: %s", describe_url(self.url), exc.orig)
                raise DatabaseUnavailable(
                    "The bot's database is unavailable right now; try again in a minute."
                ) from exc
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers."""
        async with self.session() as session:
            await session.execute(text("SELECT 1"))

    async def upgrade(self) -> None:
        """Run the migrations to head on this database's own engine."""
        from storage.migrate import upgrade_engine

        await upgrade_engine(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()
