"""Signed requests into a Bolt HTTP endpoint, built the way Slack builds them."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar
from urllib.parse import urlencode

import httpx

if TYPE_CHECKING:
    from bot.runtime.standin import PostedMessage, SlackStandIn

__all__ = ["SignedSlack", "SlackSide", "find_button", "resolve_button", "sign"]

logger = logging.getLogger(__name__)

Ack = TypeVar("Ack")
Surface = Literal["slash_commands", "interactive"]  # Socket Mode's envelope types for them


def sign(signing_secret: str, timestamp: int | str, body: bytes) -> str:
    """Slack's request signature: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def find_button(blocks: Sequence[Mapping[str, Any]], label: str) -> dict[str, Any]:
    """The button whose text or action_id is ``label``, with its block's id; KeyError if none."""
    for block in blocks:
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), Mapping):
            elements.append(block["accessory"])
        for element in elements:
            if element.get("type") != "button":
                continue
            if label in (element.get("text", {}).get("text"), element.get("action_id")):
                return {**element, "block_id": block.get("block_id", "")}
    raise KeyError(f"no button {label!r} in these blocks")


def resolve_button(
    button: Mapping[str, Any] | str,
    *,
    message: PostedMessage | Mapping[str, Any] | None = None,
    view: Mapping[str, Any] | None = None,
) -> Mapping[str, Any]:
    """A button dict as given, or the one labelled ``button`` in the view or else the message."""
    if not isinstance(button, str):
        return button
    source = view if view is not None else _message_dict(message)
    return find_button(source.get("blocks") or [], button)


class SlackSide(ABC, Generic[Ack]):
    """What people do in Slack (a command, a click, a form submitted), built the way Slack
    builds it and sent by the subclass's transport: signed HTTP posts or Socket Mode envelopes.

    Each method returns the transport's ``Ack`` (an HTTP response, or the envelope's ack).
    """

    @abstractmethod
    def _bodies(self) -> SignedSlack:
        """What builds the bodies."""

    @abstractmethod
    async def _send(self, surface: Surface, body: bytes, *, answers: bool, **options: Any) -> Ack:
        """Send ``body`` (as Slack sends it over HTTP); ``answers``: the app may answer in its
        ack (a command's reply, a form's response_action)."""

    async def command(
        self, text: str, *, user: str, channel: str = "C0ALERTS", **options: Any
    ) -> Ack:
        body = self._bodies().command_body(text, user=user, channel=channel)
        return await self._send("slash_commands", body, answers=True, **options)

    async def click(
        self,
        button: Mapping[str, Any] | str,
        *,
        user: str,
        message: PostedMessage | Mapping[str, Any] | None = None,
        channel: str | None = None,
        view: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Ack:
        """Click a button: a button dict, or a label or action_id found in the message or view."""
        button = resolve_button(button, message=message, view=view)
        body = self._bodies().click_body(
            button, user=user, message=message, channel=channel, view=view
        )
        return await self._send("interactive", body, answers=False, **options)

    async def submit(
        self,
        *,
        values: Mapping[str, Mapping[str, str | None]],
        user: str,
        view: Mapping[str, Any] | None = None,
        callback_id: str | None = None,
        private_metadata: str | None = None,
        **options: Any,
    ) -> Ack:
        body = self._bodies().submission_body(
            callback_id=callback_id,
            values=values,
            user=user,
            private_metadata=private_metadata,
            view=view,
        )
        # a form's ack may carry response_action (errors, update, clear)
        return await self._send("interactive", body, answers=True, **options)


class SignedSlack(SlackSide[httpx.Response]):
    """Plays Slack's side of a Bolt HTTP endpoint: commands, clicks, submissions, events.

    Every request is signed with ``signing_secret`` and posted to ``url`` (``.../slack/events``).
    Each send method takes ``timestamp`` / ``signature`` overrides (for stale or forged
    requests) and ``retry_num`` (Slack's ``X-Slack-Retry-Num`` redelivery header).

    Args:
        url: the bot's events endpoint, e.g. ``http://127.0.0.1:PORT/slack/events``.
        signing_secret: the app's signing secret.
        standin: the Web API stand-in that hands out response_urls (and shows what they post).
        team_id: the workspace id in payloads.
        command: the slash command's name.
    """

    def __init__(
        self,
        *,
        url: str,
        signing_secret: str,
        standin: SlackStandIn | None = None,
        team_id: str = "T0STANDIN",
        api_app_id: str = "A0STANDIN",
        command: str = "/transfer",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.standin = standin
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.command_name = command
        self._client = client
        self._serial = itertools.count(1)

    # -- bodies, as Slack sends them ------------------------------------------------------
    def command_body(self, text: str, *, user: str, channel: str = "C0ALERTS") -> bytes:
        """A slash command's form body, with a fresh response_url and trigger_id."""
        fields = {
            "token": "verification-token-unused",
            "team_id": self.team_id,
            "team_domain": "standin",
            "channel_id": channel,
            "channel_name": channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": self.command_name,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(channel=channel, user=user),
            "trigger_id": self._trigger_id(),
        }
        return urlencode(fields).encode()

    def click_body(
        self,
        button: Mapping[str, Any],
        *,
        user: str,
        message: PostedMessage | Mapping[str, Any] | None = None,
        channel: str | None = None,
        view: Mapping[str, Any] | None = None,
    ) -> bytes:
        """A ``block_actions`` payload for a click on ``button`` (see :func:`find_button`).

        The button sits in a ``message`` in ``channel``, or in a ``view`` (Home or modal).
        """
        action = {
            "type": "button",
            "action_id": button.get("action_id"),
            "block_id": button.get("block_id", ""),
            "text": button.get("text") or {"type": "plain_text", "text": ""},
            "value": button.get("value"),
            "action_ts": f"{time.time():.6f}",
        }
        if button.get("style"):
            action["style"] = button["style"]
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.api_app_id,
            "token": "verification-token-unused",
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": "standin"},
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": {}},
            "actions": [action],
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id")}
            payload["view"] = dict(view)
        else:
            msg = _message_dict(message)
            channel = channel or getattr(message, "channel", None) or "C0ALERTS"
            payload["container"] = {
                "type": "message",
                "message_ts": msg.get("ts"),
                "channel_id": channel,
                "is_ephemeral": False,
            }
            payload["channel"] = {"id": channel, "name": channel.lower()}
            payload["message"] = msg
            payload["response_url"] = self._response_url(
                channel=channel, user=user, message_ts=msg.get("ts")
            )
        return urlencode({"payload": json.dumps(payload)}).encode()

    def submission_body(
        self,
        *,
        values: Mapping[str, Mapping[str, str | None]],
        user: str,
        view: Mapping[str, Any] | None = None,
        callback_id: str | None = None,
        private_metadata: str | None = None,
    ) -> bytes:
        """A ``view_submission`` payload: ``values`` is {block_id: {action_id: typed text}}.

        ``view`` is the modal as opened (e.g. ``standin.views[view_id]``): its callback_id and
        private_metadata are used unless given here.
        """
        state = {
            block_id: {
                action_id: {"type": "plain_text_input", "value": value}
                for action_id, value in elements.items()
            }
            for block_id, elements in values.items()
        }
        shown = dict(view or {})
        view_id = shown.get("id") or f"V{next(self._serial):08d}"
        if callback_id is None:
            callback_id = shown.get("callback_id", "")
        if private_metadata is None:
            private_metadata = shown.get("private_metadata", "")
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "standin"},
            "user": self._user(user),
            "api_app_id": self.api_app_id,
            "token": "verification-token-unused",
            "trigger_id": self._trigger_id(),
            "view": {
                **shown,
                "id": view_id,
                "team_id": self.team_id,
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "state": {"values": state},
                "hash": f"{view_id}.hash",
                "app_id": self.api_app_id,
                "root_view_id": view_id,
                "previous_view_id": None,
            },
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return urlencode({"payload": json.dumps(payload)}).encode()

    def home_opened_body(self, *, user: str) -> bytes:
        """An ``app_home_opened`` event callback (JSON)."""
        serial = next(self._serial)
        payload = {
            "token": "verification-token-unused",
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": f"D{user[1:]}",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
            "type": "event_callback",
            "event_id": f"Ev{serial:010d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": self.team_id,
                    "user_id": "U0TRANSFERBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        return json.dumps(payload).encode()

    # -- sending (command, click and submit are SlackSide's) --------------------------------
    def _bodies(self) -> SignedSlack:
        return self

    async def _send(
        self, surface: Surface, body: bytes, *, answers: bool, **options: Any
    ) -> httpx.Response:
        return await self.post(body, **options)

    async def home_opened(self, *, user: str, **options: Any) -> httpx.Response:
        body = self.home_opened_body(user=user)
        return await self.post(body, content_type="application/json", **options)

    async def post(
        self,
        body: bytes,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        timestamp: int | str | None = None,
        signature: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        signed: bool = True,
    ) -> httpx.Response:
        """Post a body the way Slack does; override the timestamp or signature to test abuse."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        if signed:
            headers["X-Slack-Request-Timestamp"] = ts
            headers["X-Slack-Signature"] = signature or sign(self.signing_secret, ts, body)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        if self._client is not None:
            return await self._client.post(self.url, content=body, headers=headers)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.url, content=body, headers=headers)

    # -- pieces -----------------------------------------------------------------------------
    def _response_url(
        self, *, channel: str | None, user: str | None, message_ts: str | None = None
    ) -> str:
        if self.standin is not None:
            return self.standin.response_url(channel=channel, user=user, message_ts=message_ts)
        return f"http://127.0.0.1:9/response/R{next(self._serial):06d}"  # goes nowhere

    def _trigger_id(self) -> str:
        # unique like Slack's: two senders in one process must never share one
        return f"{next(self._serial)}.{int(time.time())}.{secrets.token_hex(4)}.standintrigger"

    def _user(self, user: str) -> dict[str, str]:
        return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id}


def _message_dict(message: PostedMessage | Mapping[str, Any] | None) -> dict[str, Any]:
    if message is None:
        return {}
    if isinstance(message, Mapping):
        return dict(message)
    return {
        "type": "message",
        "ts": message.ts,
        "text": message.text,
        "blocks": message.blocks,
        **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
    }
