"""WHM API 1 on the wire, as pure functions: requests, the reply envelope, reasons as errors."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from providers._common import one_line
from providers.errors import (
    AuthenticationFailed,
    BadReply,
    NotAllowedNow,
    ProviderError,
    TransferNotFound,
    Unsupported,
)

__all__ = [
    "SESSION_ID",
    "build_request",
    "error_for_reason",
    "is_web_page",
    "read_envelope",
    "read_state",
]

logger = logging.getLogger(__name__)

# e.g. exampleservercopya20140206192428NtyW; kept loose so other cPanel builds' ids pass
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_NOT_FOUND = re.compile(
    r"does not exist|doesn\W?t exist|no such|not found|invalid transfer session", re.I
)
_FAILED_TO = re.compile(r"failed to [“\"]?(pause|start|abort)", re.I)
_DENIED = re.compile(r"permission|access denied|not authori[sz]ed|privilege", re.I)
_UNKNOWN_APP = re.compile(r"unknown app", re.I)


def build_request(function: str, session_id: str, **params: str) -> tuple[str, dict[str, str]]:
    """The path and query of one WHM API 1 call about one transfer session."""
    return f"/json-api/{function}", {
        "api.version": "1",
        "transfer_session_id": session_id,
        **params,
    }


def is_web_page(body: bytes, content_type: str) -> bool:
    """True for an HTML page (a login, proxy or error page) where an API reply should be."""
    return "html" in content_type.lower() or body.lstrip()[:1] == b"<"


def read_envelope(
    body: bytes, *, content_type: str, who: str, account: str, function: str
) -> tuple[bool, str, dict[str, Any]]:
    """Check a reply and split it into (succeeded, reason, data).

    Raises BadReply for a web page, malformed or truncated JSON, or a reply without the
    ``metadata`` envelope.
    """

    def bad(what: str) -> BadReply:
        return BadReply(
            f"{who} sent {what} in reply to {function}; nothing was changed on our side.",
            account=account,
        )

    if is_web_page(body, content_type):
        raise bad("a web page instead of an API reply (is the base URL right?)")
    try:
        reply = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise bad("a reply that is not valid JSON") from None
    metadata = reply.get("metadata") if isinstance(reply, dict) else None
    if not isinstance(metadata, dict) or "result" not in metadata:
        raise bad("a reply without the WHM API 1 envelope")
    result = metadata["result"]
    if result in (1, "1", True):
        ok = True
    elif result in (0, "0", False):
        ok = False
    else:
        raise bad(f"a reply with an unknown result {one_line(result, 20)!r}")
    reason = one_line(metadata.get("reason") or "") or ("OK." if ok else "The call failed.")
    data = reply.get("data")
    return ok, reason, data if isinstance(data, dict) else {}


def read_state(data: Mapping[str, Any], *, who: str, account: str) -> str:
    """The raw state from ``get_transfer_session_state`` data: a name, or a stored number."""
    raw = data.get("state_name", data.get("state"))
    if isinstance(raw, bool) or not isinstance(raw, str | int) or str(raw).strip() == "":
        raise BadReply(
            f"{who} sent a session state we could not read; nothing was changed on our side.",
            account=account,
        )
    return one_line(raw, 64)


def error_for_reason(
    reason: str, *, who: str, account: str, function: str, session_id: str
) -> ProviderError:
    """The error a failed call (``result: 0``) means, with the provider's reason in it."""
    said = reason if reason.endswith((".", "!", "?")) else reason + "."
    if _NOT_FOUND.search(reason):
        return TransferNotFound(
            f"{who} has no transfer session '{session_id}'; check the id and the account.",
            account=account,
            detail=reason,
        )
    if _FAILED_TO.search(reason):
        return NotAllowedNow(f"{who} says: {said}", account=account, detail=reason)
    if _DENIED.search(reason):
        return AuthenticationFailed(
            f"{who} refused {function} ({reason.rstrip('.')}); "
            "check that the API token has the transfer privileges.",
            account=account,
            detail=reason,
        )
    if _UNKNOWN_APP.search(reason):
        return Unsupported(
            f"{who} does not offer {function}; its WHM may be too old for the Transfer Tool API.",
            account=account,
            detail=reason,
        )
    return ProviderError(f"{who} says: {said}", account=account, detail=reason)
