"""The details of a summary: every alert it rolls up, packed into few replies in its thread."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from bot.slack.blocks import MAX_BLOCKS, Message
from bot.slack.calls import SlackOutcomeUnknown, SlackRefused
from bot.watcher.messages import transfer_alert_message
from bot.watcher.threads import Posting
from storage.models import Alert, TrackedTransfer

__all__ = ["pack_messages", "post_details"]

logger = logging.getLogger(__name__)

MAX_REPLY_TEXT = 3000


def pack_messages(messages: Iterable[Message], *, limit: int = MAX_BLOCKS) -> list[Message]:
    """Join messages into as few as fit Slack's limits: at most ``limit`` blocks, block ids
    unique within each (one transfer's buttons appear once per message)."""
    packed: list[Message] = []
    text, blocks, ids = "", [], set()  # type: ignore[var-annotated]
    for message_text, message_blocks in messages:
        new_ids = {b["block_id"] for b in message_blocks if b.get("block_id")}
        too_many = len(blocks) + len(message_blocks) > limit
        if blocks and (too_many or new_ids & ids or len(text) > MAX_REPLY_TEXT):
            packed.append((text, blocks))
            text, blocks, ids = "", [], set()
        text = f"{text}\n{message_text}".strip()
        blocks = [*blocks, *message_blocks]
        ids |= new_ids
    if blocks:
        packed.append((text, blocks))
    return packed


async def post_details(
    posting: Posting,
    alerts: list[Alert],
    rows: Mapping[Any, TrackedTransfer | None],
    channel: str,
    summary_ts: str,
) -> None:
    """Reply in the summary's thread (in ``channel``) with each alert in full (buttons included).

    Best effort: the summary itself delivered the alerts, so a failure here is logged.
    """
    messages = []
    async with posting.services.db.session() as session:
        for alert in alerts:
            row = rows.get(alert.id)
            if row is not None:
                messages.append(await transfer_alert_message(session, alert, row))
    for text, blocks in pack_messages(messages):
        reply = partial(
            posting.client.chat_postMessage,
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=summary_ts,
        )
        try:
            await posting.services.calls.paced(reply, channel=channel, pace=posting.pace)
        except (SlackRefused, SlackOutcomeUnknown) as exc:
            logger.warning("a summary's details were not all posted (%s)", exc)
            return
