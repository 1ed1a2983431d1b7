"""What every provider simulator shares: a steppable clock, switchable faults, loopback serving."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Required, TypedDict

__all__ = [
    "FAULT_MODES",
    "FaultRule",
    "Faults",
    "LoopbackServer",
    "SimClock",
    "Simulator",
    "SimulatorOptions",
]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_MODES = (
    "latency",  # add `seconds` before answering normally
    "error",  # HTTP `status` (default 500) with an HTML error page
    "hang",  # wait `seconds` (default 30: past any client timeout), then answer normally
    "ratelimit",  # HTTP 429 with Retry-After: `retry_after`
    "malformed",  # 200 with the right content type and a body that is not a reply
    "truncated",  # the real reply cut in half
    "wrong_content_type",  # 200 text/html: a proxy's or login page instead of the API
)


class SimClock:
    """The simulators' wall clock: real time times ``speed``, plus manual steps.

    ``frozen=True`` makes it move only by :meth:`advance`, for tests that step time.
    """

    def __init__(
        self,
        *,
        start: datetime | None = None,
        speed: float = 1.0,
        frozen: bool = False,
    ) -> None:
        self._origin = start or datetime.now(UTC)
        self._speed = 0.0 if frozen else speed
        self._real0 = _monotonic()
        self._offset = 0.0

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=self.elapsed())

    def timestamp(self) -> float:
        return self.now().timestamp()

    def elapsed(self) -> float:
        return (_monotonic() - self._real0) * self._speed + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change speed without jumping: time so far is kept."""
        self._offset = self.elapsed()
        self._real0 = _monotonic()
        self._speed = speed


def _monotonic() -> float:
    import time

    return time.monotonic()


@dataclass
class FaultRule:
    """One switched-on fault; ``operation=None`` means every operation."""

    mode: str
    operation: str | None = None
    times: int | None = 1  # None: until cleared
    probability: float = 1.0
    seconds: float = 0.0  # latency / hang
    status: int = 500
    retry_after: int = 2

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; choose from {FAULT_MODES}")
        if self.mode == "hang" and not self.seconds:
            self.seconds = 30.0


@dataclass
class Faults:
    """The fault switches of one simulator, and a count of the calls it has seen."""

    rules: list[FaultRule] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def add(
        self,
        mode: str,
        *,
        operation: str | None = None,
        times: int | None = 1,
        probability: float = 1.0,
        seconds: float = 0.0,
        status: int = 500,
        retry_after: int = 2,
    ) -> FaultRule:
        rule = FaultRule(mode, operation, times, probability, seconds, status, retry_after)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def pick(self, operation: str) -> FaultRule | None:
        """The fault to apply to this call, if any (used up when it has a count)."""
        for rule in list(self.rules):
            if rule.operation not in (None, operation):
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)
            return rule
        return None


class SimulatorOptions(TypedDict, total=False):
    """What every simulator takes (``Simulator.__init__``), for subclasses' ``**common``."""

    secret: Required[str]
    username: str | None
    clock: SimClock | None
    faults: Faults | None


class Simulator:
    """Base of the provider simulators: wraps the provider's ASGI app with faults and controls.

    Subclasses set ``name``, implement :meth:`operation_of` (the provider's name for a
    call, e.g. ``get_transfer_session_state`` or ``CHECK_TRANSFER``) and :meth:`handle`
    (the provider's wire protocol), and may implement :meth:`seed` (add transfers from a
    JSON description, for the ``/_sim/transfers`` control endpoint).

    Control endpoints (loopback only, for other processes such as benchmarks):
    ``GET /_sim/calls``, ``POST /_sim/faults`` (a FaultRule as JSON),
    ``DELETE /_sim/faults``, ``POST /_sim/clock`` (``{"advance": s}`` / ``{"speed": x}``),
    ``POST /_sim/transfers`` (provider-specific).
    """

    name = "simulator"
    content_type = "application/json"

    def __init__(
        self,
        *,
        secret: str,
        username: str | None = None,
        clock: SimClock | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.secret = secret  # the API key, token or password it accepts
        self.username = username  # the account's login, where the provider has one
        self.clock = clock or SimClock()
        self.faults = faults or Faults()

    # -- to implement -------------------------------------------------------------------
    def operation_of(self, method: str, path: str, query: str, body: bytes) -> str:
        raise NotImplementedError

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer one call: (status, headers, body)."""
        raise NotImplementedError

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"{self.name} simulator cannot be seeded over HTTP")

    # -- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        path = scope.get("path", "")
        if path.startswith("/_sim/"):
            status, headers, payload = self._control(scope["method"], path, body)
            await _respond(send, status, headers, payload)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            operation = self.operation_of(scope["method"], path, query, body)
        except Exception:  # a request we can't even name is the handler's to refuse
            operation = "unknown"
        self.faults.calls[operation] += 1
        rule = self.faults.pick(operation)
        if rule is not None and rule.mode in ("latency", "hang"):
            await asyncio.sleep(rule.seconds)
            rule = None
        canned = _fault_reply(rule) if rule is not None else None
        if canned is not None:
            await _respond(send, *canned)
            return
        status, headers, payload = await self.handle(scope, body)
        if rule is not None and rule.mode == "malformed":
            status, payload = 200, b"\x00\x13garbage {<< not a reply >>"
        elif rule is not None and rule.mode == "truncated":
            payload = payload[: max(1, len(payload) // 2)]
        await _respond(send, status, headers, payload)

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            data = json.loads(body or b"{}")
            if path == "/_sim/calls" and method == "GET":
                result: Any = dict(self.faults.calls)
            elif path == "/_sim/faults" and method == "POST":
                self.faults.add(**data)
                result = {"faults": len(self.faults.rules)}
            elif path == "/_sim/faults" and method == "DELETE":
                self.faults.clear()
                result = {"faults": 0}
            elif path == "/_sim/clock" and method == "POST":
                if "advance" in data:
                    self.clock.advance(float(data["advance"]))
                if "speed" in data:
                    self.clock.set_speed(float(data["speed"]))
                result = {"now": self.clock.now().isoformat()}
            elif path == "/_sim/transfers" and method == "POST":
                result = self.seed(data)
            else:
                return 404, {"content-type": "application/json"}, b'{"error": "no such control"}'
        except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
            return (
                400,
                {"content-type": "application/json"},
                json.dumps({"error": str(exc)}).encode(),
            )
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()


def _fault_reply(rule: FaultRule) -> tuple[int, dict[str, str], bytes] | None:
    """The reply a fault sends instead of the provider's, or None where the provider answers."""
    if rule.mode == "error":
        return (
            rule.status,
            {"content-type": "text/html"},
            b"<html><body><h1>Internal Server Error</h1></body></html>",
        )
    if rule.mode == "ratelimit":
        return (
            429,
            {"content-type": "text/plain", "retry-after": str(rule.retry_after)},
            b"Too Many Requests",
        )
    if rule.mode == "wrong_content_type":
        return (
            200,
            {"content-type": "text/html; charset=utf-8"},
            b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
            b"<body><form>Please sign in</form></body></html>",
        )
    return None


async def _read_body(receive: Receive, limit: int = 8 * 1024 * 1024) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _respond(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if not any(k == b"content-length" for k, _ in raw_headers):
        raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class LoopbackServer:
    """Serve an ASGI app with uvicorn on 127.0.0.1 inside the running event loop."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        # Signals stay with the process (asyncio.run turns Ctrl-C into a cancel): uvicorn's
        # Server.serve() would swap in its own handlers while it runs, and several servers in
        # one process (the demo runs five) restore each other's in whatever order they stop.
        self._server.capture_signals = contextlib.nullcontext
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self.url

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except TimeoutError:
                self._task.cancel()
            self._server = None
            self._task = None

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
