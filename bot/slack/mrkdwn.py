"""The one way text becomes Slack mrkdwn: every value is escaped unless it is markup already.

Slack reads ``&``, ``<`` and ``>`` as control characters in mrkdwn (``<!channel>``,
``<@U1>``, ``<https://x|label>``) and asks for exactly those three to be escaped as
``&amp;``, ``&lt;`` and ``&gt;`` (api.slack.com/reference/surfaces/formatting, "Escaping
text"). Text that a provider, a user or the configuration controls must never carry them
raw, or an account named ``<!channel> <https://evil.example|click here>`` pings a channel
with a disguised link.

So markup is a type: :class:`Mrkdwn` is text known to be safe to send as it is. It is made
only by :func:`md` (a template whose own markup is kept and whose every value is escaped
unless it is ``Mrkdwn`` already), :func:`escape`, :func:`mention` and the date helper in
``bot.slack.blocks``. Everything that hands text to Slack (sections, context lines,
fields, fallback texts, thread replies) passes it through :func:`as_mrkdwn`: a plain
``str`` is escaped there, so a message that forgets is shown literally, never obeyed.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "Mrkdwn",
    "as_mrkdwn",
    "channel_link",
    "escape",
    "group_mention",
    "join_lines",
    "md",
    "mention",
]

_MARKUP = re.compile(r"[&<>]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,30}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,30}")


class Mrkdwn(str):
    """Text in Slack's mrkdwn that is safe to send as it is (made by :func:`md` and kin)."""

    __slots__ = ()

    def __add__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(self, as_mrkdwn(other)))

    def __radd__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(as_mrkdwn(other), self))

    def join(self, parts: Iterable[str]) -> Mrkdwn:
        return Mrkdwn(str.join(self, (as_mrkdwn(part) for part in parts)))

    def strip(self, chars: str | None = None) -> Mrkdwn:
        return Mrkdwn(str.strip(self, chars))

    def rstrip(self, chars: str | None = None) -> Mrkdwn:
        return Mrkdwn(str.rstrip(self, chars))


def escape(text: str) -> Mrkdwn:
    """Provider or user text made safe for mrkdwn: no links, mentions or @channel from it."""
    if isinstance(text, Mrkdwn):
        return text
    return Mrkdwn(_MARKUP.sub(lambda m: _ENTITIES[m.group()], str(text)))


def as_mrkdwn(text: str) -> Mrkdwn:
    """``text`` as it may be sent: markup as it is, anything else escaped."""
    return text if isinstance(text, Mrkdwn) else escape(text)


class _EscapingFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mrkdwn) and not format_spec:
            return value
        return escape(format(value, format_spec))


_FORMATTER = _EscapingFormatter()


def md(template: str, /, *args: Any, **kwargs: Any) -> Mrkdwn:
    """``template`` (our own words and markup) with every value escaped unless ``Mrkdwn``.

    ``md("*{}* asked by {}", subject, mention(user))`` keeps the bold and the mention and
    shows whatever ``subject`` holds literally.
    """
    return Mrkdwn(_FORMATTER.vformat(template, args, kwargs))


def mention(user_id: str) -> Mrkdwn:
    """``<@U123>`` for a Slack user id; anything that is not one is shown as text."""
    if _USER_ID.fullmatch(user_id or ""):
        return Mrkdwn(f"<@{user_id}>")
    return escape(user_id or "someone")


def channel_link(channel_id: str) -> Mrkdwn:
    """``<#C123>`` for a Slack channel id; anything that is not one is shown as text."""
    if _CHANNEL_ID.fullmatch(channel_id or ""):
        return Mrkdwn(f"<#{channel_id}>")
    return escape(channel_id or "the channel")


def group_mention(group_id: str) -> Mrkdwn:
    """``<!subteam^S123>`` for a Slack user group id; anything else is shown as text."""
    if _GROUP_ID.fullmatch(group_id or ""):
        return Mrkdwn(f"<!subteam^{group_id}>")
    return escape(group_id or "")


def join_lines(lines: Sequence[str], sep: str = "\n") -> Mrkdwn:
    """Lines (markup or not) joined into one piece of mrkdwn."""
    return Mrkdwn(sep).join(lines)
