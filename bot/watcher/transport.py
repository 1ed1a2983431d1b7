"""The HTTP transport provider clients use: httpx's API over aiohttp, with honest errors.

Measured with ``python -m tests.perf.watcher`` (see its output): at the watcher's
concurrency the ``httpx-aiohttp`` transport polls several times faster than httpx's
default one, so the registry should be built with ``transport_factory=provider_transport``.

``httpx_aiohttp`` maps every ``aiohttp.ClientConnectionError`` (a server that closed the
connection after reading the request included) to ``httpx.ConnectTimeout``, which
``providers.http`` reads as "the request never left". For an action that would be a lie:
it may have reached the provider. Here only a failure to connect stays a connect error;
a dropped connection becomes ``httpx.RemoteProtocolError`` and a read timeout
``httpx.ReadTimeout``, so an action that was cut off is reported as ``maybe_applied``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

from providers.settings import ProviderAccount

__all__ = ["HonestAiohttpTransport", "provider_transport"]

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 4.0  # below the 5 s after which many servers close an idle connection


def _honest(exc: httpx.TransportError) -> httpx.TransportError:
    """The httpx error that says what really happened to the request."""
    cause, words = exc.__cause__, str(exc)
    if cause is None:
        return exc
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(words)
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(words)
    if isinstance(cause, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(words)
    if isinstance(cause, aiohttp.ClientPayloadError):
        return httpx.ReadError(words)
    if isinstance(cause, aiohttp.ClientConnectionError):
        return httpx.RemoteProtocolError(f"connection dropped: {words}")
    return exc


class _Body(httpx.AsyncByteStream):
    """An aiohttp response's body as httpx reads it, with honest errors (one layer: the
    body of every poll passes through here)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            with map_aiohttp_exceptions():
                async for chunk in self._response.content.iter_any():
                    yield chunk
        except httpx.TransportError as exc:
            raise _honest(exc) from exc.__cause__

    async def aclose(self) -> None:
        with map_aiohttp_exceptions():
            await self._response.__aexit__(None, None, None)


class HonestAiohttpTransport(AiohttpTransport):
    """``AiohttpTransport`` whose errors tell a refused connection from a dropped one.

    It sends as ``AiohttpTransport`` does, but hands aiohttp the request's raw headers
    instead of the ``httpx.Headers`` object (aiohttp reading that one name by name was a
    tenth of the watcher's CPU at top speed), reuses one ``aiohttp.ClientTimeout`` per
    timeout and reads the body through one stream layer instead of two.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        cached = self._timeouts.get(key)
        if cached is None:
            cached = aiohttp.ClientTimeout(sock_connect=key[0], sock_read=key[1], connect=key[2])
            if len(self._timeouts) < 16:  # an account's calls share one or two
                self._timeouts[key] = cached
        return cached

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        data: bytes | httpx.AsyncByteStream | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:  # a streamed body: aiohttp frames it itself
            data = request.stream  # type: ignore[assignment]
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        try:
            with map_aiohttp_exceptions():
                response = await self.client.request(
                    method=request.method,
                    url=str(request.url),
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                    auto_decompress=False,
                    compress=False,
                    timeout=self._timeout(timeout),
                    server_hostname=request.extensions.get("sni_hostname"),
                    proxy=str(self.proxy.url) if self.proxy else None,
                    proxy_auth=aiohttp.BasicAuth(*self.proxy.auth)
                    if self.proxy and self.proxy.auth
                    else None,
                    proxy_headers=self.proxy.headers if self.proxy else None,
                ).__aenter__()
        except httpx.TransportError as exc:
            raise _honest(exc) from exc.__cause__
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions=extensions,
        )


def provider_transport(account: ProviderAccount) -> httpx.AsyncBaseTransport:
    """A transport for one provider account: pooled to the account's concurrency.

    An idle connection is reused for at most ``KEEPALIVE_SECONDS``. Many servers close
    an idle one after 5 s (Apache's and uvicorn's default), which was also httpx's
    expiry: a request sent on a connection the server was closing at that moment came
    back as a dropped connection (seen in the watcher benchmark, where reads are not
    retried). Expiring first leaves a second's margin.
    """
    connections = max(1, account.concurrency)
    return HonestAiohttpTransport(
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=KEEPALIVE_SECONDS,
        ),
        trust_env=False,
    )
