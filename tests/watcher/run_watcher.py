"""Run a real watcher process for the crash tests: ``python -m tests.watcher.run_watcher CONFIG``.

CONFIG is a JSON file: ``database_url``, ``slack_url`` (the stand-in's Web API base),
``token``, ``channel``, ``accounts`` (ProviderAccount fields, secrets included: test
values only) and ``watcher`` (WatcherSettings fields). It runs until killed, printing one
line per poll pass.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from bot.settings import Settings, SlackSettings, WatcherSettings
from bot.watcher.schedule import Watcher
from bot.watcher.transport import provider_transport
from providers.registry import ProviderRegistry
from providers.settings import ProviderAccount
from storage.database import Database
from storage.secrets import SecretBox

logger = logging.getLogger(__name__)


def build_services(config: dict[str, Any]) -> Services:
    accounts = tuple(ProviderAccount.model_validate(a) for a in config["accounts"])
    slack = SlackSettings.model_validate(
        {
            "alert_channel": config["channel"],
            "api_base_url": config["slack_url"],
            "bot_token": SecretStr(config["token"]),
        }
    )
    settings = Settings(
        slack=slack, watcher=WatcherSettings.model_validate(config["watcher"]), accounts=accounts
    )
    return Services(
        settings=settings,
        db=Database(config["database_url"]),
        registry=ProviderRegistry(accounts, transport_factory=provider_transport),
        slack=AsyncWebClient(token=config["token"], base_url=config["slack_url"], timeout=5),
        secret_box=SecretBox(None),
        instance=f"run-watcher:{os.getpid()}",
    )


async def main(path: str) -> None:
    services = build_services(json.loads(Path(path).read_text()))
    watcher = Watcher(services)
    watcher.start()
    print(f"watcher {services.instance} started", flush=True)
    last = None
    while True:
        await asyncio.sleep(0.1)
        if watcher.last_tick_at != last and watcher.last_pass is not None:
            last = watcher.last_tick_at
            print(f"pass: {watcher.last_pass.sentence()}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(sys.argv[1]))
