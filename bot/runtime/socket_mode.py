"""Slack's side of Socket Mode for the stand-in: WebSocket links, envelopes, acks, retries.

What it plays, from Slack's own description of the protocol, "Using Socket Mode"
(https://docs.slack.dev/apis/events-api/using-socket-mode/, formerly
https://api.slack.com/apis/connections/socket-implement) and the method's page
(https://docs.slack.dev/reference/methods/apps.connections.open/):

* ``apps.connections.open``, called with the app-level token (``xapp-…``) in the
  Authorization header, answers ``{"ok": true, "url": "wss://…/link/?ticket=…&app_id=…"}``:
  a temporary URL, good for one connection; every connection (and every reconnection) asks
  for a new one. A token that is not an app-level token is refused (``invalid_auth`` here;
  Slack's page lists ``invalid_auth``, ``not_authed``, ``missing_args``, ``token_expired``).
* On connect Slack sends ``{"type": "hello", "num_connections", "debug_info":
  {"host", "approximate_connection_time", …}, "connection_info": {"app_id"}}``;
  ``approximate_connection_time`` is how many seconds the connection will last before Slack
  refreshes it.
* Each request is an envelope ``{"envelope_id", "type": "slash_commands" | "interactive" |
  "events_api", "payload", "accepts_response_payload"}``; ``events_api`` envelopes also carry
  ``retry_attempt`` / ``retry_reason`` (slack_sdk's ``SocketModeRequest`` reads them for
  ``events_api`` only). The app acknowledges each by its ``envelope_id``
  (``{"envelope_id", "payload"?}``, the payload only where ``accepts_response_payload`` is
  true) within 3 seconds; events not acknowledged are sent again. Envelopes quoted from real
  apps (https://github.com/slackapi/python-slack-events-api/issues/93,
  https://github.com/slackapi/bolt-js/issues/2487) show ``retry_attempt`` 0 and
  ``retry_reason`` "" on a first delivery, then 1, 2, 3 with "timeout" about 4 s apart.
* ``{"type": "disconnect", "reason": …}``: ``refresh_requested`` (Slack refreshes every
  connection after a while: open a new one), ``warning`` (sent about 10 seconds before Slack
  closes the connection), ``link_disabled`` (Socket Mode was turned off for the app).
* An app may hold up to 10 connections at once; "when multiple connections are active, each
  payload may be sent to any of the connections" -- to one of them, not to each.

Beyond the docs, choices of ours, stricter than Slack where the docs are silent:

* every kind of envelope is sent again when not acknowledged in time (``retry_attempt`` + 1,
  ``retry_reason`` "timeout"), slash commands and clicks too, which Slack's docs do not
  promise: the bot must run each once whichever way Slack behaves;
* an ack is taken on any of the app's open connections (slack_sdk sends it on whichever is
  current), and an envelope not yet acknowledged when its connection goes is sent again on
  another one;
* envelopes are dealt to the open connections in turn (round robin), so a test of several
  connections sees each of them used; a connection told to reconnect gets none while
  another is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

__all__ = ["ACK_SECONDS", "LINK_PATH", "Envelope", "SocketModeLink"]

logger = logging.getLogger(__name__)

LINK_PATH = "/link/"
ACK_SECONDS = 3.0  # Slack's window for an ack
RETRIES = 3  # Slack's Events API retries a delivery up to 3 times
REFRESH_GRACE_SECONDS = 10.0  # how long an old connection lives after a disconnect message
DISCONNECT_REASONS = ("refresh_requested", "warning", "link_disabled")  # Slack's, documented


@dataclass
class Envelope:
    """One request as Slack wraps it for Socket Mode, and what became of it."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    retry_attempt: int = 0
    retry_reason: str = ""
    sent_on: list[int] = field(default_factory=list)  # the connection numbers it went out on

    def as_message(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
            "retry_attempt": self.retry_attempt,
            "retry_reason": self.retry_reason,
        }


@dataclass
class _Connection:
    number: int
    websocket: WebSocket
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refreshing: bool = False  # told to reconnect; new envelopes go elsewhere if they can

    async def send(self, message: Mapping[str, Any]) -> None:
        async with self.lock:
            await self.websocket.send_text(json.dumps(message))


class SocketModeLink:
    """The stand-in's Socket Mode side: tickets, connections, envelopes and their acks.

    Args:
        app_token: the app-level token ``apps.connections.open`` accepts.
        app_id: the app's id in ``hello``.
        ack_seconds: how long an envelope waits for its ack before it is sent again.
    """

    def __init__(
        self,
        *,
        app_token: str,
        app_id: str = "A0STANDIN",
        ack_seconds: float = ACK_SECONDS,
        refresh_grace_seconds: float = REFRESH_GRACE_SECONDS,
    ) -> None:
        self.app_token = app_token
        self.app_id = app_id
        self.ack_seconds = ack_seconds
        self.refresh_grace_seconds = refresh_grace_seconds
        self.connections: list[_Connection] = []
        self.opened = 0  # connections accepted so far
        self.envelopes: list[Envelope] = []  # every envelope delivered, oldest first
        self.acks: list[dict[str, Any]] = []  # every ack received, as sent
        self.closed_by_app: list[tuple[int, int]] = []  # (connection, close code) the app closed
        self.lose_acks = 0  # the next this many acks are dropped as if lost on the way
        self.lose_sends = 0  # the next this many envelopes sent never reach the app
        self._tickets: set[str] = set()
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Condition()
        self._serial = itertools.count(1)
        self._turn = itertools.count()  # round robin over the open connections
        self._closers: set[asyncio.Task[None]] = set()

    # -- apps.connections.open -------------------------------------------------------------
    def issue_url(self, base_url: str) -> str:
        """A WebSocket URL good for one connection, like Slack's ``wss://…/link/?ticket=``."""
        ticket = secrets.token_hex(16)
        self._tickets.add(ticket)
        host = base_url.split("://", 1)[-1]
        return f"ws://{host}{LINK_PATH}?ticket={ticket}&app_id={self.app_id}"

    # -- the WebSocket endpoint --------------------------------------------------------------
    async def endpoint(self, websocket: WebSocket) -> None:
        ticket = websocket.query_params.get("ticket", "")
        if ticket not in self._tickets:
            await websocket.close(code=4001, reason="invalid ticket")  # never accepted
            return
        self._tickets.discard(ticket)
        await websocket.accept()
        self.opened += 1
        connection = _Connection(self.opened, websocket)
        await connection.send(
            {
                "type": "hello",
                "num_connections": len(self.connections) + 1,
                "debug_info": {
                    "host": "standin-link",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        async with self._changed:
            self.connections.append(connection)
            self._changed.notify_all()
        try:
            while True:
                self._take_ack(await websocket.receive_text())
        except WebSocketDisconnect as gone:
            self.closed_by_app.append((connection.number, gone.code))
        finally:
            async with self._changed:
                if connection in self.connections:
                    self.connections.remove(connection)
                self._changed.notify_all()

    def _take_ack(self, raw: str) -> None:
        try:
            ack = json.loads(raw)
        except ValueError:
            logger.warning("socket mode: not JSON from the app: %.80r", raw)
            return
        if not isinstance(ack, dict) or "envelope_id" not in ack:
            return
        if self.lose_acks > 0:
            self.lose_acks -= 1
            return
        self.acks.append(ack)
        waiting = self._waiting.get(str(ack["envelope_id"]))
        if waiting is not None and not waiting.done():
            waiting.set_result(ack)

    # -- what a test or the demo does ------------------------------------------------------
    async def wait_connected(self, *, opened: int = 1, seconds: float = 10.0) -> None:
        """Wait until ``opened`` connections have been accepted and one is open now."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: self.opened >= opened and bool(self._live())),
                timeout=seconds,
            )

    async def deliver(
        self, kind: str, payload: Mapping[str, Any], *, accepts_response_payload: bool
    ) -> dict[str, Any]:
        """Send an envelope and return the app's ack; sent again, up to ``RETRIES`` times,
        whenever an ack does not come within ``ack_seconds``. TimeoutError after that."""
        envelope = Envelope(
            envelope_id=f"{next(self._serial):08d}-{secrets.token_hex(6)}",
            type=kind,
            payload=dict(payload),
            accepts_response_payload=accepts_response_payload,
        )
        self.envelopes.append(envelope)
        acked: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[envelope.envelope_id] = acked
        try:
            for attempt in range(RETRIES + 1):
                if attempt:
                    envelope.retry_attempt, envelope.retry_reason = attempt, "timeout"
                deadline = time.monotonic() + self.ack_seconds
                await self._send(envelope, deadline)
                left = max(0.0, deadline - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(acked), timeout=left)
            raise TimeoutError(f"envelope {envelope.envelope_id} was never acknowledged")
        finally:
            self._waiting.pop(envelope.envelope_id, None)

    async def refresh(
        self, reason: str = "refresh_requested", *, connections: list[int] | None = None
    ) -> None:
        """Send ``{"type": "disconnect", "reason": reason}`` on every open connection (or on
        those numbered in ``connections``); each is closed ``refresh_grace_seconds`` later if
        the app has not closed it itself. ``warning`` is Slack's notice 10 s before it closes
        a connection; ``refresh_requested`` its routine refresh."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"Slack's disconnect reasons are {DISCONNECT_REASONS}, not {reason!r}")
        for connection in list(self.connections):
            if connections is not None and connection.number not in connections:
                continue
            connection.refreshing = True
            with contextlib.suppress(Exception):
                await connection.send(
                    {"type": "disconnect", "reason": reason, "debug_info": {"host": "standin"}}
                )
            task = asyncio.create_task(self._close_later(connection))
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)

    async def drop(self, *, code: int = 1011) -> None:
        """Close every connection now, without a word first (a broken link)."""
        for connection in list(self.connections):
            await self._close(connection, code)

    async def aclose(self) -> None:
        for task in list(self._closers):
            task.cancel()
        await self.drop(code=1001)

    # -- pieces ----------------------------------------------------------------------------
    def _live(self) -> list[_Connection]:
        return [c for c in self.connections if c.websocket.client_state == WebSocketState.CONNECTED]

    async def _send(self, envelope: Envelope, deadline: float) -> None:
        """Send on one open connection not being refreshed (else on one being refreshed),
        each in turn, waiting for one until ``deadline``; unsent by then is like a send that
        was lost."""
        while time.monotonic() < deadline:
            live = self._live()
            fresh = [c for c in live if not c.refreshing] or live
            if fresh:
                connection = fresh[next(self._turn) % len(fresh)]
                if self.lose_sends > 0:  # as if it went down with a closing connection
                    self.lose_sends -= 1
                    envelope.sent_on.append(connection.number)
                    return
                try:
                    await connection.send(envelope.as_message())
                except Exception:  # closed under us: try the next one
                    await asyncio.sleep(0.01)
                    continue
                envelope.sent_on.append(connection.number)
                return
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait(), timeout=max(0.0, deadline - time.monotonic())
                    )

    async def _close_later(self, connection: _Connection) -> None:
        await asyncio.sleep(self.refresh_grace_seconds)
        await self._close(connection, 1001)

    async def _close(self, connection: _Connection, code: int) -> None:
        with contextlib.suppress(Exception):
            await connection.websocket.close(code=code)
        async with self._changed:
            if connection in self.connections:
                self.connections.remove(connection)
            self._changed.notify_all()
