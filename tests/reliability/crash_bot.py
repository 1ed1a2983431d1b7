"""The whole bot as a real process the crash tests can kill -9 and start again.

The test serves the simulators and the Slack stand-in (the watcher ``rig``); the bot runs
``tests.reliability.run_bot`` (``bot.runtime.serve.serve``) against them and a real
database, and the test talks to it as Slack does, with signed requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.runtime.serve import EVENTS_PATH, HEALTH_PATH
from bot.runtime.signed import SignedSlack, find_button
from bot.runtime.slack_messages import PostedMessage
from storage.models import ActionRequest
from storage.requests import list_requests
from storage.secrets import SecretBox
from tests.reliability.processes import free_port, kill9, start_module, wait_for
from tests.watcher.conftest import CHANNEL, PROVIDERS, TOKEN, Rig, quick_watcher_json

__all__ = ["ALICE", "BOB", "BotProcess"]

logger = logging.getLogger(__name__)

SIGNING_SECRET = "crash-signing-secret-0123456789"
ALICE = "U0ALICE"  # operator
BOB = "U0BOB"  # approver
ACTION_TIMEOUT = 10.0  # seconds per provider call: longer than any kill takes to land


def bot_settings(
    rig: Rig, database_url: str, port: int, followups: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Settings for the bot process: the rig's simulators and stand-in, quick watcher ticks
    (and ``followups``, the [followups] section, when given)."""
    accounts = []
    for provider in PROVIDERS:
        account = rig.accounts[provider]
        fields = account.model_dump(mode="json")
        fields.update(secret=account.secret.get_secret_value(), timeout=ACTION_TIMEOUT)
        accounts.append(fields)
    watcher = quick_watcher_json()
    extra = {"followups": followups} if followups is not None else {}
    return {
        **extra,
        "slack": {
            "api_base_url": rig.services.slack.base_url,
            "alert_channel": CHANNEL,
            "operators": [ALICE],
            "approvers": [BOB],
            "bot_token": TOKEN,
            "signing_secret": SIGNING_SECRET,
        },
        "security": {"secret_key": SecretBox.generate_key()},
        "database": {"url": database_url},
        "watcher": watcher,
        "server": {"host": "127.0.0.1", "port": port, "log_level": "info"},
        "accounts": accounts,
    }


@dataclass
class BotProcess:
    """One deployment of the bot that a test starts, kills and restarts."""

    rig: Rig
    database_url: str
    logs: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    started_at: float = 0.0  # monotonic time of the last start
    followups: dict[str, Any] | None = None  # the [followups] section, if not the default

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def slack(self) -> SignedSlack:
        return SignedSlack(
            url=f"{self.url}{EVENTS_PATH}", signing_secret=SIGNING_SECRET, standin=self.rig.standin
        )

    async def start(self, *, later: float = 0.0) -> None:
        """Start the bot; ``later`` seconds on its clock (a restart after that long)."""
        self.starts += 1
        path = self.logs / f"bot-{self.starts}.json"
        config = {
            "settings": bot_settings(self.rig, self.database_url, self.port, self.followups),
            "instance": f"crash-bot-{self.starts}",
            "clock_offset_seconds": later,
        }
        path.write_text(json.dumps(config))
        self.started_at = time.monotonic()
        self.process = await start_module("tests.reliability.run_bot", path, self.logs)
        await wait_for(self._up, 60, what="the bot answering /healthz")

    async def kill(self) -> None:
        assert self.process is not None
        await kill9(self.process)

    async def stop(self) -> None:
        if self.process is not None:
            await kill9(self.process)

    async def _up(self) -> bool:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(f"the bot exited ({self.process.returncode}); see {self.logs}")
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                await client.get(f"{self.url}{HEALTH_PATH}")
        except httpx.HTTPError:
            return False
        return True

    # -- as people in Slack -------------------------------------------------------------
    async def ask(self, text: str) -> dict[str, Any]:
        """ALICE runs ``/transfer TEXT``; the approval request it posts, as it showed then
        (a click later comes from this copy, as from a screen that was not refreshed)."""
        before = len(self.requests_shown())
        response = await self.slack.command(text, user=ALICE, channel=CHANNEL)
        assert response.status_code == 200, response.text

        async def posted() -> bool:
            return len(self.requests_shown()) > before

        await wait_for(posted, 30, what="the approval request")
        message = self.requests_shown()[-1]
        return json.loads(json.dumps({"type": "message", "ts": message.ts,
                                      "text": message.text, "blocks": message.blocks}))  # fmt: skip

    async def click(self, label: str, message: dict[str, Any], *, user: str = BOB) -> None:
        response = await self.slack.click(label, user=user, message=message, channel=CHANNEL)
        assert response.status_code == 200, response.text

    def requests_shown(self) -> list[PostedMessage]:
        """Top-level messages that are (or were) approval requests, oldest first."""
        return [m for m in self.rig.standin.channel(CHANNEL) if _is_request(m)]

    def now_shown(self, message: dict[str, Any]) -> PostedMessage | None:
        """The request message as it shows now, with its thread."""
        return self.rig.standin.message(CHANNEL, message["ts"])

    async def requests(self) -> list[ActionRequest]:
        async with self.rig.services.db.session() as session:
            return await list_requests(session, limit=100)


def _is_request(message: PostedMessage) -> bool:
    text = json.dumps(message.blocks)
    if "asks to" in text:
        return True
    try:
        find_button(message.blocks, "Approve")
    except KeyError:
        return False
    return True
