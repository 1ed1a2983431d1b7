"""Pure Hostway REST parsing and building: reply → Transfer, status → error, request bodies."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from providers._common import ascii_digits, scrub
from providers.base import (
    Action,
    ActionInput,
    ActionSpec,
    HistoryEntry,
    Phase,
    Transfer,
)
from providers.errors import (
    BadReply,
    InvalidInput,
    NotAllowedNow,
    ProviderError,
    TransferNotFound,
    Unavailable,
    WrongAccount,
)
from providers.hostway.statuses import phase_of, status_code

__all__ = [
    "AUTH_INFO_INPUT",
    "ReplyShapeError",
    "auth_info_problem",
    "error_words",
    "invalid_ref",
    "normalize_domain",
    "parse_transfer",
    "read_error",
    "reset_body",
    "reset_error",
    "reset_spec",
    "transfer_path",
]

logger = logging.getLogger(__name__)

AUTH_INFO_INPUT = ActionInput(
    name="authInfo",
    label="New authInfo (EPP code)",
    secret=True,
    min_length=6,
    max_length=16,
    hint="Leave empty to retry with the authInfo Hostway already has.",
)

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class ReplyShapeError(ValueError):
    """A Hostway reply that does not have the documented shape; says what is wrong."""


def reset_spec() -> ActionSpec:
    """The ``retry`` action as Hostway names it: a reset, optionally with a new authInfo."""
    return ActionSpec(
        action=Action.RETRY,
        verb="reset",
        inputs=(AUTH_INFO_INPUT,),
        description="Reset the blocked transfer, optionally with a new authInfo (EPP code).",
    )


def normalize_domain(ref: str) -> str | None:
    """The domain a ref names, lower-case and ASCII (IDNA), or None if it is not one."""
    name = ref.strip().rstrip(".").lower()
    if not name or len(name) > 253:
        return None
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    return name


def transfer_path(account_number: str, domain: str) -> str:
    """``/accounts/{accountNumber}/domains/transfers/{domainName}``, each part escaped."""
    return f"/accounts/{quote(account_number, safe='')}/domains/transfers/{quote(domain, safe='')}"


def auth_info_problem(value: str | None) -> str | None:
    """A sentence saying what is wrong with a new authInfo, or None (empty means keep the old)."""
    problem = AUTH_INFO_INPUT.validate(value)
    if problem or not value:
        return problem
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return f"{AUTH_INFO_INPUT.label} must not contain spaces or control characters."
    return None


def reset_body(auth_info: str | None) -> bytes:
    """The PUT body: real JSON (the seed's single quotes are not), ``{}`` keeps the old authInfo."""
    return json.dumps({"authInfo": auth_info} if auth_info else {}).encode()


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


def error_words(body: bytes, *, secret: str | None = None) -> str | None:
    """Hostway's own words from an error body (a JSON message), never a secret we sent."""
    try:
        payload = json.loads(body[:4096])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, Mapping):
        return None
    for key in ("message", "description", "error", "errorMessage"):
        words = _text(payload.get(key))
        if words:
            return scrub(words, [secret])
    return None


def read_error(
    status: int,
    *,
    who: str,
    account: str,
    domain: str,
    account_number: str,
    detail: str | None = None,
) -> ProviderError:
    """The error for a GET reply that is not 200."""
    if status == 403:
        return WrongAccount(
            f"{who} says the transfer of {domain} belongs to another account than "
            f"{account_number}; watch it under the account that owns it.",
            account=account,
            detail=detail,
        )
    if status == 404:
        return TransferNotFound(
            f"{who} has no transfer order for {domain} in account {account_number}; "
            "check the domain and the account.",
            account=account,
            detail=detail,
        )
    if status == 500:  # documented as the registry answering with an error
        return Unavailable(
            f"{who} says the registry answered with an error (HTTP 500); "
            "try again in a few minutes.",
            account=account,
            detail=detail,
        )
    return BadReply(
        f"{who} answered the status request for {domain} with HTTP {status}, "
        "which its API does not use; nothing was changed.",
        account=account,
        detail=detail,
    )


def reset_error(
    status: int,
    *,
    who: str,
    account: str,
    domain: str,
    account_number: str,
    detail: str | None = None,
) -> ProviderError | None:
    """The error for a PUT (reset) reply, or None when the reset was accepted (2xx)."""
    if 200 <= status < 300:
        return None
    if status in (400, 404):  # the doc reuses 404 for "bad request" and "no pending transfer"
        return TransferNotFound(
            f"{who} refused the reset of {domain}: it has no pending transfer order for it "
            f"in account {account_number}, or a value we sent was not accepted.",
            account=account,
            detail=detail,
        )
    if status == 403:
        return WrongAccount(
            f"{who} says the transfer of {domain} belongs to another account than "
            f"{account_number}, so it can't be reset from here.",
            account=account,
            detail=detail,
        )
    if status == 409:
        return NotAllowedNow(
            f"{who} says the transfer of {domain} can't be reset now; "
            "check its status: a transfer can be reset only while it is blocked.",
            account=account,
            detail=detail,
        )
    if status == 500:
        return Unavailable(
            f"{who} answered the reset of {domain} with an unknown error (HTTP 500); "
            "check the transfer's status before trying again.",
            account=account,
            detail=detail,
        )
    return BadReply(
        f"{who} answered the reset of {domain} with HTTP {status}, which its API does not "
        "use; check the transfer's status before trying again.",
        account=account,
        detail=detail,
        maybe_applied=status >= 500,
    )


def invalid_ref(ref: str, *, account: str) -> InvalidInput:
    shown = ref.strip()[:80] or "(empty)"
    return InvalidInput(
        f"'{shown}' is not a domain name; Hostway transfers are named by their domain, "
        "e.g. example.com.",
        account=account,
    )
