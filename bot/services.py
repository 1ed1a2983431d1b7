"""What the Slack listeners, the watcher and the runtime share."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.provider_lanes import ProviderLanes
from bot.runtime.logs import SecretMasker, installed_masker
from bot.runtime.replays import SharedSignatures
from bot.settings import Settings
from bot.slack.calls import SlackCalls
from bot.watcher.alerts import AlertPosting
from bot.watcher.transport import provider_transport
from providers.registry import ProviderRegistry
from storage.database import Database
from storage.secrets import SecretBox

if TYPE_CHECKING:
    from bot.runtime.metrics import Metrics

__all__ = ["Services", "utcnow"]

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Services:
    """One deployment's moving parts, handed to listeners through Bolt's context.

    ``now`` is the clock every decision uses (tests and the demo may step it);
    ``instance`` names this process in leases and logs; ``spawn`` runs work after an ack
    and keeps a reference so the task is neither lost nor garbage-collected; ``metrics``
    is where requests and actions are counted (None: not counted); ``lanes`` bound the
    provider calls made for people, per account (``bot.provider_lanes``); ``masker`` hides
    the secrets a piece of work holds from the logs while it runs; ``calls`` makes every
    Slack Web API call (``bot.slack.calls``); ``alert_posting`` posts pending alerts when
    kicked; ``signatures`` records, batched, the requests every replica must see once
    (``bot.runtime.replays``).
    """

    settings: Settings
    db: Database
    registry: ProviderRegistry
    slack: AsyncWebClient
    secret_box: SecretBox
    instance: str = field(default_factory=_instance_name)
    now: Callable[[], datetime] = utcnow
    metrics: Metrics | None = None
    lanes: ProviderLanes = field(default_factory=ProviderLanes)
    masker: SecretMasker = field(default_factory=installed_masker)
    calls: SlackCalls = field(init=False, repr=False)
    alert_posting: AlertPosting = field(init=False, repr=False)
    signatures: SharedSignatures = field(init=False, repr=False)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.calls = SlackCalls(lambda: self.slack)
        self.alert_posting = AlertPosting(self)
        self.signatures = SharedSignatures(self.db)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        registry: ProviderRegistry | None = None,
        slack: AsyncWebClient | None = None,
        db: Database | None = None,
        **kwargs: Any,
    ) -> Services:
        token = settings.slack.bot_token.get_secret_value() if settings.slack.bot_token else None
        return cls(
            settings=settings,
            db=db or Database(settings.database.url),
            registry=registry
            or ProviderRegistry(settings.accounts, transport_factory=provider_transport),
            slack=slack or AsyncWebClient(token=token, base_url=settings.slack.api_base_url),
            secret_box=SecretBox(settings.security.secret_key),
            **kwargs,
        )

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; its failure is logged, never lost silently."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, wait_seconds: float = 10.0) -> None:
        """Wait for background work (tests, shutdown)."""
        while self._tasks:
            pending = list(self._tasks)
            _done, still = await asyncio.wait(pending, timeout=wait_seconds)
            if still:
                for task in still:
                    task.cancel()
                break

    async def aclose(self) -> None:
        await self.drain()
        await self.registry.aclose()
        await self.db.dispose()
