"""Slack messages as the stand-in keeps, checks and shows them: records, limits, rendering."""

from __future__ import annotations

import html
import itertools
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

__all__ = [
    "Ephemeral",
    "PostedMessage",
    "SlackCall",
    "SlackError",
    "SlackWorkspace",
    "blocks_problem",
    "content_of",
    "read_args",
    "render_blocks",
    "render_text",
    "required",
    "view_of",
]

logger = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024
_JSON_ARGS = ("blocks", "attachments", "view", "metadata")


@dataclass
class SlackCall:
    """One Web API call as the stand-in received it."""

    method: str
    args: dict[str, Any]
    auth: str | None = field(default=None, repr=False)  # the Authorization header: a secret
    error: str | None = None  # what the stand-in answered, when not ok
    status: int = 200


@dataclass
class PostedMessage:
    """A message in a channel as it shows now (updates applied); replies grouped under it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    edited: bool = False
    broadcast: bool = False
    replies: list[PostedMessage] = field(default_factory=list)

    def as_slack(self, bot_user: str, bot_id: str) -> dict[str, Any]:
        message = {
            "type": "message",
            "user": bot_user,
            "bot_id": bot_id,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        return message


@dataclass
class Ephemeral:
    """A message only one person sees: chat.postEphemeral, or a response_url reply."""

    channel: str | None
    user: str | None
    text: str
    blocks: list[dict[str, Any]]
    via: str  # "chat.postEphemeral" or "response_url"


class SlackError(Exception):
    """A Web API error code, answered as ``{\"ok\": false, \"error\": code}``."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(error)


def required(args: Mapping[str, Any], name: str, error: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise SlackError(error)
    return value


def content_of(
    args: Mapping[str, Any], keep: tuple[str, list[dict[str, Any]]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """A message's text and blocks, refused the way Slack refuses them."""
    text = args.get("text", keep[0] if keep else "")
    blocks = args.get("blocks", keep[1] if keep else [])
    if not isinstance(text, str) or not isinstance(blocks, list):
        raise SlackError("invalid_blocks")
    if not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    if len(text) > 40_000:
        raise SlackError("msg_too_long")
    if blocks_problem(blocks, limit=50):
        raise SlackError("invalid_blocks")
    return text, blocks


def view_of(args: Mapping[str, Any], kind: str) -> dict[str, Any]:
    view = args.get("view")
    if not isinstance(view, dict) or view.get("type") != kind:
        raise SlackError("invalid_arguments")
    blocks = view.get("blocks") or []
    if not isinstance(blocks, list) or blocks_problem(blocks, limit=100):
        raise SlackError("invalid_arguments")
    if kind == "modal" and not (view.get("title") or {}).get("text"):
        raise SlackError("invalid_arguments")
    return view


def blocks_problem(blocks: list[Any], *, limit: int) -> str | None:
    """Why Slack would refuse these blocks (the limits that matter to us), or None."""
    if len(blocks) > limit:
        return f"more than {limit} blocks"
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(ids) != len(set(ids)):
        return "repeated block_id"
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return "a block without a type"
        text = (
            (block.get("text") or {}).get("text", "") if isinstance(block.get("text"), dict) else ""
        )
        if len(text) > (150 if block["type"] == "header" else 3000):
            return "text too long"
        elements = block.get("elements") or []
        if len(elements) > (10 if block["type"] == "context" else 25):
            return "too many elements"
        buttons = [
            e
            for e in [*elements, block.get("accessory")]
            if isinstance(e, dict) and e.get("type") == "button"
        ]
        for button in buttons:
            if len(button.get("text", {}).get("text", "")) > 75:
                return "button text too long"
            if len(button.get("value") or "") > 2000:
                return "button value too long"
    return None


class SlackWorkspace:
    """What the workspace shows now: channels, threads, ephemerals, views; and how it reads.

    The stand-in's state, apart from its HTTP surface. ``echo`` is called with the rendered
    text of every message as it is posted or changed.
    """

    def __init__(
        self,
        *,
        users: Mapping[str, Mapping[str, Any]] | None = None,
        channels: Mapping[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
        bot_user: str = "U0TRANSFERBOT",
    ) -> None:
        self.users = {k: dict(v) for k, v in (users or {}).items()}
        self.channels = dict(channels or {})
        self.echo = echo
        self.bot_user = bot_user
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.home: dict[str, dict[str, Any]] = {}  # user id -> published Home view
        self._messages: dict[str, list[PostedMessage]] = {}  # channel -> every message, in order
        self._epoch = int(time.time())
        self._serial = itertools.count(1)

    def next_ts(self) -> str:
        """A fresh message timestamp, increasing like Slack's."""
        serial = next(self._serial)
        return f"{self._epoch + serial // 1_000_000}.{serial % 1_000_000:06d}"

    def channel(self, channel: str) -> list[PostedMessage]:
        """The channel's top-level messages as they show now, each with its thread replies."""
        return [m for m in self._messages.get(channel, []) if m.thread_ts in (None, m.ts)]

    def message(self, channel: str, ts: str) -> PostedMessage | None:
        return next((m for m in self._messages.get(channel, []) if m.ts == ts), None)

    def render(self, message: PostedMessage | Ephemeral | Mapping[str, Any]) -> str:
        """What a person would see for one message, as readable text (not JSON)."""
        if isinstance(message, PostedMessage):
            where = self._channel_label(message.channel)
            marks = [where]
            if message.thread_ts and message.thread_ts != message.ts:
                marks.append("↳ in thread")
            if message.edited:
                marks.append("(edited)")
            text, blocks = message.text, message.blocks
        elif isinstance(message, Ephemeral):
            who = self._names().get(message.user or "", message.user)
            marks = [self._channel_label(message.channel), f"only visible to @{who}"]
            text, blocks = message.text, message.blocks
        else:
            marks = [self._channel_label(message.get("channel"))]
            text, blocks = message.get("text") or "", message.get("blocks") or []
        names = self._names()
        body = render_blocks(blocks, names) if blocks else render_text(text, names)
        return " · ".join(marks) + "\n" + "\n".join("  " + line for line in body.splitlines())

    def render_view(self, view: Mapping[str, Any]) -> str:
        """A modal or Home tab as readable text."""
        title = (view.get("title") or {}).get("text") or view.get("type", "view")
        body = render_blocks(view.get("blocks") or [], self._names())
        return f"[{title}]\n" + "\n".join("  " + line for line in body.splitlines())

    def render_channel(self, channel: str) -> str:
        """The whole channel: each message, its thread replies indented beneath it."""
        parts = []
        for message in self.channel(channel):
            parts.append(self.render(message))
            for reply in message.replies:
                parts.append("\n".join("    " + line for line in self.render(reply).splitlines()))
        return "\n".join(parts)

    def _names(self) -> dict[str, str]:
        names = {uid: str(p.get("name") or uid) for uid, p in self.users.items()}
        names.update(self.channels)
        return names

    def _channel_label(self, channel: str | None) -> str:
        if channel is None:
            return "(no channel)"
        return f"#{self.channels.get(channel, channel)}"

    def show(self, item: PostedMessage | Ephemeral) -> None:
        if self.echo is not None:
            self.echo(self.render(item))

    def apply_response(self, where: Mapping[str, str | None], body: Mapping[str, Any]) -> None:
        channel, user, message_ts = where.get("channel"), where.get("user"), where.get("message_ts")
        original = self.message(channel, message_ts) if channel and message_ts else None
        text, blocks = str(body.get("text") or ""), list(body.get("blocks") or [])
        if body.get("delete_original") and original is not None:
            self._messages[original.channel].remove(original)
        elif body.get("replace_original") and original is not None:
            original.text, original.blocks, original.edited = text, blocks, True
            self.show(original)
        elif body.get("response_type") == "in_channel" and channel:
            self.show(self.store(channel, text, blocks, body.get("thread_ts")))
        else:
            ephemeral = Ephemeral(channel, user, text, blocks, "response_url")
            self.ephemerals.append(ephemeral)
            self.show(ephemeral)

    def store(
        self, channel: str, text: str, blocks: list[dict[str, Any]], thread_ts: str | None
    ) -> PostedMessage:
        message = PostedMessage(channel, self.next_ts(), text, blocks, thread_ts)
        self._messages.setdefault(channel, []).append(message)
        parent = self.message(channel, thread_ts) if thread_ts else None
        if parent is not None:
            if parent.thread_ts is None:
                parent.thread_ts = parent.ts
            parent.replies.append(message)
        return message


# -- what a person would see ------------------------------------------------------------------
_EMOJI = {
    ":warning:": "⚠️",
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":no_entry_sign:": "🚫",
    ":no_entry:": "⛔",
    ":hourglass_flowing_sand:": "⏳",
    ":hourglass:": "⌛",
    ":arrows_counterclockwise:": "🔄",
    ":double_vertical_bar:": "⏸",
    ":snail:": "🐌",
    ":eyes:": "👀",
    ":exclamation:": "❗",
    ":raising_hand:": "🙋",
    ":lock:": "🔒",
    ":gear:": "⚙️",
    ":grey_question:": "❔",
    ":test_tube:": "🧪",
    ":alarm_clock:": "⏰",
    ":rotating_light:": "🚨",
    ":large_green_circle:": "🟢",
    ":leftwards_arrow_with_hook:": "↩️",
    ":twisted_rightwards_arrows:": "🔀",
}
_ANGLE = re.compile(r"<([^<>]*)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")


def render_text(text: str, names: Mapping[str, str] | None = None) -> str:
    """mrkdwn as a person reads it: dates in UTC, mentions by name, links by label, emoji."""
    names = names or {}

    def angle(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("!date^"):
            return label or target
        if target.startswith("@"):
            return "@" + names.get(target[1:], target[1:])
        if target.startswith("#"):
            return "#" + (label or names.get(target[1:], target[1:]))
        if target.startswith("!subteam^"):
            return label or "@" + target.split("^", 1)[1]
        if target.startswith("!"):
            return "@" + target[1:]
        return label or target

    text = _ANGLE.sub(angle, text)
    text = re.sub(r":[a-z0-9_+-]+:", lambda m: _EMOJI.get(m.group(), m.group()), text)
    text = _BOLD.sub(r"\1", text)
    return html.unescape(text)


def render_blocks(
    blocks: Sequence[Mapping[str, Any]],
    names: Mapping[str, str] | None = None,
) -> str:
    """Blocks as readable lines: texts, context, ``[ Button ]`` rows, inputs; never JSON."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(_text_of(block.get("text")).upper())
        elif kind == "section":
            line = render_text(_text_of(block.get("text")), names)
            fields = [
                render_text(_text_of(f), names).replace("\n", ": ", 1)
                for f in block.get("fields") or []
            ]
            accessory = block.get("accessory") or {}
            button = f"  {_button(accessory)}" if accessory.get("type") == "button" else ""
            lines.extend(x for x in (line + button, "   ".join(fields)) if x.strip())
        elif kind == "context":
            lines.append(
                "   ".join(render_text(_text_of(e), names) for e in block.get("elements") or [])
            )
        elif kind == "actions":
            lines.append(
                " ".join(
                    _button(e) for e in block.get("elements") or [] if e.get("type") == "button"
                )
            )
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "input":
            hint = _text_of(block.get("hint"))
            lines.append(
                f"{_text_of(block.get('label'))}: [________]" + (f"  ({hint})" if hint else "")
            )
        else:
            lines.append(f"({kind})")
    return "\n".join(lines)


def _text_of(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return str(obj.get("text") or "")
    return str(obj or "")


def _button(element: Mapping[str, Any]) -> str:
    return f"[ {_text_of(element.get('text'))} ]"


async def read_args(request: Request) -> dict[str, Any]:
    """The call's arguments from the query, a form body or a JSON body; JSON-in-form decoded."""
    args: dict[str, Any] = dict(request.query_params)
    raw = (await request.body())[:MAX_BODY]
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" and raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        if isinstance(body, dict):
            args.update(body)
    elif raw and kind in ("application/x-www-form-urlencoded", ""):
        args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    for key in _JSON_ARGS:
        if isinstance(args.get(key), str) and args[key].strip()[:1] in ("[", "{"):
            with suppress(ValueError):
                args[key] = json.loads(args[key])
    return args
