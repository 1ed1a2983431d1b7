"""Run the whole bot for the crash tests: ``python -m tests.reliability.run_bot CONFIG``.

CONFIG is a JSON file: ``settings`` (Settings fields, secrets included: test values only),
``instance`` (the name in leases) and ``clock_offset_seconds`` (the bot's clock runs this
far ahead of real time: a restart "later" without waiting). It runs
:func:`bot.runtime.serve.serve` — migrate, recover interrupted requests, start the watcher,
answer Slack over HTTP — until killed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.runtime.logs import configure_logging
from bot.runtime.serve import serve
from bot.services import Services
from bot.settings import Settings

logger = logging.getLogger(__name__)


def offset_clock(seconds: float) -> Callable[[], datetime]:
    ahead = timedelta(seconds=seconds)
    return lambda: datetime.now(UTC) + ahead


async def main(path: str) -> None:
    config = json.loads(Path(path).read_text())
    settings = Settings.model_validate(config["settings"])
    services = Services.from_settings(
        settings,
        instance=config.get("instance") or f"run-bot:{os.getpid()}",
        now=offset_clock(float(config.get("clock_offset_seconds", 0))),
    )
    print(f"bot {services.instance} starting", flush=True)
    await serve(settings, services=services)


if __name__ == "__main__":
    configure_logging("info", stream=sys.stderr)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run
    asyncio.run(main(sys.argv[1]))
