"""Slack's side of a Socket Mode app: commands, clicks and forms sent as envelopes.

The payloads are SignedSlack's, built the way Slack builds them for HTTP; Socket Mode
carries the same fields, a slash command's as a JSON object instead of a form body
(https://api.slack.com/apis/connections/socket-implement).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from bot.runtime.signed import SignedSlack, SlackSide, Surface

if TYPE_CHECKING:
    from bot.runtime.socket_mode import SocketModeLink

__all__ = ["SocketSlack"]

logger = logging.getLogger(__name__)


class SocketSlack(SlackSide[dict[str, Any]]):
    """Sends what people do in Slack to the app over the stand-in's WebSocket link.

    Each method returns the app's ack as it came (``{"envelope_id", "payload"?}``).

    Args:
        link: the stand-in's Socket Mode side the app is connected to.
        bodies: builds the payloads (its signing secret is not used here).
    """

    def __init__(self, link: SocketModeLink, bodies: SignedSlack) -> None:
        self.link = link
        self.bodies = bodies

    def _bodies(self) -> SignedSlack:
        return self.bodies

    async def _send(
        self, surface: Surface, body: bytes, *, answers: bool, **options: Any
    ) -> dict[str, Any]:
        if options:  # HTTP's own (a forged signature, a retry header): no such thing here
            raise TypeError(f"Socket Mode sends no {', '.join(sorted(options))}")
        if surface == "slash_commands":  # the form's fields, as a JSON object
            payload = dict(parse_qsl(body.decode()))
        else:
            payload = _form_payload(body)
        return await self.link.deliver(surface, payload, accepts_response_payload=answers)


def _form_payload(body: bytes) -> dict[str, Any]:
    """The JSON in an interactive form body's ``payload`` field."""
    fields = dict(parse_qsl(body.decode()))
    payload = json.loads(fields["payload"])
    assert isinstance(payload, dict)
    return payload
