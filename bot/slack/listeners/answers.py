"""Answering the person who typed or clicked, after the ack: one place, one plain sentence."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.provider_lanes import LaneRefused, pool_slot
from bot.slack.blocks import Message, finish, section
from bot.slack.parsing import CommandError
from providers.errors import ProviderError
from storage.database import urgent_units
from storage.errors import StorageError

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["AFTER_ACK_BACKLOG", "AFTER_ACK_LIMIT", "BUSY", "OUR_FAULT", "AfterAck", "Answer",
           "Pool", "sentence"]  # fmt: skip

logger = logging.getLogger(__name__)

AFTER_ACK_LIMIT = 16  # pieces of after-ack work running at once, per app
# pieces taken on and not finished beyond which new work is turned away (a few seconds of
# work at the rate measured by tests/reliability/test_load.py): a clear "busy" at once is
# better than an answer minutes late
AFTER_ACK_BACKLOG = 500
REFUSAL_POSTS = 32  # "busy" answers being posted at once, at most; the rest are counted
REFUSAL_LOG_SECONDS = 60.0  # one warning sums up the refusals of this long
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
            sent = await self.services.calls.answer(
                "chat.postEphemeral",
                channel=self.channel_id,
                user=self.user_id,
                text=text,
                blocks=blocks,
            )
            if sent is not None:
                return
        await self.services.calls.answer(
            "chat.postMessage", channel=self.user_id, text=text, blocks=blocks
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


class Pool(enum.StrEnum):
    """Which after-ack pool a piece of work waits in.

    Decisions (Approve, Reject, Withdraw, a submitted form) never wait behind commands
    and other clicks, whose provider reads may be slow: each pool has its own slots and
    its own backlog.
    """

    DECISIONS = "decisions"
    COMMANDS = "commands"


class _PoolState:
    def __init__(self, limit: int, backlog: int) -> None:
        self.slots = asyncio.Semaphore(limit)
        self.backlog = backlog
        self.taken = 0


class AfterAck:
    """Runs work after the ack, at most ``limit`` pieces at a time per pool; whatever goes
    wrong reaches the person as one sentence.

    The bound keeps a burst of local work (database reads and writes, Slack posts) from
    crowding the event loop that acknowledges the next requests: the rest wait their
    turn. Provider calls step out of the pool while they wait (``bot.provider_lanes``):
    they are bounded by their account's own lane, so a hanging account fills only its own
    slots. Once ``backlog`` pieces of a pool are taken on and not finished, that pool is
    busy: listeners then answer :data:`BUSY` instead of taking more on, so nothing is
    accepted and left undone.
    """

    def __init__(
        self,
        services: Services,
        *,
        limit: int = AFTER_ACK_LIMIT,
        backlog: int = AFTER_ACK_BACKLOG,
        refusal_posts: int = REFUSAL_POSTS,
    ) -> None:
        self.services = services
        self.backlog = backlog
        self._pools = {pool: _PoolState(limit, backlog) for pool in Pool}
        self._refusal_posts = refusal_posts
        self._refusing = 0
        self._refused_since_log = 0
        self._logged_at = 0.0

    @property
    def busy(self) -> bool:
        """Commands and ordinary clicks would be turned away now."""
        return self.is_busy(Pool.COMMANDS)

    def is_busy(self, pool: Pool) -> bool:
        state = self._pools[pool]
        return state.taken >= state.backlog

    def __call__(
        self,
        answer: Answer,
        work: Coroutine[Any, Any, Any],
        *,
        name: str,
        pool: Pool = Pool.COMMANDS,
    ) -> None:
        self._pools[pool].taken += 1
        self.services.spawn(self._guarded(answer, work, name, pool), name=name)

    def refuse(self, answer: Answer | None = None, *, pool: Pool = Pool.COMMANDS) -> None:
        """Count a piece of work turned away as busy and tell the person, if ``answer``.

        The refusal posts are bounded too: beyond :data:`REFUSAL_POSTS` under way, a
        refusal is counted but not posted (the click did nothing; clicking again works once
        the bot has caught up). One warning a minute sums the refusals up.
        """
        self.count_refused(pool, "busy")
        if answer is None:
            return
        if self._refusing >= self._refusal_posts:
            return
        self._refusing += 1
        self.services.spawn(self._send_refusal(answer), name="busy")

    def count_refused(self, pool: Pool | str, reason: str) -> None:
        metrics = self.services.metrics
        if metrics is not None:
            metrics.count_refused(str(pool), reason)
        if reason != "busy":
            return
        self._refused_since_log += 1
        now = time.monotonic()
        if now - self._logged_at >= REFUSAL_LOG_SECONDS:
            waiting = {str(p): s.taken for p, s in self._pools.items()}
            logger.warning(
                "turned %d pieces of work away as busy since the last such warning "
                "(after-ack work taken on and not finished: %s)",
                self._refused_since_log,
                waiting,
            )
            self._refused_since_log = 0
            self._logged_at = now

    async def _send_refusal(self, answer: Answer) -> None:
        try:
            await answer.send(BUSY)
        finally:
            self._refusing -= 1

    async def _guarded(
        self, answer: Answer, work: Coroutine[Any, Any, Any], name: str, pool: Pool
    ) -> None:
        started = False
        state = self._pools[pool]
        urgent = urgent_units() if pool is Pool.DECISIONS else contextlib.nullcontext()
        try:
            with urgent:  # a decision's database work goes before commands' (storage.sqlite)
                async with pool_slot(state.slots):
                    started = True
                    await work
        except LaneRefused as exc:
            self.count_refused(pool, "provider")
            await answer.send(exc.message)
        except (ProviderError, StorageError, CommandError) as exc:
            await answer.send(exc.message)
        except Exception:
            logger.exception("%s failed", name)
            await answer.send(OUR_FAULT)
        finally:
            state.taken -= 1
            if not started:
                work.close()  # cancelled while waiting for a slot
