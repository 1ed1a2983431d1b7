"""OpenSRS response codes: which error each unsuccessful reply becomes, in plain words."""

from __future__ import annotations

import logging

from providers._common import one_line
from providers.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotAllowedNow,
    ProviderError,
    RateLimited,
    TransferNotFound,
    Unavailable,
)
from providers.opensrs.wire import Reply

__all__ = ["CODE_ERRORS", "clean_text", "error_from_reply"]

logger = logging.getLogger(__name__)

RATE_LIMIT_WAIT = 60.0

# response code -> (error type, what the user can do)
CODE_ERRORS: dict[int, tuple[type[ProviderError], str]] = {
    300: (RateLimited, "try again in a minute"),
    310: (RateLimited, "try again in a minute"),
    350: (RateLimited, "try again in a minute"),
    400: (Unavailable, "try again in a few minutes, and check that our IP address is allowed"),
    404: (Unavailable, "try again in a few minutes"),
    405: (Unavailable, "the registry had a problem; try again later"),
    410: (AuthenticationFailed, "check the account's reseller username and API key"),
    415: (InvalidInput, "the registrant's authorization was refused; check the auth code"),
    430: (NotAllowedNow, "OpenSRS does not accept that command for this transfer"),
    435: (NotAllowedNow, "the order's state or the reseller's rights do not allow it"),
    436: (InvalidInput, "OpenSRS found the request invalid"),
    437: (NotAllowedNow, "another request is pending on this domain; try again later"),
    460: (InvalidInput, "a value OpenSRS needs is missing"),
    465: (InvalidInput, "a value sent to OpenSRS is not valid"),
    480: (TransferNotFound, "check the order id or domain and the account"),
    485: (NotAllowedNow, "it already exists at OpenSRS"),
    486: (Unavailable, "the domain is being processed; try again in a few minutes"),
    487: (NotAllowedNow, "the domain cannot be transferred now"),
}

_INVALID_COMMAND = (NotAllowedNow, "OpenSRS does not accept that command here")
_UNKNOWN = (ProviderError, "check the transfer at OpenSRS")


def clean_text(text: str, *, limit: int = 200) -> str:
    """Provider words made safe for one sentence: one line, bounded, no trailing stop."""
    return one_line(text, limit).rstrip(".") or "no reason given"


def error_from_reply(reply: Reply, *, account: str, operation: str) -> ProviderError:
    """The error for a reply whose ``is_success`` is 0, naming the account and OpenSRS's words.

    Args:
        reply: the parsed, unsuccessful reply.
        account: our name for the provider account.
        operation: the XCP action that was sent, e.g. ``CANCEL_TRANSFER``.
    """
    code = reply.response_code
    text = clean_text(reply.response_text)
    kind, advice = CODE_ERRORS.get(code, _UNKNOWN)
    if code == 400 and "invalid command" in text.lower():
        kind, advice = _INVALID_COMMAND
    message = f"opensrs account '{account}' answered {operation} with {code} “{text}”; {advice}."
    detail = f"{code} {text}"
    logger.info("opensrs %s on %s refused: %s", operation, account, detail)
    if kind is RateLimited:
        return RateLimited(message, retry_after=RATE_LIMIT_WAIT, account=account, detail=detail)
    return kind(message, account=account, detail=detail)
