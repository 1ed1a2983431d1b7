"""Hostway's REST API on the wire, as pure functions: paths, bodies, refs, replies as errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from providers._common import normalize_domain, scrub
from providers.errors import (
    BadReply,
    InvalidInput,
    NotAllowedNow,
    ProviderError,
    TransferNotFound,
    Unavailable,
    WrongAccount,
)

__all__ = [
    "error_words",
    "invalid_ref",
    "normalize_domain",
    "read_error",
    "reset_body",
    "reset_error",
    "transfer_path",
]

logger = logging.getLogger(__name__)


def transfer_path(account_number: str, domain: str) -> str:
    """``/accounts/{accountNumber}/domains/transfers/{domainName}``, each part escaped."""
    return f"/accounts/{quote(account_number, safe='')}/domains/transfers/{quote(domain, safe='')}"


def reset_body(auth_info: str | None) -> bytes:
    """The PUT body: real JSON (the seed's single quotes are not), ``{}`` keeps the old authInfo."""
    return json.dumps({"authInfo": auth_info} if auth_info else {}).encode()


def error_words(body: bytes, *, secret: str | None = None) -> str | None:
    """Hostway's own words from an error body (a JSON message), never a secret we sent."""
    try:
        payload = json.loads(body[:4096])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, Mapping):
        return None
    for key in ("message", "description", "error", "errorMessage"):
        words = _words(payload.get(key))
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


def _words(value: Any) -> str:
    return value.strip()[:500] if isinstance(value, str) else ""
