"""Slack's payload shapes, checked at the events endpoint before Bolt reads a payload.

Bolt indexes payloads the way Slack builds them (``body["view"]["type"]``,
``actions[0]["action_id"]``, ``len(authorizations)``, ids fed to regular expressions and
URLs): a signed payload of another shape raised inside it, an HTTP 500 with a traceback.
Here a payload as Bolt parsed it is refused (400) when it nests deeper than
:data:`MAX_DEPTH` (1,000 levels made ``json`` raise RecursionError) or when a part Bolt
or the listeners read has another type than Slack gives it, and set aside when it
is of a kind the bot does not serve (legacy attachment buttons, workflow steps,
shortcuts, ...): those are answered 200 with nothing done, as Slack expects of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "SERVED_KINDS", "Malformed", "check_payload", "payload_kind"]

logger = logging.getLogger(__name__)

MAX_DEPTH = 32  # Slack's deepest (rich text in a message's blocks) nest about a dozen levels
# the ``type`` of the payloads the listeners take; a form without one is a slash command
SERVED_KINDS = frozenset({"block_actions", "view_submission", "event_callback"})
BOLT_KINDS = frozenset({"url_verification"})  # answered by Bolt itself
SLACK_KINDS = frozenset(  # the others Slack sends an app, named in the log when set aside
    {
        "app_rate_limited",
        "block_suggestion",
        "dialog_cancellation",
        "dialog_submission",
        "interactive_message",
        "message_action",
        "shortcut",
        "view_closed",
        "workflow_step_edit",
    }
)
# Strings wherever they appear (Slack's ids, kinds and URLs): Bolt matches and joins them.
_STRINGS = frozenset(
    {
        "type",
        "action_id",
        "block_id",
        "callback_id",
        "team_id",
        "user_id",
        "channel_id",
        "enterprise_id",
        "api_app_id",
        "app_installed_team_id",
        "trigger_id",
        "response_url",
        "private_metadata",
        "thread_ts",
        "user_team",
        "context_team_id",
        "context_enterprise_id",
        "function_execution_id",
        "bot_access_token",
    }
)
# A string id or an object with one, wherever they appear.
_IDENTIFIED = frozenset({"user", "team", "channel", "enterprise"})
# Objects where they appear at the top (a string there is not Slack's shape either).
_OBJECTS = ("user", "team", "channel", "container", "view", "message", "event", "enterprise")
_LISTS_OF_OBJECTS = ("actions", "authorizations", "response_urls")
# Present means not null: Bolt goes by ``"view" in body`` and reads on (``enterprise`` and
# ``team`` are null in some of Slack's own payloads).
_NOT_NULL = ("view", "event", "message", "container", "actions", "response_urls")


class Malformed(ValueError):
    """A payload not in Slack's shape."""


def check_payload(body: object) -> dict[str, Any]:
    """The payload as Bolt parsed it, once its nesting and the parts Bolt reads check out."""
    if not isinstance(body, dict):
        raise Malformed("not an object")
    _check_nesting(body)
    _check_top(body)
    return body


def payload_kind(body: Mapping[str, Any]) -> str | None:
    """None when the bot serves this kind of payload; else the name to log it by."""
    kind = body.get("type")
    if kind is None or kind in SERVED_KINDS or kind in BOLT_KINDS:
        return None
    return kind if kind in SLACK_KINDS else "another kind"


def _check_nesting(body: dict[str, Any]) -> None:
    """Nesting within MAX_DEPTH, and the parts named in _STRINGS and _IDENTIFIED of
    their types, at every level (one pass, no recursion)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Malformed("nested too deep")
        if isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
            continue
        for key, value in item.items():
            if value is None:
                continue
            if key in _STRINGS and not isinstance(value, str):
                raise Malformed(f"{key} not a string")
            if key in _IDENTIFIED and not _is_identified(value):
                raise Malformed(f"{key} not an id")
            if isinstance(value, dict | list):
                stack.append((value, depth + 1))


def _is_identified(value: object) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, dict) and isinstance(value.get("id", ""), str | None)


def _check_top(body: dict[str, Any]) -> None:
    """The parts Bolt indexes without looking: where they are, they are what Slack sends."""
    for key in _NOT_NULL:
        if key in body and body[key] is None:
            raise Malformed(f"{key} null")
    for key in _OBJECTS:
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise Malformed(f"{key} not an object")
    for key in _LISTS_OF_OBJECTS:
        items = body.get(key)
        if items is not None and not (
            isinstance(items, list) and all(isinstance(i, dict) for i in items)
        ):
            raise Malformed(f"{key} not a list of objects")
    kind = body.get("type")
    if kind == "block_actions" and "actions" in body:
        actions = body["actions"] or []
        if not actions or not all(isinstance(a.get("action_id"), str) for a in actions):
            raise Malformed("an action without an action_id")
    view = body.get("view")
    if view is not None:
        if not isinstance(view.get("type"), str):
            raise Malformed("a view without a type")
        if not isinstance(view.get("state") or {}, dict):
            raise Malformed("view state not an object")
    event = body.get("event")
    if event is not None and not isinstance(event.get("type"), str):
        raise Malformed("an event without a type")
    if "command" in body and not all(
        isinstance(body.get(key), str | None) for key in ("command", "text")
    ):
        raise Malformed("a command not in words")
