"""Gandi's v5 REST API for transfers in: paths, bodies, and its replies in our error tree.

Facts, from https://api.gandi.net/docs/domains/ ("Domain transfer followup", "Update
authinfo", "Check transfer availability", "Resend the transfer FOA emails"),
https://api.gandi.net/docs/authentication/ and https://api.gandi.net/docs/reference/:

- ``GET /v5/domain/transferin/{domain}`` the follow-up; ``PUT`` on it relaunches;
  ``PUT .../authinfo`` ``{"authinfo": ...}`` gives a pending transfer a new code;
  ``POST .../foa`` ``{"email": ...}`` resends the FOA e-mail; ``POST .../available``.
- Actions answer a ``{"message": ...}`` and may carry a ``Location`` header (202 for the
  long ones); errors are JSON ``{"code", "message", "object", "cause"}``, and a refused
  body is ``{"status": "error", "errors": [{"location", "name", "description"}]}``.
- ``Authorization: Bearer <PAT>``; a PAT belongs to one organization, has scoped
  permissions and expires. POST/PUT carry ``Content-Type: application/json``.
- There is no endpoint listing transfers in, and no way to cancel one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

import httpx

from providers._common import normalize_domain, one_line, scrub
from providers.errors import (
    AuthenticationFailed,
    BadReply,
    InvalidInput,
    NotAllowedNow,
    ProviderError,
    TransferNotFound,
    WrongAccount,
)
from providers.jsonsafe import is_json_type, parse_untrusted_json

__all__ = [
    "MAX_REPLY_BYTES",
    "OPERATIONS",
    "TOKEN_HELP",
    "action_error",
    "authinfo_body",
    "foa_body",
    "invalid_ref",
    "normalize_domain",
    "read_error",
    "reply_json",
    "token_expired",
    "transfer_path",
]

MAX_REPLY_BYTES = 256 * 1024
# our names for the calls (the simulator counts and faults them by these)
OPERATIONS = {
    "info": "transferin.info",
    "relaunch": "transferin.relaunch",
    "authinfo": "transferin.authinfo",
    "foa": "transferin.foa",
    "available": "transferin.available",
}
TOKEN_HELP = (
    "Gandi's Admin, Account settings → Personal Access Tokens, for the organization that "
    "owns the domains and with the “Manage domain names” permission"
)
_ORG_WORDS = ("organization", "organisation", "sharing", "owner")
_PERMISSION_WORDS = ("permission", "scope", "not allowed", "right")


# -- refs and bodies -------------------------------------------------------------------------


def invalid_ref(ref: str, *, who: str, account: str) -> InvalidInput:
    shown = one_line(ref, 40) or "an empty reference"
    return InvalidInput(
        f"'{shown}' is not a domain name at {who}; Gandi v5 transfers are named by their "
        "domain, such as example.com.",
        account=account,
    )


def transfer_path(domain: str, what: str = "") -> str:
    """``v5/domain/transferin/{domain}[/what]`` (relative to the base URL)."""
    tail = f"/{what}" if what else ""
    return f"v5/domain/transferin/{quote(domain, safe='')}{tail}"


def authinfo_body(authinfo: str) -> bytes:
    return json.dumps({"authinfo": authinfo}).encode()


def foa_body(email: str) -> bytes:
    return json.dumps({"email": email}).encode()


# -- replies ---------------------------------------------------------------------------------
def reply_json(response: httpx.Response, body: bytes, *, what: str, account: str) -> object:
    """The JSON of a reply, checked: its type, size and depth; BadReply (a sentence) if not."""
    content_type = response.headers.get("content-type", "")
    if not is_json_type(content_type):
        shown = content_type.split(";")[0].strip() or "no type"
        raise BadReply(
            f"{what} is a web page ({shown}), not Gandi's JSON; a proxy or sign-in page may "
            "be in the way.",
            account=account,
        )
    try:
        return parse_untrusted_json(body, what=what, max_bytes=MAX_REPLY_BYTES)
    except BadReply as exc:
        exc.account = account
        raise


def error_words(response: httpx.Response, body: bytes, secrets: list[str]) -> str:
    """Gandi's own words in an error reply (its message, or each refused field), scrubbed."""
    if not is_json_type(response.headers.get("content-type")):
        return ""
    try:
        value = parse_untrusted_json(body, max_bytes=MAX_REPLY_BYTES)
    except BadReply:
        return ""
    if not isinstance(value, dict):
        return ""
    parts: list[str] = []
    if isinstance(value.get("message"), str):
        parts.append(value["message"])
    errors = value.get("errors")
    if isinstance(errors, list):
        for item in errors[:5]:
            if isinstance(item, dict):
                name, text = item.get("name"), item.get("description")
                parts.append(f"{name}: {text}" if isinstance(name, str) and name else str(text))
    return one_line(scrub("; ".join(p for p in parts if p), secrets), 300).rstrip(".")


def token_expired(who: str, *, account: str, secret_env: str) -> AuthenticationFailed:
    """HTTP 401: the PAT is no longer good, most likely expired."""
    return AuthenticationFailed(
        f"{who} refused the Personal Access Token (HTTP 401): it has most likely expired "
        f"(Gandi's tokens expire) or was deleted; renew it or create a new one in {TOKEN_HELP}, "
        f"and put it in {secret_env}.",
        account=account,
    )


def forbidden(who: str, *, account: str, domain: str, words: str) -> ProviderError:
    """HTTP 403: the PAT is good but may not touch this transfer. Which of the two likely
    causes it is comes from Gandi's words when they say; both are named otherwise."""
    lowered = words.lower()
    error, cause = next(
        (
            (error, cause)
            for hints, error, cause in _FORBIDDEN_CAUSES
            if any(w in lowered for w in hints)
        ),
        (AuthenticationFailed, _EITHER_CAUSE),
    )
    return error(
        f"{who} refused the Personal Access Token for {domain} (HTTP 403): {cause}",
        account=account,
        detail=f"Gandi: {words}" if words else None,
    )


# a 403's likely cause, by Gandi's words: (words that say it, our error, what to do)
_FORBIDDEN_CAUSES: tuple[tuple[tuple[str, ...], type[ProviderError], str], ...] = (
    (
        _ORG_WORDS,
        WrongAccount,
        "the token was most likely made for another organization than the one that owns "
        f"this transfer; create one in {TOKEN_HELP}.",
    ),
    (
        _PERMISSION_WORDS,
        AuthenticationFailed,
        "the token most likely lacks the “Manage domain names” permission; give it that "
        f"permission, or create one in {TOKEN_HELP}.",
    ),
)
_EITHER_CAUSE = (
    "the token most likely lacks the “Manage domain names” permission or was made for "
    f"another organization than the one that owns this transfer; check both in {TOKEN_HELP}."
)


def read_error(
    response: httpx.Response,
    body: bytes,
    *,
    who: str,
    account: str,
    domain: str,
    secrets: list[str],
) -> ProviderError:
    """The error a non-200 reply to a read means (401, 429 and 5xx are ProviderHTTP's)."""
    status = response.status_code
    words = error_words(response, body, secrets)
    if status == 403:
        return forbidden(who, account=account, domain=domain, words=words)
    if status == 404 and is_json_type(response.headers.get("content-type")):
        return TransferNotFound(
            f"{who} has no transfer of {domain} in progress; check the domain, and that the "
            "token's organization is the one that started the transfer.",
            account=account,
            detail=f"Gandi: {words}" if words else None,
        )
    if not is_json_type(response.headers.get("content-type")):
        return ProviderError(
            f"{who} answered HTTP {status} to {OPERATIONS['info']} with a web page, not "
            "Gandi's JSON; check the account's base_url (https://api.gandi.net).",
            account=account,
        )
    return ProviderError(
        f"{who} could not read the transfer of {domain} (HTTP {status}"
        + (f": {words}" if words else "")
        + ").",
        account=account,
    )


def action_error(
    response: httpx.Response,
    body: bytes,
    *,
    who: str,
    account: str,
    domain: str,
    doing: str,
    secrets: list[str],
) -> ProviderError | None:
    """The error a reply to an action means, or None when Gandi accepted it."""
    status = response.status_code
    if status in (200, 201, 202, 204):
        return None
    words = error_words(response, body, secrets)
    said = f": {words}" if words else ""
    if status == 403:
        return forbidden(who, account=account, domain=domain, words=words)
    if status == 404:
        return TransferNotFound(
            f"{who} has no transfer of {domain} in progress to {doing}; check the domain "
            "and the token's organization.",
            account=account,
        )
    if status in (400, 422):
        return InvalidInput(
            f"{who} refused a value while trying to {doing}{said}.", account=account
        )
    if status in (402, 409, 412):
        return NotAllowedNow(f"{who} can't {doing} now (HTTP {status}{said}).", account=account)
    return ProviderError(f"{who} could not {doing} (HTTP {status}{said}).", account=account)


def confirmation(response: httpx.Response, body: bytes) -> Mapping[str, object] | None:
    """The ``{"message": ...}`` of an accepted action, if it is JSON (else None)."""
    if not body.strip() or not is_json_type(response.headers.get("content-type")):
        return None
    value = parse_untrusted_json(body, max_bytes=MAX_REPLY_BYTES)
    return value if isinstance(value, dict) else None
