"""Slack's side of a Socket Mode app: commands, clicks and forms sent as envelopes.

The payloads are SignedSlack's, built the way Slack builds them for HTTP; Socket Mode
carries the same fields, a slash command's as a JSON object instead of a form body
(https://api.slack.com/apis/connections/socket-implement).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from bot.runtime.signed import SignedSlack, resolve_button

if TYPE_CHECKING:
    from bot.runtime.socket_mode import SocketModeLink
    from bot.runtime.standin import PostedMessage

__all__ = ["SocketSlack"]

logger = logging.getLogger(__name__)


class SocketSlack:
    """Sends what people do in Slack to the app over the stand-in's WebSocket link.

    Each method returns the app's ack as it came (``{"envelope_id", "payload"?}``).

    Args:
        link: the stand-in's Socket Mode side the app is connected to.
        bodies: builds the payloads (its signing secret is not used here).
    """

    def __init__(self, link: SocketModeLink, bodies: SignedSlack) -> None:
        self.link = link
        self.bodies = bodies

    def command_payload(self, text: str, *, user: str, channel: str = "C0ALERTS") -> dict[str, Any]:
        return dict(parse_qsl(self.bodies.command_body(text, user=user, channel=channel).decode()))

    async def command(self, text: str, *, user: str, channel: str = "C0ALERTS") -> dict[str, Any]:
        payload = self.command_payload(text, user=user, channel=channel)
        return await self.link.deliver("slash_commands", payload, accepts_response_payload=True)

    async def click(
        self,
        button: Mapping[str, Any] | str,
        *,
        user: str,
        message: PostedMessage | Mapping[str, Any] | None = None,
        channel: str | None = None,
        view: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Click a button: a button dict, or a label or action_id found in the message or view."""
        button = resolve_button(button, message=message, view=view)
        body = self.bodies.click_body(
            button, user=user, message=message, channel=channel, view=view
        )
        return await self.link.deliver(
            "interactive", _form_payload(body), accepts_response_payload=False
        )

    async def submit(
        self,
        *,
        values: Mapping[str, Mapping[str, str | None]],
        user: str,
        view: Mapping[str, Any] | None = None,
        callback_id: str | None = None,
        private_metadata: str | None = None,
    ) -> dict[str, Any]:
        body = self.bodies.submission_body(
            values=values,
            user=user,
            view=view,
            callback_id=callback_id,
            private_metadata=private_metadata,
        )
        # a form's ack may carry response_action (errors, update, clear)
        return await self.link.deliver(
            "interactive", _form_payload(body), accepts_response_payload=True
        )


def _form_payload(body: bytes) -> dict[str, Any]:
    """The JSON in an interactive form body's ``payload`` field."""
    fields = dict(parse_qsl(body.decode()))
    payload = json.loads(fields["payload"])
    assert isinstance(payload, dict)
    return payload
