"""Build a Transfer snapshot from a session's state, its master.log and its remote analysis."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from providers._common import one_line
from providers.base import HistoryEntry, Phase, Transfer
from providers.cpanel.statuses import STATES, rule_for, state_name_of

__all__ = [
    "HISTORY_LIMIT",
    "SessionContents",
    "build_transfer",
    "describe_record",
    "format_size",
    "parse_contents",
    "parse_log",
    "subject_of",
]

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 10
# master.log bookkeeping that says nothing a person needs on the card
_QUIET_ACTIONS = frozenset(
    {"version", "queue_count", "queue_size", "initiator", "process-item", "remotehost"}
)
_ITEM_VERBS = {
    "start-item": "started",
    "success-item": "done",
    "warning-item": "done with warnings",
    "failed-item": "failed",
    "skipped-item": "skipped",
}
_SUBJECT_NAMES = 5


@dataclass(frozen=True, slots=True)
class SessionContents:
    """What a session moves, from ``retrieve_transfer_session_remote_analysis``."""

    accounts: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    size: int | None = None
    remote_host: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def _when(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def describe_record(contents: Mapping[str, Any]) -> str | None:
    """One master.log record in plain words, or None for bookkeeping nobody needs to see."""
    action = one_line(contents.get("action") or "", 40)
    if not action or action in _QUIET_ACTIONS:
        return None
    msg = contents.get("msg")
    failure = msg.get("failure") if isinstance(msg, Mapping) else None
    queue = one_line(contents.get("queue") or "", 20).capitalize()
    item = contents.get("item") or contents.get("local_item")
    if action in _ITEM_VERBS and item:
        kind = one_line(contents.get("item_name") or "item", 30).lower()
        text = f"{queue or 'Work'} of {kind} “{one_line(item, 60)}” {_ITEM_VERBS[action]}"
        return f"{text}: {one_line(failure, 200)}" if failure else text
    if action == "complete":
        return f"{queue} queue complete" if queue else "Session complete"
    if action == "start" and not item:
        return "Session started"
    if isinstance(msg, str | int | float) and not isinstance(msg, bool) and str(msg):
        return one_line(msg, 200)
    if failure:
        return f"{action}: {one_line(failure, 200)}"
    return action


def parse_log(text: str, *, limit: int = HISTORY_LIMIT) -> tuple[HistoryEntry, ...]:
    """The last ``limit`` meaningful records of a master.log, oldest first.

    The log is one JSON record a line; lines that are not records are skipped, never fatal.
    """
    entries: list[HistoryEntry] = []
    for line in reversed(text.splitlines()):
        if len(entries) >= limit:
            break
        try:
            record = json.loads(line)
        except ValueError:
            continue
        contents = record.get("contents") if isinstance(record, dict) else None
        if not isinstance(contents, dict):
            continue
        words = describe_record(contents)
        if words is None:
            continue
        raw_code = one_line(contents.get("action"), 40)
        phase = Phase.COMPLETED if raw_code == "complete" and not contents.get("queue") else None
        entries.append(HistoryEntry(_when(contents.get("time")), raw_code, words, phase))
    return tuple(reversed(entries))


def _names(items: object, *keys: str) -> tuple[str, ...]:
    """Names from a list of strings or of objects carrying one of ``keys``, or an object's keys."""
    if isinstance(items, Mapping):
        items = [{"user": k, **(v if isinstance(v, Mapping) else {})} for k, v in items.items()]
    if not isinstance(items, list):
        return ()
    names = []
    for item in items:
        value = item if isinstance(item, str) else None
        if isinstance(item, Mapping):
            value = next((item[k] for k in keys if isinstance(item.get(k), str)), None)
        if value:
            names.append(one_line(value, 60))
    return tuple(names)


def _total_size(items: object) -> int | None:
    if isinstance(items, Mapping):
        items = list(items.values())
    if not isinstance(items, list):
        return None
    sizes = [item.get("size", item.get("disk_used")) for item in items if isinstance(item, Mapping)]
    numbers = [
        s
        for s in sizes
        if isinstance(s, int | float) and not isinstance(s, bool) and math.isfinite(s)
    ]
    return int(sum(numbers)) if numbers else None


def parse_contents(data: Mapping[str, Any]) -> SessionContents:
    """Accounts, packages and the remote server from a remote analysis (missing parts are empty)."""
    items = data.get("items")
    items = items if isinstance(items, Mapping) else data
    accounts = items.get("accounts")
    remote = data.get("remote")
    remote = remote if isinstance(remote, Mapping) else {}
    host = remote.get("hostname") or remote.get("host")
    return SessionContents(
        accounts=_names(accounts, "user", "username", "localuser", "name"),
        domains=_names(accounts, "domain"),
        packages=_names(items.get("packages"), "name", "package"),
        size=_total_size(accounts),
        remote_host=one_line(host, 100) if isinstance(host, str) and host else None,
    )


def subject_of(contents: SessionContents) -> str | None:
    """``"3 accounts: example, shop, blog"``; None when the analysis names no account."""
    names = contents.accounts
    if not names:
        return None
    shown = ", ".join(names[:_SUBJECT_NAMES])
    if len(names) > _SUBJECT_NAMES:
        shown += f" and {len(names) - _SUBJECT_NAMES} more"
    noun = "account" if len(names) == 1 else "accounts"
    return f"{len(names)} {noun}: {shown}"


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _details(
    ref: str, raw_state: str, contents: SessionContents | None, notes: Mapping[str, str]
) -> dict[str, str]:
    details = {"session": ref, "state": raw_state}
    if contents is not None:
        if contents.remote_host:
            details["remote server"] = contents.remote_host
        if contents.domains:
            details["domains"] = ", ".join(contents.domains)
        if contents.packages:
            details["packages"] = ", ".join(contents.packages)
        if contents.size is not None:
            details["size"] = format_size(contents.size)
    details.update(notes)
    return details


def build_transfer(
    *,
    account: str,
    ref: str,
    raw_state: str,
    subject: str | None = None,
    history: Sequence[HistoryEntry] = (),
    contents: SessionContents | None = None,
    notes: Mapping[str, str] | None = None,
) -> Transfer:
    """The snapshot of one session: phase, actions and words from its state, plus what we know."""
    rule = rule_for(raw_state)
    name = state_name_of(raw_state)
    known = name in STATES
    raw_text = f"{name}: {rule.text}" if known and name != raw_state else rule.text
    dated = [entry.at for entry in history if entry.at is not None]
    return Transfer(
        account=account,
        provider="cpanel",
        ref=ref,
        subject=(subject_of(contents) if contents else None) or subject or ref,
        phase=rule.phase,
        raw_code=raw_state,
        raw_text=raw_text,
        actions=rule.specs,
        changed_at=max(dated) if dated else None,
        history=tuple(history),
        waiting_for=rule.waiting_for,
        details=_details(ref, raw_state, contents, notes or {}),
    )
