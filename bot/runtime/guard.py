"""The events endpoint's door: size, signature and shape checked before Bolt reads a request.

Bolt parses a body before it checks the signature, and its parsers assume Slack's shapes:
an unsigned ``payload=not-json`` would reach them and end as an HTTP 500 with a traceback
in the log. Here a body is read only up to :data:`MAX_EVENT_BYTES` (413 beyond) and for
:data:`BODY_SECONDS` at most (408, and the connection closed: a slow client would
otherwise hold it open as long as it liked), refused
unless signed with the signing secret in the last five minutes (401), and refused unless
it is text in one of Slack's shapes (400, ``bot.runtime.shapes``); a payload of a kind
the bot does not serve is answered 200 and goes no further. Bolt then checks the
signature again and dispatches as usual.

A request whose signature was seen before (the same body re-sent, within the five
minutes a signature lasts) reaches the listeners as a redelivery (``X-Slack-Retry-Num``),
whatever its headers say: they then do nothing twice (see ``bot.actions.approvals``). Signatures
are remembered in this process and recorded in the database (``bot.runtime.replays``),
so a request re-sent to another replica, or after a restart, is a redelivery too; while
the database can't record them, each replica goes by its own memory. A slash command's
signature is kept in memory only: the command listener records its ``trigger_id`` in the
same table, batched, for a command it does not answer in the ack
(``bot.slack.listeners.commands``), so help, misuse and refusals wait on no database write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import Clock, SignatureVerifier
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from bot.runtime.replays import SIGNATURE_SECONDS, RecentSignatures, SharedSignatures
from bot.runtime.shapes import Malformed, check_payload, payload_kind

if TYPE_CHECKING:
    from storage.database import Database

__all__ = ["BODY_SECONDS", "MAX_EVENT_BYTES", "SIGNATURE_SECONDS", "RequestGuard"]

logger = logging.getLogger(__name__)

RETRY_HEADER = "x-slack-retry-num"
MAX_EVENT_BYTES = 1024 * 1024  # Slack's largest payloads (a view with 100 blocks) are far less
# The whole body's time to arrive. Slack sends a few kilobytes at once and waits 3 s for
# the answer; a client still sending after this holds a connection for nothing.
BODY_SECONDS = 10.0
_UNREAD = frozenset({408, 413})  # refused with the body not read to its end


class Refused(Exception):
    """A request turned away at the door, with the HTTP status it gets."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error

    def response(self) -> Response:
        # the rest of an unread body would be read as the next request: close instead
        headers = {"Connection": "close"} if self.status in _UNREAD else None
        return JSONResponse({"error": self.error}, status_code=self.status, headers=headers)


class RequestGuard:
    """Checks each request to the events endpoint; remembers the signatures it let in."""

    def __init__(
        self,
        signing_secret: str,
        *,
        db: Database | None = None,
        shared: SharedSignatures | None = None,
        body_seconds: float = BODY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secret.strip():
            raise ValueError("the events endpoint needs the signing secret")
        self.signing_secret = signing_secret
        self.body_seconds = body_seconds
        self.clock = clock
        self.memory = RecentSignatures(clock=clock)  # signatures let in, for five minutes
        if shared is None and db is not None:
            shared = SharedSignatures(db, clock=clock)
        self.shared = shared  # the database's record, shared with the command listener
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))

    async def check(self, request: Request) -> AsyncBoltRequest | Response:
        """The request as Bolt reads it, or the response refusing it."""
        try:
            body = await _read_capped(request, MAX_EVENT_BYTES, self.body_seconds)
            timestamp, signature = _verify(body, request.headers, self._verifier)
            bolt_request = _bolt_request(_text(body), request)
            kind = payload_kind(check_payload(bolt_request.body))
        except Refused as refused:
            logger.info("refused a request to the events endpoint: %s", refused.error)
            return refused.response()
        except Malformed as malformed:
            logger.info("refused a request to the events endpoint: %s", malformed)
            return Refused(400, "malformed request").response()
        if kind is not None:
            logger.info("ignored a request of a kind the bot does not serve: %s", kind)
            return Response(status_code=200)
        headers = bolt_request.headers
        command = "command" in bolt_request.body
        if await self._replayed(signature, timestamp, command) and RETRY_HEADER not in headers:
            logger.info("a request was sent again with the same signature: handled as a retry")
            headers[RETRY_HEADER] = ["1"]
        return bolt_request

    async def _replayed(self, signature: str, timestamp: int, command: bool) -> bool:
        """Seen before: by this process (memory, checked first), or by any (the database).

        A slash command is looked up in memory only: its listener records its trigger_id
        with the shared signatures unless it answers in the ack, so help, misuse and
        refusals wait on no database write, and any other costs one (batched) write, not
        two.
        """
        if not self.memory.add(signature, timestamp):
            return True
        if command or self.shared is None:
            return False
        return not await self.shared.add(signature, timestamp)


async def _read_capped(request: Request, limit: int, seconds: float) -> bytes:
    """The body, up to ``limit`` bytes (413 beyond) and within ``seconds`` in all (408)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, "request too large")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Refused(413, "request too large")
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(408, "request body too slow") from None
    except ClientDisconnect:
        raise Refused(400, "the client went away before sending it all") from None
    return b"".join(chunks)


class _Clock(Clock):
    """The guard's clock, for the signature's age too."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock()


def _verify(
    body: bytes, headers: Mapping[str, str], verifier: SignatureVerifier
) -> tuple[int, str]:
    """The request's (timestamp, signature) once both check out; else Refused (401)."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature:
        raise Refused(401, "invalid request")
    try:
        valid = verifier.is_valid(body, timestamp, signature)
    except UnicodeDecodeError:  # Slack's bodies are UTF-8 text
        raise Refused(400, "malformed request") from None
    if not valid:
        raise Refused(401, "invalid request")
    return int(timestamp), signature


def _bolt_request(text: str, request: Request) -> AsyncBoltRequest:
    """Bolt's request: the body parsed once, by Bolt, which then reads ids from it; a body
    it can't read (not JSON, nested past Python's recursion limit, not an object) is 400."""
    try:
        return AsyncBoltRequest(
            body=text,
            query=request.query_params,  # type: ignore[arg-type]
            headers=dict(request.headers),
        )
    except RecursionError:
        raise Malformed("nested too deep") from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        raise Malformed("not in Slack's shape") from None


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "malformed request") from None
