"""SQLite's own concerns: pragmas, one writer at a time, and a database file watched for loss."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util import await_only

from storage.errors import DatabaseUnavailable

__all__ = [
    "FILE_CHECK_SECONDS",
    "FULL",
    "LOST",
    "MIN_FREE_BYTES",
    "UNAVAILABLE",
    "DatabaseFile",
    "OneWriter",
    "check_room_to_grow",
    "install_pragmas",
    "urgent_units",
]

logger = logging.getLogger(__name__)

FILE_CHECK_SECONDS = 0.5  # a session looks at the file's identity at most this often
MIN_FREE_BYTES = 1 << 20  # less free disk than this beside the database counts as full
LOST = (
    "The bot's database is unavailable: its file was deleted or replaced while the bot was running."
)
FULL = (
    "The bot's database is full (no room left on its disk); nothing can be saved until "
    "some is freed."
)
UNAVAILABLE = "The bot's database is unavailable right now; try again in a minute."


def install_pragmas(engine: AsyncEngine, busy_timeout_ms: int, memory: bool) -> None:
    """WAL, foreign keys, busy_timeout and secure_delete on every new connection."""

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


_URGENT: ContextVar[bool] = ContextVar("transferbot_urgent_units", default=False)


@contextmanager
def urgent_units() -> Iterator[None]:
    """The units of work opened inside (by this task, and tasks it starts) go before the
    others waiting for SQLite's one writer: a person's decision, or a signature an ack
    waits for, is not queued behind a burst of commands. No-op on PostgreSQL."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


class OneWriter:
    """One unit of work at a time in this process, each in a write transaction from its start.

    SQLite has one writer. A transaction that reads first and writes later (SQLite's default,
    deferred) fails at once with "database is locked" when another connection wrote in
    between, whatever the busy_timeout; so every unit takes this lock first, in order, and
    then BEGIN IMMEDIATE. A unit opened inside another by the same task goes through (reads
    only, as before), so nesting cannot deadlock.

    Units wait in two queues, each in arrival order: the urgent ones (:func:`urgent_units`)
    are handed the lock first. Under a burst every unit is slow (each of its statements
    waits for a turn of a busy event loop), so a decision queued behind a hundred ordinary
    units would wait seconds; it waits for the unit holding the lock instead.
    """

    def __init__(self, url: str, wait_seconds: float) -> None:
        self.url = url
        self.wait_seconds = wait_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held = False
        self._queues: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque())
        self._holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields True when this unit took the lock (and must BEGIN IMMEDIATE), False nested."""
        task = asyncio.current_task()
        if task is not None and self._holder is task:
            yield False
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # the lock serves one event loop
            self._loop, self._held = loop, False
            self._queues = (deque(), deque())
        try:
            await self._acquire(loop, self._queues[0 if _URGENT.get() else 1])
        except TimeoutError:
            logger.warning(
                "database error on %s: database is locked (waited %g s for this process's "
                "other units of work)",
                self.url,
                self.wait_seconds,
            )
            raise DatabaseUnavailable(UNAVAILABLE) from None
        self._holder = task
        try:
            yield True
        finally:
            self._holder = None
            self._release()

    async def _acquire(
        self, loop: asyncio.AbstractEventLoop, queue: deque[asyncio.Future[None]]
    ) -> None:
        if not self._held and not any(self._queues):
            self._held = True
            return
        turn: asyncio.Future[None] = loop.create_future()
        queue.append(turn)
        try:
            async with asyncio.timeout(self.wait_seconds):
                await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._release()  # handed the lock as this unit gave up: pass it on
            else:
                turn.cancel()
                with contextlib.suppress(ValueError):  # already passed over by a release
                    queue.remove(turn)
            raise

    def _release(self) -> None:
        """Hand the lock to the first unit waiting, urgent ones first; else free it."""
        for queue in self._queues:
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)  # still held: it is this unit's now
                    return
        self._held = False


class DatabaseFile:
    """The SQLite file an engine opened, watched so that losing it is noticed and said.

    Its identity (st_dev, st_ino) is recorded at the first connection; each new connection,
    and each session at most every FILE_CHECK_SECONDS, checks the path still names that file.
    Once it does not (deleted, or replaced), every unit of work is refused with LOST until
    the bot restarts: carrying on would write into a file nobody can open again, and a new
    connection would quietly create an empty database at the path.

    Evidence that a database existed: the marker ``.<name>.created`` that the bot writes
    beside the file, or a write-ahead log (``<name>-wal``) left behind. With either and no
    database, the first connection is refused (restore the file, or delete the marker);
    without them a new database is created, announced as a warning and on stderr.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marker = path.with_name(f".{path.name}.created")
        self.identity: tuple[int, int] | None = None
        self.lost = False
        self._due = 0.0

    # -- connections (pool events, run in a worker thread) ---------------------------------
    def install(self, engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "do_connect")
        def _before_connect(*_args: Any) -> None:
            await_only(asyncio.to_thread(self.before_connect))

        @event.listens_for(engine.sync_engine, "connect")
        def _after_connect(*_args: Any) -> None:
            if self.identity is None:
                await_only(asyncio.to_thread(self.after_first_connect))

    def before_connect(self) -> None:
        if self.identity is None:
            self._refuse_or_announce_new()
        else:
            self.verify()

    def after_first_connect(self) -> None:
        found = os.stat(self.path)
        self.identity = (found.st_dev, found.st_ino)
        if not self.marker.exists():
            try:
                self.marker.write_text(
                    f"transferbot keeps its database in {self.path.name} here.\n"
                    "While this file is here, transferbot refuses to start without that "
                    "database (restore it from a backup);\n"
                    "delete this file to let it start afresh with an empty one.\n"
                )
            except OSError as exc:
                logger.warning("could not write %s (%s)", self.marker, exc.strerror or exc)

    def _refuse_or_announce_new(self) -> None:
        if _size(self.path) > 0:
            return
        wal = self.path.with_name(f"{self.path.name}-wal")
        if self.marker.exists():
            reason = (
                f"The database file {self.path} is missing or empty, but {self.marker.name} "
                "beside it shows the bot kept its database there; restore the file from a "
                f"backup, or delete {self.marker.name} to start with an empty database."
            )
        elif _size(wal) > 0:
            reason = (
                f"The database file {self.path} is missing or empty, but its write-ahead log "
                f"{wal.name} is still there; restore the database from a backup, or move "
                f"{wal.name} away to start with an empty database."
            )
        else:
            logger.warning("creating a new, empty database at %s", self.path)
            print(f"transferbot: creating a new, empty database at {self.path}", file=sys.stderr)
            return
        logger.error("%s", reason)
        raise DatabaseUnavailable(reason)

    # -- sessions -----------------------------------------------------------------------------
    def verify(self) -> None:
        """Raise DatabaseUnavailable(LOST) unless the path still names the file first opened."""
        if self.lost:
            raise DatabaseUnavailable(LOST)
        if self.identity is None:
            return  # not opened yet: the first connection decides
        try:
            found = os.stat(self.path)
            now: tuple[int, int] | None = (found.st_dev, found.st_ino)
        except OSError:
            now = None
        if now == self.identity:
            return
        self.lost = True
        logger.error(
            "the database file %s was %s while the bot was running; every database operation "
            "is refused until it is restored and the bot restarted",
            self.path,
            "deleted" if now is None else "replaced by another file",
        )
        raise DatabaseUnavailable(LOST)

    async def verify_often(self) -> None:
        """``verify`` in a thread, at most every FILE_CHECK_SECONDS (a loss found stays found)."""
        if self.lost:
            raise DatabaseUnavailable(LOST)
        now = time.monotonic()
        if now >= self._due:
            self._due = now + FILE_CHECK_SECONDS
            await asyncio.to_thread(self.verify)

    async def verify_now(self) -> None:
        await asyncio.to_thread(self.verify)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


async def check_room_to_grow(session: AsyncSession, *, directory: Path) -> None:
    """Raise DatabaseUnavailable(FULL) when the database can't take one more page: its page
    limit is reached with no free page left, or its disk has less than MIN_FREE_BYTES free."""
    pages = (await session.execute(text("PRAGMA page_count"))).scalar_one()
    limit = (await session.execute(text("PRAGMA max_page_count"))).scalar_one()
    free = (await session.execute(text("PRAGMA freelist_count"))).scalar_one()
    if free == 0 and pages >= limit:
        raise DatabaseUnavailable(FULL)
    disk = await asyncio.to_thread(os.statvfs, directory)
    if disk.f_bavail * disk.f_frsize < MIN_FREE_BYTES:
        raise DatabaseUnavailable(FULL)
