"""The events endpoint's door: size, signature and shape checked before Bolt reads a request.

Bolt parses a body before it checks the signature, and its parsers assume Slack's shapes:
an unsigned ``payload=not-json`` would reach them and end as an HTTP 500 with a traceback
in the log. Here a body is read only up to :data:`MAX_EVENT_BYTES` (413 beyond), refused
unless signed with the signing secret in the last five minutes (401), and refused unless
it is text in one of Slack's shapes (400). Bolt then checks the signature again and
dispatches as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["MAX_EVENT_BYTES", "checked_request"]

logger = logging.getLogger(__name__)

MAX_EVENT_BYTES = 1024 * 1024  # Slack's largest payloads (a view with 100 blocks) are far less
_OBJECTS = ("user", "team", "channel", "container", "view", "message", "event", "enterprise")


class Refused(Exception):
    """A request turned away at the door, with the HTTP status it gets."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error

    def response(self) -> Response:
        return JSONResponse({"error": self.error}, status_code=self.status)


async def checked_request(request: Request, signing_secret: str) -> AsyncBoltRequest | Response:
    """The request as Bolt reads it, or the response refusing it."""
    try:
        body = await _read_capped(request, MAX_EVENT_BYTES)
        _verify(body, request.headers, signing_secret)
        text = _text(body)
        _check_shape(parse_body(text, request.headers.get("content-type")))
        return AsyncBoltRequest(
            body=text,
            query=request.query_params,  # type: ignore[arg-type]
            headers=request.headers,  # type: ignore[arg-type]
        )
    except Refused as refused:
        logger.info("refused a request to the events endpoint: %s", refused.error)
        return refused.response()
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        logger.info("refused a request to the events endpoint: not in Slack's shape")
        return Refused(400, "malformed request").response()


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, "request too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "request too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature:
        raise Refused(401, "invalid request")
    if not SignatureVerifier(secret).is_valid(body, timestamp, signature):
        raise Refused(401, "invalid request")


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "malformed request") from None


def _check_shape(body: Any) -> None:
    """Slack's top level is an object whose known parts are objects (actions: a list of them)."""
    if not isinstance(body, dict):
        raise Refused(400, "malformed request")
    for key in _OBJECTS:
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise Refused(400, "malformed request")
    actions = body.get("actions")
    if actions is not None and not (
        isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    ):
        raise Refused(400, "malformed request")
    view = body.get("view") or {}
    for key in ("state", "private_metadata", "callback_id"):
        expected = dict if key == "state" else str
        if view.get(key) is not None and not isinstance(view[key], expected):
            raise Refused(400, "malformed request")
