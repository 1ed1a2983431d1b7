"""`transferbot serve`: the Slack app over HTTP (Starlette + uvicorn) or in Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.actions import expire_due_requests
from bot.runtime.guard import BODY_SECONDS, RequestGuard
from bot.runtime.health import (
    HealthInputs,
    SocketModeLink,
    health_route,
    read_unreachable_accounts,
)
from bot.runtime.metrics import Metrics, metrics_route
from bot.runtime.signals import stop_signals
from bot.runtime.socket_client import SocketModeConnection
from bot.services import Services
from bot.slack.app import build_app
from bot.watcher.schedule import Watcher
from storage.migrate import upgrade_engine

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "EVENTS_PATH",
    "HEALTH_PATH",
    "METRICS_PATH",
    "RunningBot",
    "http_app",
    "serve",
    "start_bot",
    "start_watcher",
]

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
SLACK_RATE_LIMIT_RETRIES = 2  # a 429 means Slack did nothing: safe to send again


def http_app(
    bolt_app: AsyncApp | None,
    services: Services,
    *,
    watcher: Any | None = None,
    metrics: Metrics | None = None,
    body_seconds: float = BODY_SECONDS,
    socket_mode: SocketModeLink | None = None,
) -> Starlette:
    """Starlette routes: Slack's events endpoint (HTTP mode only), `/healthz` and `/metrics`.

    A request to the events endpoint whose body has not all arrived within
    ``body_seconds`` is answered 408 and its connection closed. In Socket Mode
    (``socket_mode`` given), `/healthz` also says whether the WebSocket to Slack is open.
    """
    started_at = services.now()
    settings = services.settings.watcher

    async def health_inputs() -> HealthInputs:
        down = await read_unreachable_accounts(
            services.db, after_failures=settings.outage_after_failures
        )
        return HealthInputs(
            db=services.db,
            last_tick_at=getattr(watcher, "last_tick_at", None),
            now=services.now(),
            tick_seconds=settings.tick_seconds,
            unreachable_accounts=down,
            started_at=started_at if watcher is not None else None,
            socket_mode=await socket_mode.health() if socket_mode is not None else None,
        )

    routes = [health_route(health_inputs, HEALTH_PATH)]
    if metrics is not None:
        routes.append(metrics_route(metrics, METRICS_PATH))
    if bolt_app is not None:
        signing = services.settings.slack.signing_secret
        guard = RequestGuard(
            signing.get_secret_value() if signing else "",
            shared=services.signatures,
            body_seconds=body_seconds,
        )

        async def events(request: Request) -> Response:
            checked = await guard.check(request)
            if isinstance(checked, Response):
                return checked
            return to_starlette_response(await bolt_app.async_dispatch(checked))

        routes.append(Route(EVENTS_PATH, events, methods=["POST"]))
    return Starlette(routes=routes)


def start_watcher(services: Services) -> Any | None:
    """Start the watcher (``bot.watcher.schedule.Watcher``)."""
    watcher = Watcher(services)
    watcher.start()
    return watcher


@dataclass
class RunningBot:
    """The bot's parts once started: the Bolt app, the watcher (None without one), metrics."""

    bolt_app: AsyncApp
    watcher: Any | None
    metrics: Metrics

    def routes(
        self, services: Services, *, events: bool = True, socket_mode: SocketModeLink | None = None
    ) -> Starlette:
        """The HTTP routes; ``events=False`` leaves Slack's endpoint out (Socket Mode), and
        ``socket_mode`` is the connection `/healthz` reports on."""
        return http_app(
            self.bolt_app if events else None,
            services,
            watcher=self.watcher,
            metrics=self.metrics,
            socket_mode=socket_mode,
        )

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.shutdown()


async def start_bot(
    services: Services, *, watcher_factory: Callable[[Services], Any] | None = None
) -> RunningBot:
    """Migrate, recover interrupted requests, start the watcher and build the Bolt app.

    Shared by ``serve`` and the demo. ``watcher_factory`` starts the watcher (default:
    :func:`start_watcher`).
    """
    services.slack.retry_handlers.append(
        AsyncRateLimitErrorRetryHandler(max_retry_count=SLACK_RATE_LIMIT_RETRIES)
    )
    metrics = services.metrics or Metrics(accounts=services.registry.names)
    services.metrics = metrics  # so the recovery below is counted too
    await upgrade_engine(services.db.engine)
    await expire_due_requests(services)  # also marks runs a crash interrupted as unknown
    watcher = (watcher_factory or start_watcher)(services)
    return RunningBot(build_app(services, metrics=metrics), watcher, metrics)


async def serve(
    settings: Settings, *, services: Services | None = None, stop: asyncio.Event | None = None
) -> None:
    """Migrate, recover interrupted requests, start the watcher, then answer Slack in Socket
    Mode (an app token is set) or over HTTP, until Ctrl-C (or ``stop`` is set)."""
    settings.require_serve()
    services = services or Services.from_settings(settings)
    running: RunningBot | None = None
    try:
        running = await start_bot(services)
        if settings.slack.socket_mode:
            await _serve_socket_mode(settings, running, services, stop)
        else:
            await _serve_http(settings, running.routes(services), stop)
    finally:
        if running is not None:
            running.stop()
        await services.aclose()


async def _serve_http(
    settings: Settings,
    app: Starlette,
    stop: asyncio.Event | None,
    halt: asyncio.Event | None = None,
) -> None:
    """Serve ``app`` until a stop signal, ``stop`` or ``halt`` (the bot's own reason)."""
    import uvicorn

    server = settings.server
    config = uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        lifespan="off",
        access_log=False,
        log_config=None,  # our logging, secrets masked
        timeout_graceful_shutdown=5,
    )
    logger.info("listening on %s:%d", server.host, server.port)
    running = uvicorn.Server(config)
    # uvicorn's own handlers re-raise SIGTERM once the server has stopped, which would end the
    # process before serve() stops the watcher, lets acknowledged work finish and closes the
    # database; ours make a stop signal end serve() like ``stop`` does.
    running.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    with stop_signals() as signalled:
        stoppers = [
            asyncio.create_task(_stop_when(event, running))
            for event in (stop, signalled, halt)
            if event is not None
        ]
        try:
            await running.serve()
        finally:
            for stopper in stoppers:
                stopper.cancel()


async def _stop_when(stop: asyncio.Event, server: Any) -> None:
    await stop.wait()
    server.should_exit = True


async def _serve_socket_mode(
    settings: Settings, running: RunningBot, services: Services, stop: asyncio.Event | None
) -> None:
    """`/healthz` and `/metrics` on ``server.port`` at once, and Slack's WebSocket as soon as
    ``apps.connections.open`` answers; a refused app-level token stops both (AppTokenRefused)."""
    slack = settings.slack
    assert slack.app_token is not None
    connection = SocketModeConnection(
        running.bolt_app, slack.app_token.get_secret_value(), variable=slack.app_token_env
    )
    routes = running.routes(services, events=False, socket_mode=connection)
    halt = asyncio.Event()
    http = asyncio.create_task(_serve_http(settings, routes, stop, halt))
    opening = asyncio.create_task(connection.open())
    try:
        await asyncio.wait({http, opening}, return_when=asyncio.FIRST_COMPLETED)
        if opening.done() and opening.exception() is not None:
            halt.set()
            await http
            opening.result()  # raises AppTokenRefused
        if opening.done():
            logger.info("Socket Mode: connected; health check on port %d", settings.server.port)
        await http
    finally:
        for task in (opening, http):  # left running only if this one was cancelled
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        await connection.close()  # no new envelopes; acked work is drained after this
