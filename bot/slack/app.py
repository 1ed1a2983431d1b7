"""The Bolt app: built by a factory, with the bot's services handed to listeners via context."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.runtime.metrics import Metrics
from bot.slack.listeners import register_listeners
from bot.slack.listeners.answers import AfterAck
from bot.slack.permissions import Roster

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["RETRY_HEADER", "ProvideServices", "build_app"]

logger = logging.getLogger(__name__)


class _Unless(logging.Filter):
    """Drops one message (as its library words it)."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.message


class _WithoutBody(logging.Filter):
    """Bolt's unhandled-request warnings, without the parts of the request they quote (a
    typed value among them: ``block_suggestion``'s, a dialog's submission)."""

    INSTEAD = {
        "Unhandled request (": "Unhandled request: nothing here listens for it",
        "A global middleware (": "Unhandled request: a middleware let it through unanswered",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            for prefix, instead in self.INSTEAD.items():
                if record.msg.startswith(prefix):
                    record.msg, record.args = instead, None
        return True


# Bolt reads SLACK_BOT_TOKEN itself and, as it is handed our client (built from that same
# token), warned at every start that the token would be unused.
BOLT_LOGGER = logging.getLogger("slack_bolt.transferbot")
BOLT_LOGGER.addFilter(_Unless(warning_client_prioritized_and_token_skipped()))
BOLT_LOGGER.addFilter(_WithoutBody())

RETRY_HEADER = "x-slack-retry-num"
_SURFACES = {"block_actions": "click", "view_submission": "submission"}


def build_app(
    services: Services,
    *,
    roster: Roster | None = None,
    metrics: Metrics | None = None,
    process_before_response: bool = True,
    after_ack: AfterAck | None = None,
) -> AsyncApp:
    """A Bolt app for ``services``; listeners get ``services``, ``roster``, ``retried`` (a
    redelivery by Slack) and ``after_ack`` (runs slow work once acknowledged).

    HTTP mode verifies every request's signature (and its age: five minutes) with the
    signing secret; Socket Mode (an app-level token is configured) has no signatures.
    ``process_before_response=True`` answers Slack as soon as a listener returns: the
    listeners acknowledge at once and hand slow work to ``services.spawn`` (see the
    ack benchmark, ``python -m tests.perf.ack``).

    Args:
        roster: who is an operator or approver (default: from the settings, with the
            user-group cache of this app).
        metrics: where to count how long acknowledging took, by surface (default:
            ``services.metrics``); services without metrics count their requests and
            actions there too.
        process_before_response: Bolt's mode; False makes Bolt wait for the ack by polling.
        after_ack: what runs the work after each ack (default: ``AfterAck(services)``, with
            its concurrency and backlog bounds).
    """
    slack = services.settings.slack
    secret = slack.signing_secret.get_secret_value() if slack.signing_secret else ""
    if not slack.socket_mode and not secret:
        raise ValueError("HTTP mode needs the signing secret; refusing to accept unsigned requests")
    app = AsyncApp(
        client=services.slack,
        signing_secret=secret,
        request_verification_enabled=not slack.socket_mode,
        process_before_response=process_before_response,
        logger=BOLT_LOGGER,
        name="transferbot",
    )
    roster = roster or Roster(slack, services.slack)
    metrics = metrics or services.metrics
    if services.metrics is None:
        services.metrics = metrics
    app.use(ProvideServices(services, roster, metrics, after_ack or AfterAck(services)))
    register_listeners(app, slack)
    return app


class ProvideServices(AsyncMiddleware):
    """Puts the bot's services into Bolt's context, so listeners declare them as arguments.

    A plain middleware class, not a decorated function: Bolt then skips building keyword
    arguments for it on every request (measurable in the ack benchmark).
    """

    def __init__(
        self,
        services: Services,
        roster: Roster,
        metrics: Metrics | None,
        after_ack: AfterAck,
    ) -> None:
        self.services = services
        self.roster = roster
        self.metrics = metrics
        self.after_ack = after_ack

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        context = req.context
        context["services"] = self.services
        context["roster"] = self.roster
        context["after_ack"] = self.after_ack
        context["retried"] = _redelivered(req.headers.get(RETRY_HEADER))
        started = time.perf_counter()
        response = await next()
        if self.metrics is not None:
            surface = _surface(req.body)
            if surface is not None:
                self.metrics.observe_ack(surface, time.perf_counter() - started)
        return response


def _surface(body: dict[str, Any]) -> str | None:
    """The ack metric's surface: with process_before_response the listeners return right
    after acknowledging, so the time around them is the time to the ack."""
    if "command" in body:
        return "command"
    return _SURFACES.get(str(body.get("type")))


def _redelivered(values: Sequence[str] | str | None) -> bool:
    """Whether Slack (or the door, for a replay) says this is a delivery again: a retry
    number above 0. Over HTTP Slack sends the header only on retries (1, 2, 3); in Socket
    Mode Bolt copies each envelope's ``retry_attempt`` into it, 0 for the first delivery
    (api.slack.com/apis/socket-mode: envelopes carry retry_attempt and retry_reason)."""
    first = values if isinstance(values, str) else (values[0] if values else "")
    return first.strip().isdigit() and int(first) > 0
