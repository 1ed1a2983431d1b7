"""Answering the person who typed or clicked, after the ack: one place, one plain sentence."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.request_posts import slack_call
from bot.slack.blocks import Message, finish, section
from bot.slack.parsing import CommandError
from providers.errors import ProviderError
from storage.errors import StorageError

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["AFTER_ACK_BACKLOG", "AFTER_ACK_LIMIT", "BUSY", "OUR_FAULT", "AfterAck", "Answer",
           "sentence"]  # fmt: skip

logger = logging.getLogger(__name__)

AFTER_ACK_LIMIT = 16  # pieces of after-ack work running at once, per app
# pieces taken on and not finished beyond which new work is turned away (a few seconds of
# work at the rate measured by tests/reliability/test_load.py): a clear "busy" at once is
# better than an answer minutes late
AFTER_ACK_BACKLOG = 500
BUSY = (
    "transferbot is very busy right now and did not take this on, so nothing was done; "
    "please try again in a minute."
)
OUR_FAULT = (
    "Something went wrong on our side and nothing more was done; the details are in the bot's log."
)


def sentence(text: str) -> Message:
    """One plain sentence as a message."""
    return finish(text, [section(text)])


class Answer:
    """How to reach the person: their ``response_url``, else an ephemeral note in the channel,
    else a direct message from the bot (App Home clicks and modal submissions have no URL).
    """

    def __init__(
        self,
        services: Services,
        *,
        user_id: str,
        respond: AsyncRespond | None = None,
        channel_id: str | None = None,
    ) -> None:
        self.services = services
        self.user_id = user_id
        self.respond = respond if respond is not None and respond.response_url else None
        self.channel_id = channel_id

    async def send(self, message: Message | str, *, replace: bool = False) -> None:
        """Show ``message`` (a sentence or (text, blocks)) to the person only."""
        text, blocks = sentence(message) if isinstance(message, str) else message
        if self.respond is not None and await self._respond(text, blocks, replace):
            return
        if self.channel_id and self.channel_id[:1] in "CG":
            sent = await slack_call(
                self.services,
                "chat.postEphemeral",
                channel=self.channel_id,
                user=self.user_id,
                text=text,
                blocks=blocks,
            )
            if sent is not None:
                return
        await slack_call(
            self.services, "chat.postMessage", channel=self.user_id, text=text, blocks=blocks
        )

    async def _respond(self, text: str, blocks: Sequence[dict[str, Any]], replace: bool) -> bool:
        assert self.respond is not None
        try:
            reply = await self.respond(
                text=text,
                blocks=list(blocks),
                response_type="ephemeral",
                replace_original=replace,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.warning("response_url failed: %s", type(exc).__name__)
            return False
        status = getattr(reply, "status_code", 200)
        if status >= 400:
            logger.warning("response_url answered HTTP %s", status)
            return False
        return True


class AfterAck:
    """Runs work after the ack, at most ``limit`` pieces at a time; whatever goes wrong
    reaches the person as one sentence.

    The bound keeps a burst of slow work (provider calls, database writes) from crowding
    the event loop that acknowledges the next requests: the rest wait their turn. Once
    ``backlog`` pieces are taken on and not finished, the app is ``busy``: listeners then
    answer :data:`BUSY` instead of taking more on, so nothing is accepted and left undone.
    """

    def __init__(
        self, services: Services, *, limit: int = AFTER_ACK_LIMIT, backlog: int = AFTER_ACK_BACKLOG
    ) -> None:
        self.services = services
        self.backlog = backlog
        self._slots = asyncio.Semaphore(limit)
        self._taken = 0

    @property
    def busy(self) -> bool:
        return self._taken >= self.backlog

    def __call__(self, answer: Answer, work: Coroutine[Any, Any, Any], *, name: str) -> None:
        self._taken += 1
        self.services.spawn(self._guarded(answer, work, name), name=name)

    def refuse(self, answer: Answer) -> None:
        """Tell the person the bot is too busy (outside the queue: it is one short post)."""
        logger.warning("turned work away: %d pieces of after-ack work are waiting", self._taken)
        self.services.spawn(answer.send(BUSY), name="busy")

    async def _guarded(self, answer: Answer, work: Coroutine[Any, Any, Any], name: str) -> None:
        started = False
        try:
            async with self._slots:
                started = True
                await work
        except (ProviderError, StorageError, CommandError) as exc:
            await answer.send(exc.message)
        except Exception:
            logger.exception("%s failed", name)
            await answer.send(OUR_FAULT)
        finally:
            self._taken -= 1
            if not started:
                work.close()  # cancelled while waiting for a slot
