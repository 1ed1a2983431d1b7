"""The watcher's clock: APScheduler only says when; every piece of state lives in the database.

Jobs: the tick (the change feeds due, a poll pass, then the reminder pass, then alert
posting), alert posting on its own every tick (so a long pass does not hold alerts back),
the periodic sync, the
expiry of approval requests (``bot.actions.expire_due_requests``) and the optional daily
digest. A restart or a second replica changes nothing: leases, unique
alert keys and request states in the database decide who does what.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.actions import expire_due_requests
from bot.runtime.health import read_unreachable_accounts
from bot.watcher.digest import digest_day_due, reserve_digest
from bot.watcher.feedpace import feed_accounts
from bot.watcher.feeds import read_change_feeds
from bot.watcher.poll import PassReport, run_poll_pass
from bot.watcher.reminders import ReminderReport, run_reminder_pass
from bot.watcher.sync import sync_accounts
from storage.transfers import count_transfers_by_phase

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["EXPIRY_SECONDS", "Watcher"]

logger = logging.getLogger(__name__)

EXPIRY_SECONDS = 30.0
DIGEST_CHECK_SECONDS = 30.0  # how late after its local time the digest may be reserved
FIRST_SYNC_DELAY = timedelta(seconds=30)


class Watcher:
    """Runs the watcher's jobs on the event loop: ``start()`` inside it, ``shutdown()`` to stop.

    ``last_tick_at`` (the end of the last tick, by ``services.now()``) is for /healthz.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.last_tick_at: datetime | None = None
        self.last_pass: PassReport | None = None
        self.last_reminders: ReminderReport | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[str] = set()
        self._digest_day: date | None = None  # the local day whose digest this one reserved

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        """Schedule the jobs; call from inside the running event loop."""
        if self.running:
            return
        settings = self.services.settings.watcher
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        # a job still running when its next turn comes skips that turn quietly (see _once)
        every = {"max_instances": 2, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(
            self.tick, "interval", seconds=settings.tick_seconds, id="tick",
            next_run_time=now, **every,
        )  # fmt: skip
        scheduler.add_job(
            self.post_alerts, "interval", seconds=settings.tick_seconds, id="alerts", **every
        )
        if settings.sync_interval_minutes:
            scheduler.add_job(
                self.sync, "interval", minutes=settings.sync_interval_minutes, id="sync",
                next_run_time=now + FIRST_SYNC_DELAY, **every,
            )  # fmt: skip
        scheduler.add_job(
            self.expire_requests, "interval", seconds=EXPIRY_SECONDS, id="expiry", **every
        )
        if settings.digest_time is not None:  # by services.now() in its zone, not a cron
            scheduler.add_job(
                self.digest, "interval", seconds=DIGEST_CHECK_SECONDS, id="digest",
                next_run_time=now, **every,
            )  # fmt: skip
        scheduler.start()
        self._scheduler = scheduler
        logger.info("watcher started: a tick every %g s", settings.tick_seconds)

    def shutdown(self) -> None:
        """Stop scheduling; a pass in flight is cancelled (its leases run out by themselves)."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    # -- the jobs -----------------------------------------------------------------------------
    async def tick(self) -> PassReport | None:
        """Read the change feeds that are due, then one poll pass, then the follow-ups due
        (reminders, escalation, deadlines), then post what they found."""
        if feed_accounts(self.services):
            await self._guarded("change feeds", lambda: read_change_feeds(self.services))
        report: PassReport | None = await self._guarded(
            "poll pass", lambda: run_poll_pass(self.services)
        )
        if report is not None:
            self.last_pass = report
            await self._guarded("gauges", self._refresh_gauges)
        reminders = await self._guarded("reminders", lambda: run_reminder_pass(self.services))
        if reminders is not None:
            self.last_reminders = reminders
        self.services.alert_posting.kick()
        self.last_tick_at = self.services.now()
        return report

    async def _refresh_gauges(self) -> None:
        """Tracked transfers by phase and unreachable accounts, for /metrics."""
        metrics = self.services.metrics
        if metrics is None:
            return
        async with self.services.db.session() as session:
            counts = await count_transfers_by_phase(session)
        down = await read_unreachable_accounts(
            self.services.db, after_failures=self.services.settings.watcher.outage_after_failures
        )
        metrics.set_phase_counts(counts)
        metrics.set_unreachable(down)

    async def post_alerts(self) -> None:
        self.services.alert_posting.kick()

    async def sync(self) -> None:
        await self._guarded("sync", lambda: sync_accounts(self.services, actor="watcher"))

    async def digest(self) -> None:
        """Reserve today's digest once its local time has come (once a local day: a day
        already reserved here is not asked about again; other replicas find its key)."""
        settings = self.services.settings.watcher
        if settings.digest_time is None:
            return
        day = digest_day_due(self.services.now(), settings.digest_time, settings.digest_zone)
        if day is None or day == self._digest_day:
            return
        done = await self._guarded("digest", lambda: reserve_digest(self.services, day=day))
        if done is not None:
            self._digest_day = day

    async def expire_requests(self) -> None:
        """Expire approval requests past their time and recover interrupted runs."""
        await self._guarded("request expiry", lambda: expire_due_requests(self.services))

    async def _guarded(self, what: str, job: Callable[[], Awaitable[Any]]) -> Any:
        """Run a job unless the same one is still running; its failure is logged, never
        the end of the scheduler."""
        if what in self._running:
            return None
        self._running.add(what)
        try:
            return await job()
        except Exception as exc:
            logger.error("%s failed: %s", what, getattr(exc, "message", None) or exc, exc_info=exc)
            return None
        finally:
            self._running.discard(what)
