"""A local stand-in for Slack's Web API: records calls, answers like Slack, shows the channel."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from bot.runtime.slack_messages import (
    Ephemeral,
    PostedMessage,
    SlackCall,
    SlackError,
    SlackWorkspace,
    content_of,
    read_args,
    required,
    view_of,
)
from bot.runtime.socket_mode import LINK_PATH, SocketModeLink
from providers.simulators.base import LoopbackServer

__all__ = ["Ephemeral", "PostedMessage", "SlackCall", "SlackStandIn"]  # re-exported

logger = logging.getLogger(__name__)


@dataclass
class _Fault:
    error: str | None = None
    retry_after: int | None = None
    times: int | None = 1


class SlackStandIn(SlackWorkspace):
    """An ASGI app answering Slack Web API methods the bot uses, for tests and the demo.

    Args:
        token: the bot token it accepts (anything else gets ``invalid_auth``).
        user_groups: user-group id -> member user ids, for ``usergroups.users.list``.
        users: user id -> profile fields (``name``, ``real_name``...), for ``users.info``;
            other well-formed ids answer with a plain profile.
        channels: channel id -> name, for ``conversations.info`` and rendering.
        not_joined: channels (of ``channels``) the bot is not a member of: public ones
            (``C…``) answer ``conversations.info`` with ``is_member: false`` and
            ``chat.postMessage`` with ``not_in_channel``; private ones (``G…``) answer both
            with ``channel_not_found``, as Slack does for a bot outside them.
        echo: called with the rendered text of every message as it is posted or changed
            (the demo prints with it).
        app_token: the app-level token ``apps.connections.open`` accepts; its Socket Mode
            side (WebSocket links, envelopes, acks) is ``self.socket_mode``.
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-standin-token",  # noqa: S107 - a stand-in's fixed test token
        bot_user: str = "U0TRANSFERBOT",
        team_id: str = "T0STANDIN",
        user_groups: Mapping[str, Sequence[str]] | None = None,
        users: Mapping[str, Mapping[str, Any]] | None = None,
        channels: Mapping[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
        app_token: str = "xapp-1-standin-app-token",  # noqa: S107 - a stand-in's fixed token
        not_joined: Sequence[str] = (),
    ) -> None:
        super().__init__(users=users, channels=channels, echo=echo, bot_user=bot_user)
        self.token = token
        self.bot_id = "B0TRANSFERBOT"
        self.team_id = team_id
        self.user_groups = {k: list(v) for k, v in (user_groups or {}).items()}
        self.not_joined = set(not_joined)
        self.base_url: str | None = None
        self.calls: list[SlackCall] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []  # (response id, body)
        self.metadata: dict[str, dict[str, Any]] = {}  # message ts -> its message metadata
        self.readable = True  # False: reading history answers missing_scope
        self._faults: dict[str, list[_Fault]] = {}
        self._response_context: dict[str, dict[str, str | None]] = {}
        self.socket_mode = SocketModeLink(app_token=app_token)
        self._app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/response/{response_id}", self._response, methods=["POST"]),
                WebSocketRoute(LINK_PATH, self.socket_mode.endpoint),
            ]
        )
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._connections_open,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.postEphemeral": self._post_ephemeral,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "usergroups.users.list": self._usergroup_users,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._replies,
            "conversations.history": self._history,
        }

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)

    @asynccontextmanager
    async def serve(self, *, port: int = 0) -> AsyncIterator[str]:
        """Serve on loopback (``port``, or any free one); yields the base URL (the Web API is
        under ``/api/``)."""
        async with LoopbackServer(self, port=port) as url:
            self.base_url = url
            try:
                yield url
            finally:
                await self.socket_mode.aclose()
                self.base_url = None

    # -- faults and response URLs -------------------------------------------------------
    def fail(self, method: str, error: str, *, times: int | None = 1) -> None:
        """Answer ``method`` with ``{"ok": false, "error": error}``; ``times=None``: always."""
        self._faults.setdefault(method, []).append(_Fault(error=error, times=times))

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int | None = 1) -> None:
        """Answer ``method`` with HTTP 429 and ``Retry-After``."""
        self._faults.setdefault(method, []).append(_Fault(retry_after=retry_after, times=times))

    def clear_faults(self) -> None:
        self._faults.clear()

    def response_url(
        self,
        *,
        channel: str | None = None,
        user: str | None = None,
        message_ts: str | None = None,
    ) -> str:
        """A fresh response_url that posts back here, remembering where it was handed out."""
        response_id = f"R{next(self._serial):06d}"
        self._response_context[response_id] = {
            "channel": channel,
            "user": user,
            "message_ts": message_ts,
        }
        return f"{self.base_url or 'http://127.0.0.1'}/response/{response_id}"

    # -- what a test or the demo asks ---------------------------------------------------
    def calls_to(self, method: str) -> list[SlackCall]:
        return [call for call in self.calls if call.method == method]

    def transcript(self) -> str:
        """Every string recorded (call arguments, response_url posts, views), one per line.

        For tests that a secret reached none of the Slack traffic: strings appear as sent,
        not JSON-escaped. The auth header is left out.
        """
        record = [[c.method, c.args] for c in self.calls], self.responses, self.views, self.home
        return "\n".join(_strings(record))

    # -- HTTP ---------------------------------------------------------------------------
    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args = await read_args(request)
        auth = request.headers.get("authorization")
        call = SlackCall(method, args, auth)
        self.calls.append(call)
        fault = self._take_fault(method)
        if fault is not None and fault.retry_after is not None:
            call.status, call.error = 429, "ratelimited"
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": str(fault.retry_after)},
            )
        try:
            if fault is not None:
                raise SlackError(fault.error or "internal_error")
            app_level = method == "apps.connections.open"
            self._check_auth(auth, args, self.socket_mode.app_token if app_level else self.token)
            handler = self._methods.get(method)
            if handler is None:
                raise SlackError("unknown_method")
            result = handler(args)
        except SlackError as exc:
            call.error = exc.error
            return JSONResponse({"ok": False, "error": exc.error})
        return JSONResponse({"ok": True, **result})

    def _take_fault(self, method: str) -> _Fault | None:
        faults = self._faults.get(method)
        if not faults:
            return None
        fault = faults[0]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
        return fault

    def _check_auth(self, auth: str | None, args: Mapping[str, Any], expected: str) -> None:
        token = None
        if auth and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        token = token or args.get("token")
        if not token:
            raise SlackError("not_authed")
        if token != expected:
            raise SlackError("invalid_auth")

    async def _response(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return Response("invalid_payload", status_code=400)
        if not isinstance(body, dict):
            return Response("invalid_payload", status_code=400)
        self.responses.append((response_id, body))
        self.apply_response(self._response_context.get(response_id, {}), body)
        return Response("ok", media_type="text/plain")

    # -- methods ------------------------------------------------------------------------
    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://standin.slack.com/",
            "team": "Stand-in",
            "user": "transferbot",
            "team_id": self.team_id,
            "user_id": self.bot_user,
            "bot_id": self.bot_id,
        }

    def _connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.socket_mode.issue_url(self.base_url or "http://127.0.0.1")}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = required(args, "channel", "channel_not_found")
        if channel in self.not_joined:  # https://api.slack.com/methods/chat.postMessage#errors
            raise SlackError("channel_not_found" if channel.startswith("G") else "not_in_channel")
        text, blocks = content_of(args)
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None and self.message(channel, thread_ts) is None:
            raise SlackError("thread_not_found")
        message = self.store(channel, text, blocks, thread_ts)
        message.broadcast = _flag(args.get("reply_broadcast"))
        if isinstance(args.get("metadata"), dict):
            self.metadata[message.ts] = args["metadata"]
        self.show(message)
        return {
            "channel": channel,
            "ts": message.ts,
            "message": message.as_slack(self.bot_user, self.bot_id),
        }

    def _named_message(
        self, args: Mapping[str, Any], missing: str = "message_not_found"
    ) -> tuple[str, PostedMessage]:
        """The channel and the message ``args`` name by ``channel`` and ``ts``; Slack's error
        ``missing`` when there is no such message."""
        channel = required(args, "channel", "channel_not_found")
        message = self.message(channel, required(args, "ts", missing))
        if message is None:
            raise SlackError(missing)
        return channel, message

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._named_message(args)
        if "blocks" in args or "text" in args:
            text, blocks = content_of(args, keep=(message.text, message.blocks))
            message.text, message.blocks = text, blocks
        message.edited = True
        self.show(message)
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_slack(self.bot_user, self.bot_id),
        }

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._named_message(args)
        self._messages[channel].remove(message)
        return {"channel": channel, "ts": message.ts}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = required(args, "channel", "channel_not_found")
        user = required(args, "user", "user_not_found")
        text, blocks = content_of(args)
        ephemeral = Ephemeral(channel, user, text, blocks, "chat.postEphemeral")
        self.ephemerals.append(ephemeral)
        self.show(ephemeral)
        return {"message_ts": self.next_ts()}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        required(args, "trigger_id", "invalid_trigger_id")
        view = view_of(args, "modal")
        view_id = f"V{next(self._serial):08d}"
        stored = {
            **view,
            "id": view_id,
            "team_id": self.team_id,
            "state": {"values": {}},
            "hash": f"{view_id}.hash",
            "app_id": "A0STANDIN",
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return {"view": stored}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id") or next(
            (
                vid
                for vid, v in self.views.items()
                if args.get("external_id") and v.get("external_id") == args.get("external_id")
            ),
            None,
        )
        if view_id not in self.views:
            raise SlackError("not_found")
        view = view_of(args, "modal")
        self.views[view_id] = {**self.views[view_id], **view, "id": view_id}
        return {"view": self.views[view_id]}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = required(args, "user_id", "user_not_found")
        view = view_of(args, "home")
        self.home[user] = {**view, "id": f"V{next(self._serial):08d}"}
        return {"view": self.home[user]}

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        group = required(args, "usergroup", "no_such_subteam")
        if group not in self.user_groups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.user_groups[group])}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = required(args, "user", "user_not_found")
        if user not in self.users and not (user[:1] in "UW" and user[1:].isalnum()):
            raise SlackError("user_not_found")
        profile = {
            "name": user.lower(),
            "real_name": user,
            "tz": "UTC",
            "is_bot": False,
            "deleted": False,
            **self.users.get(user, {}),
        }
        return {"user": {"id": user, "team_id": self.team_id, **profile}}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        """A conversation object (https://api.slack.com/types/conversations): ``is_member``
        says whether the bot is in it; a private channel it is not in is not found."""
        channel = required(args, "channel", "channel_not_found")
        if self.channels and channel not in self.channels:
            raise SlackError("channel_not_found")
        private = channel.startswith("G")
        if private and channel in self.not_joined:
            raise SlackError("channel_not_found")
        name = self.channels.get(channel, channel.lower())
        return {
            "channel": {
                "id": channel,
                "name": name,
                "is_channel": not private,
                "is_group": private,
                "is_private": private,
                "is_archived": False,
                "is_member": channel not in self.not_joined,
            }
        }

    def _slack_view(self, message: PostedMessage, with_metadata: bool) -> dict[str, Any]:
        view = message.as_slack(self.bot_user, self.bot_id)
        if with_metadata and message.ts in self.metadata:
            view["metadata"] = self.metadata[message.ts]
        return view

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.readable:
            raise SlackError("missing_scope")
        _, parent = self._named_message(args, "thread_not_found")
        meta = _flag(args.get("include_all_metadata"))
        thread = [parent, *parent.replies]
        return {"messages": [self._slack_view(m, meta) for m in thread], "has_more": False}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.readable:
            raise SlackError("missing_scope")
        channel = required(args, "channel", "channel_not_found")
        meta = _flag(args.get("include_all_metadata"))
        newest_first = list(reversed(self.channel(channel)))
        return {"messages": [self._slack_view(m, meta) for m in newest_first], "has_more": False}


def _flag(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, Mapping):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list | tuple):
        return [s for item in node for s in _strings(item)]
    return [] if node is None else [str(node)]
