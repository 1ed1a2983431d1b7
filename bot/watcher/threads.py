"""One thread per transfer, in the channel its route chose: its first message made once,
kept current, and never moved (``bot.routing``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.calls import (
    SlackOutcomeUnknown,
    SlackRefused,
    find_thread,
    thread_metadata,
)
from bot.watcher.messages import header_message
from storage.models import TrackedTransfer
from storage.transfers import get_transfer, set_alert_thread

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["Posting", "Thread", "open_thread", "update_header"]

logger = logging.getLogger(__name__)


@dataclass
class Posting:
    """Where and how alerts go: the services, a client that never retries by itself, the
    default alert channel and the pace of posts to one channel."""

    services: Services
    client: AsyncWebClient
    channel: str
    pace: float

    async def row(self, transfer_id: int | None) -> TrackedTransfer | None:
        if transfer_id is None:
            return None
        async with self.services.db.session() as session:
            return await get_transfer(session, transfer_id=transfer_id)


@dataclass(frozen=True, slots=True)
class Thread:
    channel: str
    ts: str
    created: bool  # its first message was just posted (and is current)


async def open_thread(
    posting: Posting, row: TrackedTransfer, *, channel: str, stale: bool, since: datetime
) -> Thread:
    """The transfer's thread, started with its header in ``channel`` (where its route says)
    if it has none yet; one it has stays where it is.

    ``stale``: an earlier poster may have died after posting the header and before
    recording it; look for it in the channel first. When two posters start a thread at
    once, the one recorded first wins and the other's header is deleted.
    """
    assert row.id is not None
    if row.alert_ts and row.alert_channel:
        return Thread(row.alert_channel, row.alert_ts, created=False)
    if stale:
        found = await find_thread(posting.client, channel, transfer_id=row.id, since=since)
        if found is not None:
            return await _record(posting, row.id, channel, found, created=False)
    async with posting.services.db.session() as session:
        text, blocks = await header_message(session, row, posting.services.now())
    response = await posting.services.calls.paced(
        lambda: posting.client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            metadata=thread_metadata(row.id or 0),
        ),
        channel=channel,
        pace=posting.pace,
    )
    return await _record(posting, row.id, channel, str(response["ts"]), created=True)


async def _record(
    posting: Posting, transfer_id: int, channel: str, ts: str, *, created: bool
) -> Thread:
    async with posting.services.db.session() as session:
        won = await set_alert_thread(session, transfer_id=transfer_id, channel=channel, ts=ts)
    if won:
        return Thread(channel, ts, created=created)
    row = await posting.row(transfer_id)
    assert row is not None and row.alert_ts and row.alert_channel
    if created and row.alert_ts != ts:  # another poster's header won: ours goes
        try:
            await posting.services.calls.paced(
                lambda: posting.client.chat_delete(channel=channel, ts=ts),
                channel=channel,
            )
        except (SlackRefused, SlackOutcomeUnknown) as exc:
            logger.warning("could not delete a second thread header (%s)", exc)
    return Thread(row.alert_channel, row.alert_ts, created=False)


async def update_header(posting: Posting, transfer_id: int | None) -> None:
    """Bring the thread's first message up to date (best effort: it is not an alert)."""
    row = await posting.row(transfer_id)
    if row is None or not row.alert_ts or not row.alert_channel:
        return
    channel, ts = row.alert_channel, row.alert_ts
    async with posting.services.db.session() as session:
        text, blocks = await header_message(session, row, posting.services.now())
    try:
        await posting.services.calls.paced(
            lambda: posting.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
            channel=channel,
        )
    except (SlackRefused, SlackOutcomeUnknown) as exc:
        logger.warning("could not update the thread header of %s (%s)", row.short_id, exc)
