"""Signatures the events endpoint let in, remembered for as long as Slack's signatures last.

A signature is good for five minutes from its timestamp (``SIGNATURE_SECONDS``); the same
signature seen again within them is the same request sent again. :class:`RecentSignatures`
keeps them in this process, in arrival order, forgetting from the front, so each check
costs the same (amortized O(1)) however many are remembered. :class:`SharedSignatures`
records their SHA-256 in the database, so a request sent again to another replica, or
after a restart, is known too.

When the database can't record one (down, or slower than ``SHARED_SECONDS``), the request
is let in on this process's memory alone, and the next few seconds skip the database:
turning Slack away would stop commands that need no database (help) and gain nothing,
since every action is a compare-and-set in that same database. One warning says so, and
one line says when recording works again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from storage.database import urgent_units
from storage.errors import StorageError
from storage.signatures import prune_signatures, record_signatures

if TYPE_CHECKING:
    from storage.database import Database

__all__ = [
    "MAX_REMEMBERED",
    "PRUNE_SECONDS",
    "SHARED_SECONDS",
    "SIGNATURE_SECONDS",
    "RecentSignatures",
    "SharedSignatures",
]

logger = logging.getLogger(__name__)

SIGNATURE_SECONDS = 5 * 60  # how old a signed request may be (Slack's rule, Bolt's check)
# More than one process takes in five minutes (tests/reliability/test_load.py measured
# about 1,350 requests/s: ~400,000); about 250 bytes each, so ~125 MB at worst. A burst
# beyond it forgets the oldest first.
MAX_REMEMBERED = 500_000
SHARED_SECONDS = 1.0  # the database's time to record one; Slack waits 3 s for the ack
SKIP_SHARED_SECONDS = 5.0  # after it failed, the database is left alone this long
# Each replica deletes expired digests at most once a minute, from the request that finds
# the minute over: one indexed range delete, with no scheduler to depend on (Socket Mode
# and a replica without the watcher serve requests too). The table holds about six
# minutes of requests; digests are kept a minute past their five, for replicas' clocks.
PRUNE_SECONDS = 60.0


class RecentSignatures:
    """Signatures seen in the last :data:`SIGNATURE_SECONDS`, forgotten in arrival order.

    Each is forgotten once its own timestamp is five minutes old (no request signed with
    it is accepted after that), or, when one arrived before it is still younger, as soon
    as that one goes: timestamps are within five minutes of arrival, so nothing stays
    longer than ten minutes after it arrived.

    ``looked_at`` counts the entries examined while forgetting (at most one per check
    plus one per entry ever remembered): the work, for tests and benchmarks.
    """

    def __init__(
        self,
        *,
        seconds: int = SIGNATURE_SECONDS,
        limit: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seconds = seconds
        self.limit = limit
        self.clock = clock
        self.looked_at = 0
        self._known: set[str] = set()
        self._arrivals: deque[tuple[int, str]] = deque()  # (forget at, signature), by arrival

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, signature: object) -> bool:
        return signature in self._known

    def add(self, signature: str, timestamp: int) -> bool:
        """Remember ``signature`` (signed at ``timestamp``); False if it was remembered already."""
        self._forget_expired(self.clock())
        if signature in self._known:
            return False
        self._known.add(signature)
        self._arrivals.append((timestamp + self.seconds, signature))
        while len(self._arrivals) > self.limit:
            self._known.discard(self._arrivals.popleft()[1])
        return True

    def _forget_expired(self, now: float) -> None:
        arrivals = self._arrivals
        while arrivals:
            self.looked_at += 1
            forget_at, signature = arrivals[0]
            if forget_at > now:
                return
            arrivals.popleft()
            self._known.discard(signature)


class SharedSignatures:
    """Signatures recorded in the database, so every replica knows them, across restarts."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._pruned_at = clock()
        self._skip_until = 0.0
        self._failing = False
        self._batch: dict[str, tuple[asyncio.Future[bool], datetime]] = {}
        self._writer: asyncio.Task[None] | None = None

    async def add(self, signature: str, timestamp: int) -> bool:
        """Record ``signature``; False if some replica recorded it already. True as well when
        it can't be recorded (the module docstring says why)."""
        digest = hashlib.sha256(signature.encode()).hexdigest()
        return await self.first(digest, datetime.fromtimestamp(timestamp, UTC)) is not False

    async def first(self, digest: str, signed_at: datetime) -> bool | None:
        """Record ``digest`` (a SHA-256 in hex, of something seen at ``signed_at``): True
        the first time any replica records it, False after that, None while the database
        can't record it (the caller decides on what it knows itself)."""
        now = self.clock()
        if now < self._skip_until:
            return None
        try:
            async with asyncio.timeout(SHARED_SECONDS):
                recorded = await self._record(digest, signed_at, now)
        except (StorageError, TimeoutError) as exc:
            self._skip_until = now + SKIP_SHARED_SECONDS
            if not self._failing:
                self._failing = True
                logger.warning(
                    "signatures can't be recorded in the database (%s): a request sent "
                    "again is caught only by the replica it reached before, until they can",
                    "too slow" if isinstance(exc, TimeoutError) else "unavailable",
                )
            return None
        if self._failing:
            self._failing = False
            logger.info("signatures are recorded in the database again")
        return recorded

    async def _record(self, digest: str, signed_at: datetime, now: float) -> bool:
        """Join the batch being gathered (one transaction for every request that arrives
        while the last one is written: a burst of 200 is a few INSERTs, not 200 waiting on
        SQLite's one writer), and learn whether this digest was new."""
        waiting = self._batch.get(digest)
        if waiting is None:
            waiting = self._batch[digest] = (asyncio.get_running_loop().create_future(), signed_at)
            if self._writer is None or self._writer.done():
                self._writer = asyncio.create_task(self._write(now))
        else:  # the same signature twice in one batch: the second is a replay
            return False
        return await asyncio.shield(waiting[0])

    async def _write(self, now: float) -> None:
        with urgent_units():  # an ack waits for it: before the commands' database work
            await self._write_batches(now)

    async def _write_batches(self, now: float) -> None:
        while self._batch:
            batch, self._batch = self._batch, {}
            try:
                async with self.db.session() as session:
                    new = await record_signatures(
                        session, digests={d: at for d, (_, at) in batch.items()}
                    )
                    if now - self._pruned_at >= PRUNE_SECONDS:
                        self._pruned_at = now
                        before = datetime.fromtimestamp(
                            now - SIGNATURE_SECONDS - PRUNE_SECONDS, UTC
                        )
                        await prune_signatures(session, signed_before=before)
            except BaseException as exc:
                for future, _ in batch.values():
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, StorageError) else StorageError(str(exc))
                        )
                if not isinstance(exc, Exception):
                    raise
                continue
            for digest, (future, _) in batch.items():
                if not future.done():
                    future.set_result(digest in new)
