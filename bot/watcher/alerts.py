"""Post reserved alerts: one thread per transfer, in the channel its route chose
(``bot.routing``), each alert exactly once.

Each alert goes claim → post → mark posted. The claim is a lease: an alert left in
``posting`` by a poster that died is taken over once the lease (``lease_seconds``) has run
out, and the new poster first looks in the transfer's thread and the channel for a
message carrying the alert's id in its metadata; if one is there it is adopted, not
posted again. A post Slack refused (``ok: false``) goes back to pending and is tried on the
next round; one with no answer (dropped connection, timeout) stays claimed, so it is
looked up before anything is posted again. Only when Slack can't be read back (missing
``channels:history`` scope) may such an alert be posted a second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.routing import route_alerts
from bot.slack.alerts import summary_message
from bot.slack.calls import (
    CHANNEL_PACE_SECONDS,
    SlackOutcomeUnknown,
    SlackRefused,
    alert_metadata,
    find_posted,
    summary_metadata,
)
from bot.watcher.decisions import (
    ACCOUNT_KINDS,
    DEADLINE,
    DIGEST,
    ESCALATION,
    FOLLOWUP_KINDS,
    HEADER,
    TRANSFER_KINDS,
)
from bot.watcher.digest import digest_message
from bot.watcher.messages import (
    account_alert_message,
    followup_alert_message,
    parse_time,
    transfer_alert_message,
    transfer_at_alert,
)
from bot.watcher.reminders import stay_is
from bot.watcher.summary import post_details
from bot.watcher.threads import Posting, Thread, open_thread, update_header
from storage.alerts import (
    claim_alert,
    get_alert_by_key,
    mark_alert_posted,
    pending_alerts,
    return_alert,
)
from storage.audit import record_audit
from storage.errors import StorageError
from storage.followups import get_followup
from storage.models import Alert, AlertState, Followup, TrackedTransfer
from storage.owners import clear_owner_if_moving
from storage.transfers import get_transfers

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["SUMMARY_AFTER", "AlertPosting", "post_pending_alerts"]

logger = logging.getLogger(__name__)

SUMMARY_AFTER = 5  # more transfer alerts than this at once are rolled into one summary
SUMMARY_MAX = 200
BATCH = 500
RETRY_FREELY = 3  # refused attempts before backing off

Where = tuple[str, str, str | None]  # channel, ts, thread_ts


async def post_pending_alerts(services: Services, *, pace: float = CHANNEL_PACE_SECONDS) -> int:
    """Post every reserved alert not yet posted; returns how many were delivered.

    Args:
        pace: seconds between two posts to one channel (Slack allows about one a second).
    """
    channel = services.settings.slack.alert_channel
    if channel is None:
        logger.info("no alert channel configured (slack.alert_channel); alerts wait")
        return 0
    now = services.now()
    stale_before = now - timedelta(seconds=services.settings.watcher.lease_seconds)
    try:
        async with services.db.session() as session:
            alerts = await pending_alerts(session, stale_before=stale_before, limit=BATCH)
        poster = _Poster(services, channel, pace, stale_before)
        return await poster.post(alerts)
    except StorageError as exc:
        logger.warning("alerts not posted: %s", exc.message)
        return 0


class AlertPosting:
    """Posts pending alerts in the background when kicked: one poster per ``Services`` at
    a time, asked to go round again when kicked while busy. Held by ``Services``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._again = False
        self._task: asyncio.Task[Any] | None = None

    def kick(self) -> None:
        """Post pending alerts soon (the watcher, a sync or a command found something)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = self.services.spawn(self._post_while_asked(), name="post-alerts")

    async def _post_while_asked(self) -> None:
        while True:
            self._again = False
            await post_pending_alerts(self.services)
            if not self._again:
                return


class _Poster:
    def __init__(self, services: Services, channel: str, pace: float, stale_before: datetime):
        self.services = services
        self.channel = channel
        self.stale_before = stale_before
        self.client = services.calls.poster
        self.pace = pace
        self.posting = Posting(services, self.client, channel, pace)

    async def post(self, alerts: list[Alert]) -> int:
        alerts = [a for a in alerts if not self._resting(a)]
        fresh = [
            a for a in alerts if a.kind in TRANSFER_KINDS and a.state == AlertState.PENDING.value
        ]
        posted = 0
        if len(fresh) > SUMMARY_AFTER:  # many at once: one summary per channel they go to
            summarised: set[int | None] = set()
            for channel, group in (await self._by_channel(fresh)).items():
                if len(group) > SUMMARY_AFTER:
                    posted += await self._summary(channel, group[:SUMMARY_MAX])
                    summarised |= {a.id for a in group[:SUMMARY_MAX]}
            alerts = [a for a in alerts if a.id not in summarised]
        headers: dict[int, list[Alert]] = defaultdict(list)
        for alert in alerts:
            if alert.kind == HEADER and alert.transfer_id is not None:
                headers[alert.transfer_id].append(alert)
            else:
                posted += await self._one(alert)
        for transfer_id, group in headers.items():
            await self._headers(transfer_id, group)
        return posted

    async def _by_channel(self, alerts: list[Alert]) -> dict[str, list[Alert]]:
        """The alerts grouped by the channel each goes to (its transfer's route)."""
        ids = [a.transfer_id for a in alerts if a.transfer_id is not None]
        async with self.services.db.session() as session:
            rows = await get_transfers(session, transfer_ids=ids)
        groups: dict[str, list[Alert]] = defaultdict(list)
        for alert in alerts:
            row = rows.get(alert.transfer_id) if alert.transfer_id is not None else None
            groups[self._channel_of(alert, row)].append(alert)
        return groups

    def _channel_of(self, alert: Alert, row: TrackedTransfer | None) -> str:
        """Where an alert goes: its transfer's thread, else its route, else the default."""
        phase = transfer_at_alert(alert, row).phase.value if row is not None else None
        return route_alerts(self.services.settings, row, phase=phase).channel or self.channel

    def _resting(self, alert: Alert) -> bool:
        """An alert Slack keeps refusing is tried less and less often (at most hourly)."""
        if alert.attempts < RETRY_FREELY or alert.state != AlertState.PENDING.value:
            return False
        wait = min(3600.0, 60.0 * 2 ** (alert.attempts - RETRY_FREELY))
        return self.services.now() < alert.updated_at + timedelta(seconds=wait)

    # -- claiming and marking ---------------------------------------------------------------
    async def _claim(self, alerts: list[Alert]) -> list[Alert]:
        won = []
        async with self.services.db.session() as session:
            for alert in alerts:
                assert alert.id is not None
                if await claim_alert(
                    session,
                    alert_id=alert.id,
                    now=self.services.now(),
                    stale_before=self.stale_before,
                ):
                    won.append(alert)
        return won

    async def _mark(self, alerts: list[Alert], where: Where) -> None:
        channel, ts, thread_ts = where
        async with self.services.db.session() as session:
            for alert in alerts:
                assert alert.id is not None
                await mark_alert_posted(
                    session,
                    alert_id=alert.id,
                    channel=channel,
                    ts=ts,
                    thread_ts=thread_ts,
                    now=self.services.now(),
                )
                if alert.kind in FOLLOWUP_KINDS and ts:  # /transfer history shows "reminded"
                    await record_audit(
                        session,
                        actor="watcher",
                        verb="reminded",
                        transfer_id=alert.transfer_id,
                        detail=alert.message,
                        now=self.services.now(),
                    )
        metrics = self.services.metrics
        if metrics is not None:
            for alert in alerts:
                metrics.count_alert(alert.kind)

    async def _give_back(self, alerts: list[Alert], error: str) -> None:
        async with self.services.db.session() as session:
            for alert in alerts:
                assert alert.id is not None
                await return_alert(session, alert_id=alert.id, error=error, now=self.services.now())

    async def _row(self, transfer_id: int | None) -> TrackedTransfer | None:
        """The transfer as it stands; its owner let go first once it is no longer stuck
        (every change of status that the channel hears of passes here)."""
        if transfer_id is not None:
            async with self.services.db.session() as session:
                await clear_owner_if_moving(
                    session, transfer_id=transfer_id, now=self.services.now()
                )
        return await self.posting.row(transfer_id)

    # -- one alert --------------------------------------------------------------------------
    async def _one(self, alert: Alert) -> int:
        stale = alert.state == AlertState.POSTING.value
        if not await self._claim([alert]):
            return 0
        try:
            where = await self._deliver(alert, stale)
        except SlackRefused as exc:
            logger.warning("Slack refused alert %s (%s); it will be tried again", alert.key, exc)
            await self._give_back([alert], f"Slack said {exc.error}")
            return 0
        except SlackOutcomeUnknown as exc:
            logger.warning("alert %s may or may not be posted (%s); checking later", alert.key, exc)
            return 0
        except StorageError:
            raise
        except Exception:  # a bug building this one: the others still go out
            logger.exception("alert %s could not be posted", alert.key)
            await self._give_back([alert], "The bot could not build this alert.")
            return 0
        if where is None:
            return 0
        await self._mark([alert], where)
        return 1

    async def _deliver(self, alert: Alert, stale: bool) -> Where | None:
        if alert.kind in TRANSFER_KINDS:
            return await self._transfer_alert(alert, stale)
        if alert.kind in FOLLOWUP_KINDS:
            return await self._followup(alert, stale)
        if alert.kind in ACCOUNT_KINDS or alert.kind == DIGEST:
            return await self._channel_alert(alert, stale)
        logger.error(
            "alert %s has a kind we can't post (%r); marking it done", alert.key, alert.kind
        )
        return self.channel, "", None

    async def _thread(
        self, alert: Alert, row: TrackedTransfer, channel: str, stale: bool
    ) -> tuple[Thread, Where | None]:
        """The transfer's thread (started in ``channel`` if it has none), and where the alert
        already is if a poster that died (``stale``) got it there."""
        thread = await open_thread(
            self.posting, row, channel=channel, stale=stale, since=alert.created_at
        )
        adopted = await self._adopt(alert, thread.channel, thread.ts) if stale else None
        return thread, adopted

    async def _post(
        self,
        alert: Alert,
        channel: str,
        thread_ts: str | None,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        broadcast: bool,
    ) -> Where:
        """Post the alert (its id in the metadata, for a later poster to find), in the thread
        ``thread_ts`` if given, also to the channel when ``broadcast``."""
        response = await self.services.calls.paced(
            lambda: self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                reply_broadcast=True if broadcast else None,
                metadata=alert_metadata(alert.id or 0),
            ),
            channel=channel,
            pace=self.pace,
        )
        return channel, str(response["ts"]), thread_ts

    async def _adopt(self, alert: Alert, channel: str, thread_ts: str | None) -> Where | None:
        """An alert a dead poster may have posted: where it landed, if it did."""
        assert alert.id is not None
        found = await find_posted(
            self.client, channel, alert_id=alert.id, thread_ts=thread_ts, since=alert.created_at
        )
        if isinstance(found, tuple):
            logger.info("alert %s was posted before a restart; not posting it again", alert.key)
            return channel, found[0], found[1]
        return None

    async def _transfer_alert(self, alert: Alert, stale: bool) -> Where | None:
        row = await self._row(alert.transfer_id)
        if row is None:
            return self.channel, "", None  # the transfer is gone: nothing to tell
        thread, adopted = await self._thread(alert, row, self._channel_of(alert, row), stale)
        if adopted is not None:
            return adopted
        async with self.services.db.session() as session:
            text, blocks = await transfer_alert_message(session, alert, row)
        where = await self._post(alert, thread.channel, thread.ts, text, blocks, broadcast=False)
        if not thread.created:
            await update_header(self.posting, row.id)
        return where

    async def _followup(self, alert: Alert, stale: bool) -> Where | None:
        """A reminder, escalation or deadline warning, in the transfer's thread; nothing
        when the transfer moved, finished, was unwatched, owned (an escalation) or
        snoozed since it was reserved."""
        row = await self._row(alert.transfer_id)
        followup = None
        if row is not None and row.id is not None:
            async with self.services.db.session() as session:
                followup = await get_followup(session, transfer_id=row.id)
        if row is None or followup is None or not self._still_due(alert, row, followup):
            logger.info("follow-up %s is no longer due; not posting it", alert.key)
            return self.channel, "", None
        channel = route_alerts(self.services.settings, row).channel or self.channel
        thread, adopted = await self._thread(alert, row, channel, stale)
        if adopted is not None:
            return adopted
        text, blocks = followup_alert_message(alert, row, followup, self.services.now())
        payload = alert.payload or {}
        broadcast = alert.kind in (ESCALATION, DEADLINE) or bool(payload.get("broadcast"))
        return await self._post(alert, thread.channel, thread.ts, text, blocks, broadcast=broadcast)

    def _still_due(self, alert: Alert, row: TrackedTransfer, followup: Followup) -> bool:
        payload = alert.payload or {}
        if not row.watching or row.raw_code != followup.raw_code or not stay_is(followup, payload):
            return False
        now = self.services.now()
        if alert.kind == DEADLINE:
            deadline = parse_time(payload.get("deadline_at"))
            return deadline is not None and followup.deadline_at == deadline and now < deadline
        if not followup.stuck:
            return False
        if followup.snoozed_until is not None and followup.snoozed_until > alert.created_at:
            return False  # snoozed after it was reserved
        return alert.kind != ESCALATION or row.owner_id is None

    async def _channel_alert(self, alert: Alert, stale: bool) -> Where | None:
        """An alert about no one transfer (an outage, the digest): the default channel."""
        channel = self._channel_of(alert, None)
        if stale:
            adopted = await self._adopt(alert, channel, None)
            if adopted is not None:
                return adopted
        if alert.kind == DIGEST:
            async with self.services.db.session() as session:
                text, blocks = await digest_message(session, self.services.now())
        else:
            text, blocks = account_alert_message(alert)
        thread_ts = await self._outage_thread(alert, channel)
        return await self._post(alert, channel, thread_ts, text, blocks, broadcast=bool(thread_ts))

    async def _outage_thread(self, alert: Alert, channel: str) -> str | None:
        """A recovery answers in the thread of the outage alert it ends."""
        key = (alert.payload or {}).get("outage_key")
        if not key:
            return None
        async with self.services.db.session() as session:
            outage = await get_alert_by_key(session, key=key)
        if outage is None or outage.state != AlertState.POSTED.value or not outage.ts:
            return None
        return outage.ts if outage.channel == channel else None

    # -- many at once -----------------------------------------------------------------------
    async def _summary(self, channel: str, alerts: list[Alert]) -> int:
        won = await self._claim(alerts)
        rows = {a.id: await self._row(a.transfer_id) for a in won}
        won = [a for a in won if rows[a.id] is not None]
        if not won:
            return 0
        items = []
        for alert in won:
            row = rows[alert.id]
            assert row is not None
            items.append((alert.kind, row.short_id, transfer_at_alert(alert, row)))
        ids = [a.id for a in won if a.id is not None]
        try:
            text, blocks = summary_message(items)
            response = await self.services.calls.paced(
                lambda: self.client.chat_postMessage(
                    channel=channel, text=text, blocks=blocks, metadata=summary_metadata(ids)
                ),
                channel=channel,
                pace=self.pace,
            )
        except SlackRefused as exc:
            await self._give_back(won, f"Slack said {exc.error}")
            return 0
        except SlackOutcomeUnknown as exc:
            logger.warning("a summary of %d alerts may or may not be posted (%s)", len(won), exc)
            return 0
        except StorageError:
            raise
        except Exception:
            logger.exception("a summary of %d alerts could not be posted", len(won))
            await self._give_back(won, "The bot could not build the summary.")
            return 0
        ts = str(response["ts"])
        await self._mark(won, (channel, ts, None))
        await post_details(self.posting, won, rows, channel, ts)
        for row_id in {row.id for row in rows.values() if row is not None and row.alert_ts}:
            await update_header(self.posting, row_id)
        return len(won)

    # -- headers ----------------------------------------------------------------------------
    async def _headers(self, transfer_id: int, alerts: list[Alert]) -> None:
        won = await self._claim(alerts)
        if not won:
            return
        row = await self._row(transfer_id)
        if row is not None and row.alert_ts:
            await update_header(self.posting, transfer_id)
        channel = route_alerts(self.services.settings, row).channel or self.channel
        await self._mark(won, (channel, (row.alert_ts if row is not None else None) or "", None))
