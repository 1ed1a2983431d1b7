"""Every Slack Web API call the bot makes, with one error story.

A call either returns Slack's answer, or raises :class:`SlackRefused` (Slack answered and
did not do it: safe to try again) or :class:`SlackOutcomeUnknown` (no answer: it may or may
not be done). :class:`SlackCalls`, held by ``Services``, makes them: :meth:`SlackCalls.paced`
for the watcher's posts (the channel's pace, 429 Retry-After waited out, a client that
never retries by itself), :meth:`SlackCalls.answer` for answers to people (best effort: a
failure is logged by its error code and answered with None).

Every watcher post carries message metadata naming what it delivers (``transferbot_alert`` with
the alert id, ``transferbot_summary`` with the alert ids, ``transferbot_thread`` with the
transfer id), so a poster that takes over an alert whose earlier poster died mid-post can
look in the thread or the channel (``conversations.replies`` / ``.history``) and adopt
the message instead of posting it twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

__all__ = [
    "ALERT_EVENT",
    "CHANNEL_PACE_SECONDS",
    "SUMMARY_EVENT",
    "THREAD_EVENT",
    "ChannelPace",
    "SlackCalls",
    "SlackOutcomeUnknown",
    "SlackRefused",
    "alert_metadata",
    "find_posted",
    "find_thread",
    "refusal",
    "summary_metadata",
    "thread_metadata",
]

logger = logging.getLogger(__name__)

CHANNEL_PACE_SECONDS = 1.0  # Slack: about one message a second per channel
MAX_RETRY_AFTER = 120.0
RATE_LIMIT_TRIES = 4
ALERT_EVENT = "transferbot_alert"
SUMMARY_EVENT = "transferbot_summary"
THREAD_EVENT = "transferbot_thread"
LOOKBACK = timedelta(minutes=10)


class SlackRefused(Exception):
    """Slack answered and did not do it (``ok: false``, or still rate limited): safe to retry."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(error)


class SlackOutcomeUnknown(Exception):
    """No answer (connection dropped, timeout, 5xx): the message may or may not be posted."""


class ChannelPace:
    """At most one post per channel every ``seconds`` from this process; 429s pause it."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, channel: str, seconds: float) -> None:
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            delay = self._next.get(channel, 0.0) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next[channel] = time.monotonic() + seconds

    def pause(self, channel: str, seconds: float) -> None:
        self._next[channel] = max(self._next.get(channel, 0.0), time.monotonic() + seconds)


def _retry_after(error: SlackApiError) -> float | None:
    response = error.response
    if getattr(response, "status_code", None) != 429:
        return None
    headers: Mapping[str, Any] = getattr(response, "headers", None) or {}
    raw = headers.get("Retry-After") or headers.get("retry-after") or "1"
    try:
        return min(MAX_RETRY_AFTER, max(1.0, float(raw)))
    except (TypeError, ValueError):
        return 1.0


def refusal(exc: BaseException) -> SlackRefused | SlackOutcomeUnknown | None:
    """What a failed call means, or None when ``exc`` is not a failed Slack call."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        if status >= 500:
            return SlackOutcomeUnknown(f"Slack answered HTTP {status}")
        return SlackRefused(str(exc.response.get("error") or "unknown_error"))
    if isinstance(exc, (aiohttp.ClientError, TimeoutError, SlackClientError, OSError)):
        return SlackOutcomeUnknown(f"{type(exc).__name__}: {exc}")
    return None


class SlackCalls:
    """The bot's Web API calls; one per ``Services`` (its pace and its no-retry client)."""

    def __init__(self, client_of: Callable[[], AsyncWebClient]) -> None:
        self._client_of = client_of
        self.pace = ChannelPace()
        self._poster: AsyncWebClient | None = None

    @property
    def client(self) -> AsyncWebClient:
        """The bot's client: it waits out 429s (``serve`` adds that retry handler)."""
        return self._client_of()

    @property
    def poster(self) -> AsyncWebClient:
        """A client like :attr:`client` that never retries a call by itself: a post retried
        after a dropped connection could appear twice, so retries are decided here."""
        slack, client = self.client, self._poster
        if client is None or client.token != slack.token or client.base_url != slack.base_url:
            client = self._poster = AsyncWebClient(
                token=slack.token,
                base_url=slack.base_url,
                timeout=slack.timeout,
                headers=dict(slack.headers or {}),
                retry_handlers=[],
            )
        return client

    async def paced(
        self,
        call: Callable[[], Awaitable[AsyncSlackResponse]],
        *,
        channel: str,
        pace: float | None = None,
    ) -> AsyncSlackResponse:
        """Make one Web API call, keeping the channel's pace (``pace`` seconds; None: no
        pacing) and waiting out 429 Retry-After a few times (a 429 means nothing was done).

        Raises SlackRefused when Slack said no, SlackOutcomeUnknown when no answer came.
        """
        for attempt in range(1, RATE_LIMIT_TRIES + 1):
            if pace is not None:
                await self.pace.wait(channel, pace)
            try:
                return await call()
            except Exception as exc:
                failed = refusal(exc)
                if failed is None:
                    raise
                wait = _retry_after(exc) if isinstance(exc, SlackApiError) else None
                if wait is None:
                    raise failed from None
                self.pace.pause(channel, wait)
                logger.info(
                    "Slack rate limited %s (attempt %d); waiting %.0f s", channel, attempt, wait
                )
                if pace is None:
                    await asyncio.sleep(wait)
        raise SlackRefused("ratelimited")

    async def answer(self, method: str, **kwargs: Any) -> dict[str, Any] | None:
        """Call ``method`` for a person's answer; a failure is logged (by its error code)
        and answered with None, so the caller can try another way to reach them."""
        try:
            response = await self.client.api_call(method, json=kwargs)
        except Exception as exc:
            failed = refusal(exc)
            if failed is None:
                raise
            logger.warning("Slack %s failed: %s", method, _why(failed))
            return None
        return dict(response.data) if isinstance(response.data, dict) else {}


def _why(failed: SlackRefused | SlackOutcomeUnknown) -> str:
    if isinstance(failed, SlackRefused):
        return failed.error
    return str(failed).split(":", 1)[0]  # the exception's type, not its text


def alert_metadata(alert_id: int) -> dict[str, Any]:
    return {"event_type": ALERT_EVENT, "event_payload": {"alert_id": alert_id}}


def summary_metadata(alert_ids: list[int]) -> dict[str, Any]:
    return {"event_type": SUMMARY_EVENT, "event_payload": {"alert_ids": alert_ids}}


def thread_metadata(transfer_id: int) -> dict[str, Any]:
    return {"event_type": THREAD_EVENT, "event_payload": {"transfer_id": transfer_id}}


def _delivers(message: Mapping[str, Any], alert_id: int) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    if metadata.get("event_type") == ALERT_EVENT:
        return bool(payload.get("alert_id") == alert_id)
    if metadata.get("event_type") == SUMMARY_EVENT:
        return alert_id in (payload.get("alert_ids") or [])
    return False


async def _messages(
    client: AsyncWebClient, channel: str, *, thread_ts: str | None, since: datetime
) -> list[Mapping[str, Any]] | None:
    oldest = f"{(since - LOOKBACK).timestamp():.6f}"
    try:
        if thread_ts:
            response = await client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=1000
            )
        else:
            response = await client.conversations_history(
                channel=channel, oldest=oldest, include_all_metadata=True, limit=1000
            )
    except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("can't read back channel %s to check for a post (%s)", channel, exc)
        return None
    return list(response.get("messages") or [])


async def find_posted(
    client: AsyncWebClient,
    channel: str,
    *,
    alert_id: int,
    thread_ts: str | None,
    since: datetime,
) -> tuple[str, str | None] | bool | None:
    """Where an alert whose poster died may already be: ``(ts, thread_ts)``; None when it
    is certainly not there; False when Slack can't be read (then it may be posted again)."""
    places = [thread_ts, None] if thread_ts else [None]
    readable = True
    for place in places:
        messages = await _messages(client, channel, thread_ts=place, since=since)
        if messages is None:
            readable = False
            continue
        for message in messages:
            if _delivers(message, alert_id):
                return str(message["ts"]), message.get("thread_ts") or place
    return None if readable else False


async def find_thread(
    client: AsyncWebClient, channel: str, *, transfer_id: int, since: datetime
) -> str | None:
    """The thread header of a transfer posted by a poster that died before recording it."""
    messages = await _messages(client, channel, thread_ts=None, since=since) or []
    for message in messages:
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == THREAD_EVENT and payload.get("transfer_id") == transfer_id:
            return str(message["ts"])
    return None
