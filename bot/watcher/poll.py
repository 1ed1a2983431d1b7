"""One poll pass: claim the due transfers, poll them within each account's limits, record all."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.watcher.intervals import PollPolicy
from bot.watcher.outages import AccountWatch
from bot.watcher.recorder import PollResult, Recorder
from providers.errors import ProviderError
from storage.errors import StorageError
from storage.polling import ClaimedTransfer, claim_due_transfers, release_transfer

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["PassReport", "run_poll_pass"]

logger = logging.getLogger(__name__)

UNEXPECTED = (
    "The bot could not read the provider's answer (an error on our side); it will try again."
)
CLAIM_TRIES = 3
LEASE_SHARE = 0.25  # an account's queue is sized so a claimed transfer waits < this much lease


@dataclass
class PassReport:
    """What one poll pass did."""

    claimed: int = 0
    polled: int = 0  # a snapshot was recorded
    changed: int = 0  # the status changed
    errors: int = 0  # the provider (or our side) failed for that transfer
    held: int = 0  # put off without a call: its account is down or was too busy
    alerts: int = 0  # alerts reserved
    accounts_down: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        text = (
            f"Polled {self.polled} of {self.claimed} due transfers: {self.changed} changed, "
            f"{self.errors} failed, {self.held} put off; {self.alerts} alerts."
        )
        if self.accounts_down:
            text += f" Unreachable: {', '.join(sorted(self.accounts_down))}."
        return text


async def run_poll_pass(services: Services, *, limit: int | None = None) -> PassReport:
    """Poll every transfer due now (at most ``limit``); never raises for one transfer.

    Transfers are claimed in batches under a lease (so replicas never poll the same one),
    polled concurrently within each account's concurrency and rate limits (accounts never
    wait for each other), recorded with ``observe_transfer`` and released with their next
    poll time. A provider error costs only that transfer's poll; an account that keeps
    failing is declared down once, probed now and then, and its transfers are put off.
    """
    run = _PollPass(services, limit)
    try:
        await run.run()
    finally:
        await run.finish()
    return run.report


def _due_after(row: ClaimedTransfer, moment: datetime) -> bool:
    return row.next_poll_at is not None and row.next_poll_at > moment


class _PollPass:
    def __init__(self, services: Services, limit: int | None) -> None:
        self.services = services
        self.settings = services.settings.watcher
        self.policy = PollPolicy.from_settings(self.settings)
        self.owner = services.instance
        self.limit = limit
        self.report = PassReport()
        self.tasks: set[asyncio.Task[None]] = set()
        self.queued: dict[str, int] = {}
        self.gates: dict[str, asyncio.Semaphore] = {}
        self.room = asyncio.Event()
        self.watch = AccountWatch(self.settings.outage_after_failures, self.policy)
        self.recorder: Recorder | None = None
        self.writing = asyncio.Lock()  # one write transaction at a time from this pass

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        async with self.services.db.session() as session:
            self.watch = await AccountWatch.load(
                session, threshold=self.settings.outage_after_failures, policy=self.policy
            )
        self.recorder = Recorder(
            self.services,
            owner=self.owner,
            watch=self.watch,
            report=self.report,
            lock=self.writing,
        )
        started = self.services.now()
        remaining = math.inf if self.limit is None else self.limit
        while remaining > 0:
            await self._wait_for_room()
            wanted = int(min(self.settings.batch_size, remaining))
            claimed = await self._claim(wanted)
            # a pass polls what was due when it began (most overdue first), then ends;
            # what fell due since goes back untouched, for the next pass
            rows = [row for row in claimed if not _due_after(row, started)]
            later = [row for row in claimed if _due_after(row, started)]
            remaining -= len(rows)
            self.report.claimed += len(rows)
            await self._dispatch(rows)
            if later:
                await self._give_back(later)
            if len(claimed) < wanted or later:
                break

    async def finish(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.recorder is not None:
            await self.recorder.close()
        self.report.accounts_down = sorted(self.watch.outages)
        if self.report.claimed:
            logger.info("poll pass: %s", self.report.sentence())

    async def _claim(self, wanted: int) -> list[ClaimedTransfer]:
        for attempt in range(1, CLAIM_TRIES + 1):
            try:
                async with self.writing, self.services.db.session() as session:
                    return await claim_due_transfers(
                        session,
                        owner=self.owner,
                        now=self.services.now(),
                        limit=wanted,
                        lease_seconds=self.settings.lease_seconds,
                    )
            except StorageError as exc:
                if attempt == CLAIM_TRIES:
                    logger.warning("poll pass stopped: %s", exc.message)
                    return []
                await asyncio.sleep(0.5 * attempt)  # the database is busy; try again
        return []

    # -- per-account queues -------------------------------------------------------------------
    def _cap(self, account: str) -> int:
        """How many of an account's transfers may wait at once: what it can serve in a
        quarter of the lease, and at least twice its concurrency."""
        try:
            settings = self.services.registry.account(account)
        except ProviderError:
            return 1
        served = settings.rate_limit * self.settings.lease_seconds * LEASE_SHARE
        return max(2 * settings.concurrency, math.ceil(served))

    def _window(self) -> int:
        return sum(self._cap(account.name) for account in self.services.registry) or 1

    async def _wait_for_room(self) -> None:
        while sum(self.queued.values()) >= self._window():
            self.room.clear()
            await self.room.wait()

    def _gate(self, account: str) -> asyncio.Semaphore:
        gate = self.gates.get(account)
        if gate is None:
            try:
                concurrency = self.services.registry.account(account).concurrency
            except ProviderError:
                concurrency = 1
            gate = self.gates[account] = asyncio.Semaphore(concurrency)
        return gate

    async def _dispatch(self, rows: list[ClaimedTransfer]) -> None:
        now = self.services.now()
        later: list[tuple[ClaimedTransfer, datetime]] = []
        for row in rows:
            account = row.account
            if self.queued.get(account, 0) >= 2 * self._cap(account):
                later.append((row, now + timedelta(seconds=self._drain_seconds(account))))
                continue
            probe = account in self.watch.outages
            hold = self.watch.hold_until(account, now)
            if hold is not None:
                later.append((row, hold))
                continue
            self.queued[account] = self.queued.get(account, 0) + 1
            task = asyncio.create_task(self._poll(row, probe), name=f"poll-{row.short_id}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if later:
            await self._put_off(later)

    async def _give_back(self, rows: list[ClaimedTransfer]) -> None:
        try:
            async with self.writing, self.services.db.session() as session:
                for row in rows:
                    await release_transfer(
                        session, transfer_id=row.id, owner=self.owner, next_poll_at=row.next_poll_at
                    )
        except StorageError as exc:  # their leases run out instead
            logger.warning("could not give back %d transfers: %s", len(rows), exc.message)

    def _drain_seconds(self, account: str) -> float:
        rate = self.services.registry.account(account).rate_limit
        return max(self.policy.min_interval, self.queued.get(account, 0) / rate)

    async def _put_off(self, rows: list[tuple[ClaimedTransfer, datetime]]) -> None:
        self.report.held += len(rows)
        try:
            async with self.writing, self.services.db.session() as session:
                for row, until in rows:
                    await release_transfer(
                        session, transfer_id=row.id, owner=self.owner, next_poll_at=until
                    )
        except StorageError as exc:  # the leases run out and the transfers come back
            logger.warning("could not put off %d transfers: %s", len(rows), exc.message)

    # -- one transfer -----------------------------------------------------------------------
    async def _poll(self, row: ClaimedTransfer, probe: bool) -> None:
        account = row.account
        try:
            async with self._gate(account):
                await self._poll_now(row, probe)
        except Exception:  # the pass goes on; the lease runs out and the transfer comes back
            logger.exception("polling %s/%s failed unexpectedly", account, row.ref)
        finally:
            self.queued[account] -= 1
            self.room.set()

    async def _poll_now(self, row: ClaimedTransfer, probe: bool) -> None:
        now = self.services.now()
        if not probe and row.account in self.watch.outages:
            hold = self.watch.hold_until(row.account, now)  # it went down meanwhile
            if hold is not None:
                await self._put_off([(row, hold)])
                return
        if row.lease_expires_at is not None and now >= row.lease_expires_at:
            return  # too late: another replica may hold it now
        assert self.recorder is not None
        started = time.perf_counter()
        try:
            client = self.services.registry.get(row.account)
            snapshot = await client.get_transfer(row.ref)
        except ProviderError as exc:
            self._observe(row, started, exc.kind)
            self.recorder.put(PollResult(row, error=exc, message=exc.message))
            return
        except Exception:
            logger.exception("unexpected error polling %s/%s", row.account, row.ref)
            self._observe(row, started, "unexpected")
            self.recorder.put(PollResult(row, message=UNEXPECTED))
            return
        self._observe(row, started, None)
        self.recorder.put(PollResult(row, snapshot=snapshot))

    def _observe(self, row: ClaimedTransfer, started: float, error_kind: str | None) -> None:
        """Count the poll in /metrics: its latency by provider, and its error's kind."""
        if self.services.metrics is not None:
            seconds = time.perf_counter() - started
            self.services.metrics.observe_poll(row.provider, seconds, error_kind)
