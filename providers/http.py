"""Shared HTTP plumbing for provider clients: limits, timeouts, caps, read retries, errors."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from providers._common import ascii_digits
from providers.errors import (
    AuthenticationFailed,
    BadReply,
    ProviderError,
    RateLimited,
    TimedOut,
    Unavailable,
)

if TYPE_CHECKING:
    from providers.settings import ProviderAccount

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_RETRY_WAIT",
    "AccountLimiter",
    "ProviderHTTP",
    "parse_retry_after",
    "unknown_outcome",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BODY_BYTES = 2 * 1024 * 1024  # no provider reply we read is anywhere near this
MAX_RETRY_WAIT = 30.0  # a read told to wait longer than this fails now and says how long
_GATEWAY_ERRORS = (502, 503, 504)
MAX_CACHED_URLS = 20_000  # per account: about one URL per watched transfer
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # a scheme: not relative to the base
DEFAULT_HEADERS = {
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "user-agent": "transferbot",
}


def _advice(maybe_applied: bool) -> str:
    """What to do after a failed call: check first when it may have been done, else try again."""
    if maybe_applied:
        return "it may have been done, so check the transfer before trying again"
    return "try again in a few minutes"


def unknown_outcome(what: str, *, account: str) -> BadReply:
    """An action's reply we could not read: it may have been done, so say to check first.

    Args:
        what: the sentence's head, e.g. ``"cpanel account 'x' sent a reply we could not read"``.
        account: our name for the provider account.
    """
    return BadReply(f"{what}; {_advice(True)}.", account=account, maybe_applied=True)


def _as_is(response: httpx.Response, body: bytes) -> tuple[httpx.Response, bytes]:
    return response, body


class AccountLimiter:
    """Bounded concurrency plus a token-bucket rate limit for one provider account."""

    def __init__(self, *, concurrency: int, rate: float, burst: float | None = None) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, min(rate, float(concurrency)))
        self._tokens = self.burst
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()
        self._paused_until = 0.0

    def pause_for(self, seconds: float) -> None:
        """Stop starting calls for a while (the provider told us to slow down)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def _take_token(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)

    async def __aenter__(self) -> AccountLimiter:
        await self._slots.acquire()
        try:
            await self._take_token()
        except BaseException:
            self._slots.release()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


def parse_retry_after(value: str | None, *, default: float = 30.0) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); bounded to [1, 3600]."""
    if not value:
        return default
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(3600.0, max(1.0, seconds))


class ProviderHTTP:
    """httpx requests to one provider account, sent straight to an httpx transport.

    The transport comes from outside (``transport=``) so the same code talks to the real
    service, a simulator in-process (``httpx.ASGITransport``) or one on loopback.
    Reads (``idempotent=True``) are retried on transient failures with backoff and
    jitter; actions never are.

    Requests go to ``transport.handle_async_request`` rather than through an
    ``httpx.AsyncClient``: a provider API needs none of what a client adds per request
    (cookies, redirects, auth flows, event hooks), and at the watcher's rate that work
    was a quarter of its CPU (``python -m tests.perf.watcher``). What it does need is
    kept: the base URL, default headers, a one-step ``httpx.Auth`` (applied once, here)
    and the timeout.
    """

    def __init__(
        self,
        account: ProviderAccount,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        limiter: AccountLimiter | None = None,
        max_body: int = MAX_BODY_BYTES,
        backoff: float = 0.25,
        server_errors_are_replies: bool = False,
    ) -> None:
        self.account = account
        self.limiter = limiter or AccountLimiter(
            concurrency=account.concurrency, rate=account.rate_limit
        )
        self.max_body = max_body
        self.backoff = backoff
        # XML-RPC sends its faults with HTTP 500 and Hostway documents what its 500s mean:
        # such a client reads a 5xx (but 502-504) itself, e.g. raising ``server_error``
        self.server_errors_are_replies = server_errors_are_replies
        self.transport = transport or httpx.AsyncHTTPTransport(trust_env=False)
        base = httpx.URL(account.base_url)
        if not base.raw_path.endswith(b"/"):
            base = base.copy_with(raw_path=base.raw_path + b"/")
        self._base = base
        text = str(base.copy_with(query=None, fragment=None))
        self._base_text = text if text.endswith("/") else text + "/"
        self._headers = {**DEFAULT_HEADERS, **_lower(headers or {})}
        if auth is not None:
            self._headers.update(_auth_headers(auth, base))  # httpx gives names lower-case
        self._extensions = {"timeout": httpx.Timeout(account.timeout).as_dict()}
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], httpx.URL] = {}

    async def aclose(self) -> None:
        await self.transport.aclose()

    def url(self, url: str, params: Mapping[str, str] | None = None) -> httpx.URL:
        """The absolute URL for ``url`` (a relative one is appended to the base URL) with
        ``params`` as its query, as httpx's ``base_url`` and ``params=`` make it.

        It is joined as text and parsed once: each ``httpx.URL`` step (``copy_with``,
        ``copy_merge_params``) parses the whole URL again, and three parses per request
        were a tenth of the watcher's CPU at top speed. The result is kept (a transfer's
        URL is the same every poll; httpx's parser is pure Python and was a quarter of a
        Hostway poll's CPU), at most ``MAX_CACHED_URLS``, the oldest dropped first.
        """
        key = (url, tuple(params.items()) if params else ())
        try:
            found = self._urls.get(key)
        except TypeError:  # a list of values for one name: not kept
            return self._parse(url, params)
        if found is None:
            found = self._parse(url, params)
            if len(self._urls) >= MAX_CACHED_URLS:
                del self._urls[next(iter(self._urls))]  # the oldest
            self._urls[key] = found
        return found

    def _parse(self, url: str, params: Mapping[str, str] | None) -> httpx.URL:
        text = url if _ABSOLUTE.match(url) else self._base_text + url.lstrip("/")
        return httpx.URL(text, params=params) if params else httpx.URL(text)

    async def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        operation: str,
        **kwargs: Any,
    ) -> tuple[httpx.Response, bytes]:
        """Send one request (retrying reads) and return the response with its capped body.

        Maps transport failures, 401, 429 and 5xx to the error tree (a 5xx other than
        502-504 is left to the caller with ``server_errors_are_replies``); other statuses
        are the caller's to interpret.
        """
        return await self.call(
            method, url, idempotent=idempotent, operation=operation, read=_as_is, **kwargs
        )

    async def call(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        operation: str,
        read: Callable[[httpx.Response, bytes], T],
        **kwargs: Any,
    ) -> T:
        """Send a request and interpret its reply with ``read``, retrying both for reads.

        ``read`` raises a ProviderError for an error reply (an XCP ``is_success=0``, an
        XML-RPC fault, garbage); a transient one is retried like a transport failure when
        the call is a read, unless the provider asked us to wait more than
        ``MAX_RETRY_WAIT``. An action is sent exactly once.
        """
        attempts = 1 + (self.account.read_retries if idempotent else 0)
        for attempt in range(1, attempts + 1):
            try:
                response, body = await self._send_once(
                    method, url, idempotent=idempotent, operation=operation, **kwargs
                )
                return read(response, body)
            except ProviderError as exc:
                if not (idempotent and _worth_retrying(exc)) or attempt == attempts:
                    raise
                delay = self._delay(attempt, exc)
                logger.info(
                    "retrying %s on %s after %s (attempt %d, %.2fs)",
                    operation,
                    self.account.name,
                    exc.kind,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, exc: ProviderError) -> float:
        if isinstance(exc, RateLimited) and exc.retry_after:
            return min(exc.retry_after, MAX_RETRY_WAIT)
        base = self.backoff * 2.0 ** (attempt - 1)
        return base / 2 + random.uniform(0, base / 2)

    async def _send_once(
        self, method: str, url: str, *, idempotent: bool, operation: str, **kwargs: Any
    ) -> tuple[httpx.Response, bytes]:
        name = self.account.name
        request = httpx.Request(
            method,
            self.url(url, kwargs.pop("params", None)),
            headers={**self._headers, **_lower(kwargs.pop("headers", None) or {})},
            extensions=self._extensions,
            **kwargs,
        )
        async with self.limiter:
            try:
                response = await self.transport.handle_async_request(request)
                response.request = request
                try:
                    body = await self._read_capped(response, operation, idempotent)
                finally:
                    await response.aclose()
            except httpx.TimeoutException as exc:
                unknown = not idempotent and not isinstance(exc, httpx.ConnectTimeout)
                raise TimedOut(
                    f"{self.who} did not answer {operation} within "
                    f"{self.account.timeout:g} s; {_advice(unknown)}.",
                    account=name,
                    maybe_applied=unknown,
                ) from None
            except httpx.ConnectError:
                raise Unavailable(
                    f"Could not connect to {self.who}; it may be down. Try again in a few minutes.",
                    account=name,
                ) from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                raise Unavailable(
                    f"{self.who} dropped the connection during {operation}; "
                    f"{_advice(not idempotent)}.",
                    account=name,
                    maybe_applied=not idempotent,
                ) from None
            except httpx.HTTPError as exc:
                raise Unavailable(
                    f"Talking to {self.who} failed ({type(exc).__name__}); "
                    f"{_advice(not idempotent)}.",
                    account=name,
                    maybe_applied=not idempotent,
                ) from None
        status = response.status_code
        if status == 401:
            raise AuthenticationFailed(
                f"{self.who} refused our credentials (HTTP 401); "
                "check the account's API key or token.",
                account=name,
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            self.limiter.pause_for(retry_after)
            raise RateLimited(
                f"{self.who} is rate limiting us; try again in {round(retry_after)} s.",
                retry_after=retry_after,
                account=name,
            )
        if status >= 500 and status not in _GATEWAY_ERRORS and not self.server_errors_are_replies:
            raise self.server_error(status, operation=operation, idempotent=idempotent)
        if status in _GATEWAY_ERRORS:
            raise Unavailable(
                f"{self.who} is unavailable right now (HTTP {status}); "
                f"{_advice(not idempotent and status != 503)}.",
                account=name,
                # a gateway may have passed the request on before giving up
                maybe_applied=not idempotent and status != 503,
            )
        return response, body

    def server_error(self, status: int, *, operation: str, idempotent: bool) -> Unavailable:
        """The error for an HTTP 5xx that carries no reply; an action may have been done."""
        return Unavailable(
            f"{self.who} answered {operation} with a server error (HTTP {status}); "
            f"{_advice(not idempotent)}.",
            account=self.account.name,
            # the server may have done part of the work before failing
            maybe_applied=not idempotent,
        )

    @property
    def who(self) -> str:
        """The account as sentences name it: ``cpanel account 'main'``."""
        return f"{self.account.type} account '{self.account.name}'"

    async def _read_capped(
        self, response: httpx.Response, operation: str, idempotent: bool
    ) -> bytes:
        declared = response.headers.get("content-length")
        if declared and ascii_digits(declared) and int(declared) > self.max_body:
            raise self._oversized(operation, idempotent)
        chunks: list[bytes] = []
        size = 0
        # a body still on the wire and not encoded needs none of aiter_bytes' decoding
        raw = not response.is_stream_consumed and "content-encoding" not in response.headers
        async for chunk in response.aiter_raw() if raw else response.aiter_bytes():
            size += len(chunk)
            if size > self.max_body:
                raise self._oversized(operation, idempotent)
            chunks.append(chunk)
        return b"".join(chunks)

    def _oversized(self, operation: str, idempotent: bool) -> BadReply:
        what = f"{self.who} sent an oversized reply to {operation}"
        if not idempotent:  # it answered, so it received the action
            return unknown_outcome(what, account=self.account.name)
        return BadReply(f"{what}; nothing was changed.", account=self.account.name)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _auth_headers(auth: httpx.Auth, base: httpx.URL) -> dict[str, str]:
    """The headers a one-step ``httpx.Auth`` (basic, bearer) adds to every request; one
    that adds nothing up front (digest: it waits for a challenge) is refused."""
    probe = httpx.Request("GET", base)
    before = dict(probe.headers.items())
    sent = next(auth.sync_auth_flow(probe))
    added = {name: value for name, value in sent.headers.items() if before.get(name) != value}
    if not added:
        raise ValueError(f"{type(auth).__name__} needs a reply to authenticate; not supported")
    return added


def _worth_retrying(exc: ProviderError) -> bool:
    if isinstance(exc, RateLimited) and (exc.retry_after or 0) > MAX_RETRY_WAIT:
        return False  # blocking a read that long helps no one: say when to try again
    return exc.transient
