"""The async engine and short sessions: SQLite (aiosqlite) by default, PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Engine, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import StaticPool

from storage.errors import DatabaseUnavailable
from storage.health import prove_writable
from storage.sqlite import (
    UNAVAILABLE,
    DatabaseFile,
    OneWriter,
    check_room_to_grow,
    install_pragmas,
    urgent_units,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SQL_DEBUG_ENV",
    "Database",
    "checkpoint_after_commit",
    "create_engine",
    "database_url",
    "describe_url",
    "urgent_units",
]

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./transferbot.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 5000
SQL_DEBUG_ENV = "TRANSFERBOT_SQL_DEBUG"  # set: SQL statements are logged (never parameters)
_REFUSED_WRITES = "transferbot.refused_writes"  # connection.info key: replace it
_CHECKPOINT = "transferbot.checkpoint"  # session.info key: truncate the WAL after commit
_FILES: weakref.WeakKeyDictionary[Engine, DatabaseFile] = weakref.WeakKeyDictionary()

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


def _refuses_writes(exc: BaseException | None) -> bool:
    """A connection that said it can't write: SQLite read-only, full or an I/O error, or a
    PostgreSQL read-only transaction (a standby, default_transaction_read_only)."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    if name.startswith(("SQLITE_READONLY", "SQLITE_FULL", "SQLITE_IOERR")):
        return True
    return getattr(exc, "sqlstate", None) == "25006"  # read_only_sql_transaction


def _replace_connections_that_refuse_writes(engine: AsyncEngine) -> None:
    """Such a connection stays that way (SQLite opens a write-protected file read-only for
    good; a PostgreSQL session keeps its read-only default), so it is replaced.

    PostgreSQL: handled like a lost connection, invalidated with the whole pool. SQLite: once
    the pool has rolled it back, as it comes back; closed before that, a connection whose
    failed statement is still referenced (a traceback, a log record) lingers with its write
    transaction open, and every other connection meets "database is locked".
    """
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if not _refuses_writes(context.original_exception):
            return
        if not sqlite:
            context.is_disconnect = True
        elif context.connection is not None:
            context.connection.info[_REFUSED_WRITES] = True

    if sqlite:

        @event.listens_for(engine.sync_engine, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            if record.info.pop(_REFUSED_WRITES, False):
                record.invalidate()


class _NoParameters(logging.Filter):
    """aiosqlite's debug lines show each call with its SQL parameters: keep the SQL only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_parameters(arg) for arg in record.args)
        return True


def _without_parameters(arg: object) -> object:
    if not isinstance(arg, functools.partial):
        return arg
    shown = [repr(a) if isinstance(a, str) else "<parameters hidden>" for a in arg.args]
    return f"{getattr(arg.func, '__name__', 'call')}({', '.join(shown)})"


@functools.cache
def _hold_sql_logging() -> None:
    """SQL stays out of the logs at debug level (it was 9 lines in 10) unless SQL_DEBUG_ENV is
    set or those loggers were configured; parameters never show (see also hide_parameters)."""
    logging.getLogger("aiosqlite").addFilter(_NoParameters())
    if os.environ.get(SQL_DEBUG_ENV, "").strip():
        return
    for name, level in (
        ("sqlalchemy.engine", logging.WARNING),  # INFO is every statement
        ("sqlalchemy.pool", logging.WARNING),
        ("aiosqlite", logging.INFO),  # DEBUG is every call, twice
    ):
        quiet = logging.getLogger(name)
        if quiet.level == logging.NOTSET:
            quiet.setLevel(level)


def create_engine(
    url: str | URL = DEFAULT_DATABASE_URL,
    *,
    echo: bool = False,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    **engine_kwargs: Any,
) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, foreign keys, busy_timeout, secure_delete.

    SQL parameters are never logged nor quoted in errors (they may be a secret's ciphertext).
    A connection that refuses writes is replaced. A SQLite file's directory is created if
    missing, and the file is watched (storage.sqlite.DatabaseFile): a new one is created only
    when nothing says a database was there. ``sqlite+aiosqlite://`` (in memory) shares one
    connection and suits quick single-task tests only.
    """
    _hold_sql_logging()
    parsed = database_url(url)
    engine_kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() != "sqlite":
        engine_kwargs.setdefault("pool_pre_ping", True)
        engine = _create_async_engine(parsed, echo=echo, **engine_kwargs)
        _replace_connections_that_refuse_writes(engine)
        return engine
    memory = _is_memory(parsed)
    path = None
    if memory:
        engine_kwargs.setdefault("poolclass", StaticPool)
    elif parsed.database:
        path = Path(parsed.database).expanduser().absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(parsed, echo=echo, **engine_kwargs)
    install_pragmas(engine, busy_timeout_ms, memory)
    if not memory:  # the one connection of an in-memory database is the database
        _replace_connections_that_refuse_writes(engine)
    if path is not None and not parsed.query.get("uri"):
        watched = DatabaseFile(path)
        watched.install(engine)
        _FILES[engine.sync_engine] = watched
    return engine


def checkpoint_after_commit(session: AsyncSession) -> None:
    """Ask for SQLite's write-ahead log to be emptied once this session commits (after an
    erase: the WAL keeps the erased rows' old pages until a checkpoint). No-op elsewhere."""
    session.info[_CHECKPOINT] = True


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
        self._file = _FILES.get(self.engine.sync_engine)
        self._writer = (
            OneWriter(describe_url(self.url), SQLITE_BUSY_TIMEOUT_MS / 1000)
            if self.dialect == "sqlite"
            else None
        )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Database({describe_url(self.url)!r})"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block ends, rolled back if it raises.

        A database that can't be reached, stays locked, refuses writes or whose SQLite file
        was lost raises DatabaseUnavailable. On SQLite the sessions of this process take
        turns, each in a write transaction from its start (storage.sqlite.OneWriter).
        """
        async with self._unit(commit=True) as session:
            yield session

    @asynccontextmanager
    async def _unit(self, *, commit: bool) -> AsyncIterator[AsyncSession]:
        if self._file is not None:
            await self._file.verify_often()
        async with self._turn() as first:
            async with self._sessions() as session:
                try:
                    if first:
                        await session.execute(text("BEGIN IMMEDIATE"))
                    yield session
                    await (session.commit() if commit else session.rollback())
                except (OperationalError, DBAPIError) as exc:
                    with contextlib.suppress(Exception):  # the connection may be gone already
                        await session.rollback()
                    if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
                        raise
                    logger.warning("database error on %s: %s", describe_url(self.url), exc.orig)
                    raise DatabaseUnavailable(UNAVAILABLE) from exc
                except BaseException:
                    await session.rollback()
                    raise
                checkpoint = commit and session.info.pop(_CHECKPOINT, False)
            if checkpoint and first:
                await self._checkpoint()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[bool]:
        if self._writer is None:
            yield False
        else:
            async with self._writer.hold() as first:
                yield first

    async def _checkpoint(self) -> None:
        """Empty the write-ahead log into the database file (still this unit's turn, so no
        reader of this process holds it back); the unit committed already, so a failure is
        only logged."""
        try:
            async with self.engine.connect() as connection:
                result = await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                busy = result.one()[0]  # (busy, frames in the log, frames checkpointed)
        except DBAPIError as exc:
            logger.warning("database checkpoint on %s failed: %s", describe_url(self.url), exc.orig)
            return
        if busy:
            logger.warning(
                "database checkpoint on %s incomplete: another process is reading; the "
                "write-ahead log is emptied at a later checkpoint",
                describe_url(self.url),
            )

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database would take a write now.

        It must accept a write statement (that changes nothing, and is rolled back): not
        read-only, nor a PostgreSQL standby or read-only session. SQLite's file must be the
        one first opened, and there must be room for one more page.
        """
        if self._file is not None:
            await self._file.verify_now()
        async with self._unit(commit=False) as session:
            await prove_writable(session)
            if self._file is not None:
                await check_room_to_grow(session, directory=self._file.path.parent)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()
