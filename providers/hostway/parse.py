"""Pure Hostway REST parsing: a status reply (seed 002) as a Transfer, its history and details."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from providers._common import ascii_digits
from providers.base import HistoryEntry, Phase, Transfer
from providers.hostway.statuses import phase_of, reset_spec, status_code

__all__ = ["ReplyShapeError", "parse_transfer"]

logger = logging.getLogger(__name__)


class ReplyShapeError(ValueError):
    """A Hostway reply that does not have the documented shape; says what is wrong."""


def parse_transfer(payload: Any, *, account: str, domain: str, account_number: str) -> Transfer:
    """Build a Transfer from a decoded GET reply; raises ReplyShapeError on a wrong shape.

    The reply's ``authInfo`` is a secret: only whether one is set reaches ``details``.
    """
    if not isinstance(payload, Mapping):
        raise ReplyShapeError("the reply is not a JSON object")
    current = payload.get("status")
    if not isinstance(current, Mapping):
        raise ReplyShapeError("the reply has no status object")
    code = _code(current.get("status"))
    if code is None:
        raise ReplyShapeError("the status object has no numeric status code")
    can_be_reset = current.get("canBeReset") is True
    row = status_code(code)
    text = _text(current.get("description")) or (row.description if row else f"status {code}")
    return Transfer(
        account=account,
        provider="hostway",
        ref=domain,
        subject=domain,
        phase=phase_of(code, can_be_reset=can_be_reset),
        raw_code=str(code),
        raw_text=text,
        actions=(reset_spec(),) if can_be_reset else (),
        changed_at=_date(current.get("statusChangeDate")),
        history=_history(payload.get("history")),
        waiting_for=row.waiting_for if row else None,
        details=_details(current, code, text, account_number, can_be_reset),
    )


def _details(
    current: Mapping[str, Any], code: int, text: str, account_number: str, can_be_reset: bool
) -> dict[str, str]:
    row = status_code(code)
    details = {
        "Hostway account": account_number,
        "can be reset": "yes" if can_be_reset else "no",
        "authInfo": "set" if current.get("authInfo") else "not set",
    }
    email = _text(current.get("emailAddress"))
    if email:
        details["approval e-mail sent to"] = email
    if row is None:
        details["note"] = f"Hostway status {code} is not in its published table; shown as sent."
    elif row.description.lower() != text.lower():
        details[f"status {code} in Hostway's table"] = row.description
    return details


def _history(raw: Any) -> tuple[HistoryEntry, ...]:
    if not isinstance(raw, list):
        return ()
    entries = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        code = _code(item.get("status"))
        if code is None:
            continue
        row = status_code(code)
        text = _text(item.get("description")) or (row.description if row else f"status {code}")
        phase: Phase | None = phase_of(code, can_be_reset=item.get("canBeReset") is True)
        entries.append(HistoryEntry(_date(item.get("statusChangeDate")), str(code), text, phase))
    return tuple(entries)


def _code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and ascii_digits(value.strip()):
        return int(value.strip())
    return None


def _text(value: Any) -> str:
    return value.strip()[:500] if isinstance(value, str) else ""


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        logger.debug("ignoring unreadable Hostway date %r", value[:40])
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
