"""Write a poll pass's results in batches: one writer, one transaction per batch.

Most polls find nothing new. Those are written together: one UPDATE per batch
(executemany) that records the poll, sets the next one and gives the lease back, guarded
by the row's ``version`` and our lease so a change written meanwhile is never overwritten.
Everything else (a changed status, a stall falling due, an error) goes through
``record_snapshot`` or the error path, in the same transaction. A batch that fails is
written again item by item, so one bad item costs only itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.watcher.feedpace import safety_interval
from bot.watcher.intervals import PollPolicy, error_delay
from bot.watcher.observe import next_poll, record_snapshot
from bot.watcher.outages import AccountWatch, record_account_result
from bot.watcher.reminders import follow_up_quiet
from bot.watcher.stalls import stall_in
from providers.base import Transfer
from providers.errors import ProviderError, RateLimited
from storage.errors import StorageError
from storage.polling import (
    ClaimedTransfer,
    last_statuses_at,
    leased_ids,
    quiet_poll,
    record_poll_error,
    release_quiet_polls,
    release_transfer,
)
from storage.snapshots import SNAPSHOT_COLUMNS, transfer_columns

if TYPE_CHECKING:
    from bot.services import Services
    from bot.watcher.poll import PassReport

__all__ = ["PollResult", "Recorder"]

logger = logging.getLogger(__name__)

BATCH = 250
SLOW_CHUNK = 20  # changed snapshots and errors per transaction


@dataclass(frozen=True, slots=True)
class PollResult:
    """One poll: the claimed row and what the provider said (a snapshot or an error)."""

    row: ClaimedTransfer
    snapshot: Transfer | None = None
    error: ProviderError | None = None
    message: str | None = None  # the error's sentence (ours when it was not a ProviderError)


def unchanged(row: ClaimedTransfer, snapshot: Transfer) -> bool:
    """The snapshot is exactly what the row holds: the poll changes nothing but times."""
    columns = transfer_columns(snapshot)
    return all(getattr(row, name) == columns[name] for name in SNAPSHOT_COLUMNS)


class Recorder:
    """The single writer of one poll pass."""

    def __init__(
        self,
        services: Services,
        *,
        owner: str,
        watch: AccountWatch,
        report: PassReport,
        lock: asyncio.Lock | None = None,
    ) -> None:
        self.services = services
        self.lock = lock or asyncio.Lock()
        self.owner = owner
        self.watch = watch
        self.report = report
        self.policy = PollPolicy.from_settings(services.settings.watcher)
        self.queue: asyncio.Queue[PollResult | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._drain(), name="poll-recorder")

    def put(self, result: PollResult) -> None:
        self.queue.put_nowait(result)

    async def close(self) -> None:
        self.queue.put_nowait(None)
        await self.task

    async def _drain(self) -> None:
        done = False
        while not done:
            batch: list[PollResult] = []
            item = await self.queue.get()
            while True:
                if item is None:
                    done = True
                    break
                batch.append(item)
                if len(batch) >= BATCH or self.queue.empty():
                    break
                item = self.queue.get_nowait()
            if batch:
                await self._write_batch(batch)

    async def _write_batch(self, batch: list[PollResult]) -> None:
        """Quiet polls in one transaction, the rest in short ones (SQLite has one writer:
        a long transaction would keep the next claim waiting)."""
        now = self.services.now()
        quiet = [r for r in batch if r.snapshot is not None and unchanged(r.row, r.snapshot)]
        written: set[int] = set()
        if quiet:
            ok, value = await self._guarded(self._write_quiet, quiet, now)
            written = value if ok else set()
        rest = [r for r in batch if r.row.id not in written]
        for start in range(0, len(rest), SLOW_CHUNK):
            chunk = rest[start : start + SLOW_CHUNK]
            ok, _ = await self._guarded(self._write_each, chunk, now)
            if not ok and len(chunk) > 1:
                for result in chunk:  # one bad item costs only itself
                    await self._guarded(self._write_each, [result], now)

    async def _guarded(
        self, write: Any, results: list[PollResult], now: datetime
    ) -> tuple[bool, Any]:
        """Run ``write`` in its own transaction: (True, its value), or (False, None) if it
        failed (logged; the leases run out and those transfers are polled again)."""
        try:
            async with self.lock, self.services.db.session() as session:
                return True, await write(session, results, now)
        except StorageError as exc:
            logger.warning("%d poll results not written: %s", len(results), exc.message)
        except Exception:
            logger.exception("writing %d poll results failed", len(results))
        return False, None

    async def _write_each(
        self, session: AsyncSession, results: list[PollResult], now: datetime
    ) -> None:
        for result in results:
            if result.snapshot is not None:
                await self._write_snapshot(session, result, now)
            else:
                await self._write_error(session, result, now)
        for result in results:
            if result.snapshot is not None and result.row.account in self.watch.failing:
                keys = await record_account_result(
                    session, self.watch, account=result.row.account, error=None, now=now
                )
                self.report.alerts += len(keys)

    async def _write_quiet(
        self, session: AsyncSession, results: list[PollResult], now: datetime
    ) -> set[int]:
        """Polls that changed nothing, in one UPDATE; returns the ids written."""
        if not results:
            return set()
        ids = [r.row.id for r in results]
        seen = await last_statuses_at(session, transfer_ids=ids)
        safety = {
            account: await safety_interval(session, self.services, account, now)
            for account in {r.row.account for r in results}
        }
        params = []
        clocks = []  # stuck or on a provider clock: each gets a follow-up if it has none
        for result in results:
            row = result.row
            since = min(seen.get(row.id, row.first_seen_at), _provider_since(row, now))
            threshold = self.services.settings.watcher.stall_threshold(row.provider, row.raw_code)
            due = stall_in(row, since=since, now=now, threshold=threshold)
            if due is not None and due <= 0:
                continue  # it stalls now: the full path tells about it
            next_at, interval = next_poll(
                self.services, row, since, now, threshold, None, self.policy,
                safety=safety[row.account],
            )  # fmt: skip
            params.append(quiet_poll(row, self.owner, now, next_at, interval))
            clocks.append((row, since))
        if await release_quiet_polls(session, polls=params):
            written = {p["b_id"] for p in params}  # every guarded update went through
        else:  # some did not (changed meanwhile, or no longer ours): ask which are left
            left = await leased_ids(session, transfer_ids=ids, owner=self.owner)
            written = {i for i in ids if i not in left}
        self.report.polled += len(written)
        quiet = [c for c in clocks if c[0].id in written]
        await follow_up_quiet(session, self.services.settings, quiet, now)
        for account in {r.row.account for r in results if r.row.id in written}:
            if account in self.watch.failing:
                keys = await record_account_result(
                    session, self.watch, account=account, error=None, now=now
                )
                self.report.alerts += len(keys)
        return written

    async def _write_snapshot(
        self, session: AsyncSession, result: PollResult, now: datetime
    ) -> None:
        assert result.snapshot is not None
        seen = await record_snapshot(
            session, self.services, transfer_id=result.row.id, snapshot=result.snapshot,
            actor="watcher", lease_owner=self.owner, now=now,
        )  # fmt: skip
        self.report.polled += 1
        if seen is not None:
            self.report.changed += int(seen.status_changed)
            self.report.alerts += len(seen.alerts)

    async def _write_error(self, session: AsyncSession, result: PollResult, now: datetime) -> None:
        row, error = result.row, result.error
        self.report.errors += 1
        message = result.message or (error.message if error else "")
        updated = await record_poll_error(session, transfer_id=row.id, message=message, now=now)
        if error is not None:
            keys = await record_account_result(
                session, self.watch, account=row.account, error=error, now=now
            )
            self.report.alerts += len(keys)
        errors = updated.consecutive_errors if updated is not None else 1
        await release_transfer(
            session,
            transfer_id=row.id,
            owner=self.owner,
            next_poll_at=self._retry_at(row.account, error, errors, now),
        )
        logger.info("poll of %s/%s failed: %s", row.account, row.ref, message)

    def _retry_at(
        self, account: str, error: ProviderError | None, errors: int, now: datetime
    ) -> datetime:
        outage = self.watch.outages.get(account)
        if outage is not None:
            return max(outage.next_probe_at, now) + timedelta(seconds=self.policy.min_interval)
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        delay = error_delay(
            errors,
            transient=error is None or error.transient,
            policy=self.policy,
            retry_after=retry_after,
        )
        return now + timedelta(seconds=delay)


def _provider_since(row: ClaimedTransfer, now: datetime) -> datetime:
    changed = row.changed_at
    return changed if changed is not None and changed <= now else now
