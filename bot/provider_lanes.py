"""Provider work asked for by people goes through its account's own lane, never a shared one.

A hanging provider account must not hold up anything else: the listeners' after-ack pool
(``bot.slack.listeners.answers``) bounds *local* work, and every provider call made for a
person (a status card, a watch, a sync, an approved action) runs inside its account's
:class:`AccountLane` *outside* that pool (:func:`outside_pool`). A lane lets a few calls
run at once and a few wait; when it is full, or its calls have been running longer than
a provider answering normally takes, or a call just found the account not answering
(timed out, could not connect), the next one is refused at once with a sentence
naming the account ("Hostway account `hw-main` is not answering; try again later.")
instead of queueing behind it. Other accounts, and approvals, carry on.

The watcher does not use these lanes: its polls have their own per-account gates
(``bot.watcher.poll``), and both share the account's HTTP limits (``providers.http``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.slack.blocks import provider_name
from providers.errors import Unavailable

__all__ = [
    "LANE_COOLDOWN_SECONDS",
    "LANE_RUNNING",
    "LANE_STUCK_SECONDS",
    "LANE_WAITING",
    "AccountLane",
    "LaneRefused",
    "ProviderLanes",
    "outside_pool",
    "pool_slot",
]

logger = logging.getLogger(__name__)

LANE_RUNNING = 4  # calls for people running at once, per account
LANE_WAITING = 8  # calls for people waiting their turn, per account
# a call for a person running longer than this means the account is not answering
# normally (providers answer in well under a second; reads time out at 10 s or more)
LANE_STUCK_SECONDS = 5.0
# after a call finds the account not answering, one call at a time tries again for this long
LANE_COOLDOWN_SECONDS = 30.0

_POOL_SLOT: contextvars.ContextVar[asyncio.Semaphore | None] = contextvars.ContextVar(
    "after_ack_pool_slot", default=None
)


class LaneRefused(Unavailable):
    """A call for a person refused at once: its account's lane is full or stuck."""


@asynccontextmanager
async def pool_slot(slots: asyncio.Semaphore) -> AsyncIterator[None]:
    """Hold one of ``slots`` for the work inside, which may step out of it to call a provider."""
    async with slots:
        token = _POOL_SLOT.set(slots)
        try:
            yield
        finally:
            _POOL_SLOT.reset(token)


@asynccontextmanager
async def outside_pool() -> AsyncIterator[None]:
    """Give the current after-ack slot back while waiting on a provider; take one again after."""
    slots = _POOL_SLOT.get()
    if slots is None:
        yield
        return
    slots.release()
    _POOL_SLOT.set(None)
    try:
        yield
    finally:
        await slots.acquire()
        _POOL_SLOT.set(slots)


@dataclass
class AccountLane:
    """The calls made for people to one provider account: a few run, a few wait, no more.

    Once a call finds the account not answering (it timed out or could not connect), the
    lane lets one call at a time try again for :data:`LANE_COOLDOWN_SECONDS` and turns the
    others away at once, until a call gets through.
    """

    account: str
    running: int = LANE_RUNNING
    waiting: int = LANE_WAITING
    stuck_seconds: float = LANE_STUCK_SECONDS
    cooldown_seconds: float = LANE_COOLDOWN_SECONDS
    clock: Callable[[], float] = time.monotonic
    refused: int = 0
    _slots: asyncio.Semaphore = field(init=False)
    _started: dict[int, float] = field(init=False, default_factory=dict)
    _waiting: int = field(init=False, default=0)
    _failed_at: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.running)

    @property
    def stuck(self) -> bool:
        """Every running slot has been held longer than a normal answer takes."""
        if len(self._started) < self.running:
            return False
        oldest_allowed = self.clock() - self.stuck_seconds
        return all(started < oldest_allowed for started in self._started.values())

    @property
    def not_answering(self) -> bool:
        """A call found the account not answering lately, and one is trying it again now."""
        failing = (
            self._failed_at is not None and self.clock() - self._failed_at < self.cooldown_seconds
        )
        return self.stuck or (failing and bool(self._started))

    @asynccontextmanager
    async def call(self, label: str) -> AsyncIterator[None]:
        """Run one call for a person, or raise LaneRefused at once if the account is not
        answering or its lane is full; ``label`` names the account in the sentence."""
        not_answering = f"{label} is not answering; try again later."
        if self.not_answering:
            raise self._refuse(not_answering)
        if len(self._started) >= self.running and self._waiting >= self.waiting:
            raise self._refuse(f"{label} is busy with other requests; try again in a minute.")
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.stuck_seconds)
        except TimeoutError:
            raise self._refuse(not_answering) from None
        finally:
            self._waiting -= 1
        if self.not_answering:
            self._slots.release()
            raise self._refuse(not_answering)
        key = id(asyncio.current_task())
        self._started[key] = self.clock()
        try:
            yield
        except Unavailable:
            self._failed_at = self.clock()
            raise
        else:
            self._failed_at = None
        finally:
            self._started.pop(key, None)
            self._slots.release()

    def _refuse(self, sentence: str) -> LaneRefused:
        self.refused += 1
        logger.info("refused a call to account %s at once: %s", self.account, sentence)
        return LaneRefused(sentence, account=self.account)


@dataclass
class ProviderLanes:
    """One lane per provider account, made on first use."""

    running: int = LANE_RUNNING
    waiting: int = LANE_WAITING
    stuck_seconds: float = LANE_STUCK_SECONDS
    _lanes: dict[str, AccountLane] = field(init=False, default_factory=dict)

    def lane(self, account: str) -> AccountLane:
        lane = self._lanes.get(account)
        if lane is None:
            lane = self._lanes[account] = AccountLane(
                account,
                running=self.running,
                waiting=self.waiting,
                stuck_seconds=self.stuck_seconds,
            )
        return lane

    @asynccontextmanager
    async def call(
        self, account: str, provider: str, *, purpose: str = "reads"
    ) -> AsyncIterator[None]:
        """A provider call for a person: in ``account``'s lane for ``purpose`` ("reads", or
        "actions" for approved actions, which never wait behind reads), outside the
        after-ack pool."""
        label = f"{provider_name(provider)} account `{account}`"
        async with outside_pool(), self.lane(f"{account}/{purpose}").call(label):
            yield
