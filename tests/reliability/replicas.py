"""A second (third...) replica of the ``bot`` fixture's deployment, on a database of choice.

A replica is its own Services (engine, provider clients, Slack client, clock) and its own
Bolt app served on loopback, sharing the fixture's simulators, Slack stand-in and settings:
two replicas given one database URL are two processes of one deployment behind a load
balancer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.runtime.serve import EVENTS_PATH, http_app
from bot.runtime.signed import SignedSlack
from bot.services import Services
from bot.slack.app import build_app
from providers.simulators.base import LoopbackServer
from storage.database import Database
from tests.slack.conftest import SIGNING_SECRET, Bot, Now

__all__ = ["replica"]

logger = logging.getLogger(__name__)


@asynccontextmanager
async def replica(bot: Bot, database_url: str, *, name: str) -> AsyncIterator[Bot]:
    """One more replica of ``bot`` on ``database_url`` (migrated already), served on loopback."""
    settings = bot.services.settings
    now = Now()
    services = Services.from_settings(  # the production transport, as serve's
        settings, db=Database(database_url), instance=name, now=now
    )
    server = LoopbackServer(http_app(build_app(services), services))
    url = await server.start()
    signed = SignedSlack(
        url=f"{url}{EVENTS_PATH}", signing_secret=SIGNING_SECRET, standin=bot.standin
    )
    try:
        yield Bot(
            services=services,
            standin=bot.standin,
            slack=signed,
            sims=bot.sims,
            url=url,
            now=now,
            db_path=bot.db_path,
            accounts=bot.accounts,
        )
    finally:
        await server.stop()
        await services.aclose()
