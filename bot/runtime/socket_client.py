"""The bot's side of Socket Mode: the app-level token checked at start, the WebSocket that
Bolt's handler keeps open, and what `/healthz` says of it.

Bolt's ``AsyncSocketModeHandler`` (``slack_bolt.adapter.socket_mode.async_handler``) is the
aiohttp-based one, over slack_sdk's ``slack_sdk.socket_mode.aiohttp.SocketModeClient``; one
handler holds one connection at a time. Measured against the Slack stand-in (see
docs/production.md), it opens a new connection within 0.02-0.12 s of Slack closing one, where
the ``websockets``-based handler waits for its next check (its ping interval, 10 s); its acks
are quicker too. What it does not do is give up: a refused app-level token sends it round
``apps.connections.open`` every few seconds for ever, so :meth:`SocketModeConnection.open`
asks once itself first, and stops the start with one sentence if Slack refuses the token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.runtime.health import SocketModeHealth
from bot.runtime.shapes import Malformed, check_payload, payload_kind

__all__ = [
    "OPEN_RETRY_SECONDS",
    "PING_SECONDS",
    "TOKEN_REFUSALS",
    "AppTokenRefused",
    "SocketModeConnection",
]

logger = logging.getLogger(__name__)

# slack_sdk pings every ping_interval, closes a link whose pong is late (aiohttp's heartbeat)
# and checks the link at the same pace: a link that died without a word is replaced within
# about three intervals. Bolt's default is 10 s; slack_sdk's own client's is 5 s.
PING_SECONDS = 5.0
# Slack's answers to apps.connections.open that no retry mends: the token is wrong, revoked,
# expired, or not an app-level token (https://docs.slack.dev/reference/methods/apps.connections.open/
# lists invalid_auth, not_authed, missing_args and token_expired; the Web API answers
# not_allowed_token_type for a bot or user token; slack's Node SDK gives up on the others too:
# UnrecoverableSocketModeStartError in @slack/socket-mode).
TOKEN_REFUSALS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "missing_args",
        "token_expired",
        "token_revoked",
        "not_allowed_token_type",
        "account_inactive",
        "team_disabled",
        "forbidden_team",
    }
)
OPEN_RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # then every 30 s


class AppTokenRefused(Exception):
    """Slack refused the app-level token at start: ``message`` says so in one sentence."""

    def __init__(self, error: str, variable: str) -> None:
        self.error = error
        self.message = (
            f"Slack refused the app-level token in {variable} ({error}): put the app's "
            "xapp-… token with the connections:write scope there (Basic Information » "
            "App-Level Tokens), or unset it to run in HTTP mode."
        )
        super().__init__(self.message)


class _Handler(AsyncSocketModeHandler):
    """Bolt's handler, with the events endpoint's shape checks (bot/runtime/shapes.py) in
    front of Bolt: a payload not in Slack's shape, or of a kind the bot does not serve, is
    acknowledged and set aside. Bolt would answer those 404 or raise, and its handler sends
    no ack then, so Slack would send them again and again."""

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        try:
            kind = payload_kind(check_payload(req.payload))
        except Malformed as malformed:
            kind = f"not in Slack's shape ({malformed})"
        if kind is None:
            await super().handle(client, req)
            return
        logger.info("Socket Mode: set aside an envelope of a kind the bot does not serve: %s", kind)
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))


class SocketModeConnection:
    """One Socket Mode connection to Slack through Bolt's handler, and its state for health.

    Args:
        bolt_app: the app that answers the envelopes.
        app_token: the app-level token (``xapp-…``).
        variable: the environment variable the token came from, for the refusal sentence.
        ping_seconds: slack_sdk's ping interval, which is also how often it checks the link.
        now: the clock (aware datetimes).
    """

    def __init__(
        self,
        bolt_app: AsyncApp,
        app_token: str,
        *,
        variable: str = "SLACK_APP_TOKEN",
        ping_seconds: float = PING_SECONDS,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.handler = _Handler(bolt_app, app_token, ping_interval=ping_seconds)
        self.variable = variable
        self.now = now or (lambda: datetime.now(UTC))
        self.opened = 0  # connections Slack said hello on
        self.connected_at: datetime | None = None
        self.down_since: datetime | None = None
        self.started = False
        client = self.handler.client
        client.message_listeners.append(self._on_message)
        client.on_close_listeners.append(self._on_close)

    async def open(self) -> None:
        """Ask ``apps.connections.open`` for a URL and connect to it.

        Raises:
            AppTokenRefused: Slack refused the token (see ``TOKEN_REFUSALS``).

        Anything else (Slack unreachable, rate limited, a server error) is logged and asked
        again after 1, 2, 4, 8, 15, then every 30 seconds, until it works or the token is
        refused.
        """
        client = self.handler.client
        failures = 0
        self.down_since = self.now()
        while True:
            try:
                opened = await client.web_client.apps_connections_open(app_token=client.app_token)
                break
            except SlackApiError as exc:
                error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
                if error in TOKEN_REFUSALS:
                    raise AppTokenRefused(error, self.variable) from None
                reason = f"Slack answered {error}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = f"Slack could not be reached ({type(exc).__name__})"
            wait = OPEN_RETRY_SECONDS[min(failures, len(OPEN_RETRY_SECONDS) - 1)]
            failures += 1
            logger.warning(
                "Socket Mode: apps.connections.open failed: %s; asking again in %g s", reason, wait
            )
            await asyncio.sleep(wait)
        client.wss_uri = str(opened["url"])  # connect() uses it rather than asking again
        await self.handler.connect_async()  # type: ignore[no-untyped-call]
        self.started = True

    async def close(self, *, wait_seconds: float = 5.0) -> None:
        """Close the connection (no new envelopes come); work already acked goes on."""
        try:
            await asyncio.wait_for(self.handler.close_async(), timeout=wait_seconds)  # type: ignore[no-untyped-call]
        except Exception as exc:  # closing what is half gone must not stop the shutdown
            logger.info("Socket Mode: closing the connection: %s", type(exc).__name__)

    async def health(self) -> SocketModeHealth:
        """Whether the link is open now, and since when it has been down if not."""
        connected = self.started and await self.handler.client.is_connected()
        if connected:
            self.down_since = None
        elif self.down_since is None:
            self.down_since = self.now()
        return SocketModeHealth(
            connected=connected,
            opened=self.opened,
            connected_at=self.connected_at if connected else None,
            down_since=self.down_since,
        )

    async def _on_message(self, client: Any, message: dict[str, Any], raw: str | None) -> None:
        if message.get("type") == "hello":
            self.opened += 1
            self.connected_at = self.now()
            self.down_since = None
            logger.info("Socket Mode: connected (connection %d)", self.opened)
        elif message.get("type") == "disconnect":
            logger.info("Socket Mode: Slack asked for a new connection (%s)", message.get("reason"))

    async def _on_close(self, message: Any) -> None:
        if self.down_since is None:
            self.down_since = self.now()
        logger.info("Socket Mode: Slack closed the connection; opening a new one")
