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

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

from providers.settings import ProviderAccount

__all__ = ["HonestAiohttpTransport", "provider_transport"]

logger = logging.getLogger(__name__)


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


class _HonestStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except httpx.TransportError as exc:
            raise _honest(exc) from exc.__cause__

    async def aclose(self) -> None:
        await self._stream.aclose()


class HonestAiohttpTransport(AiohttpTransport):
    """``AiohttpTransport`` whose errors tell a refused connection from a dropped one.

    It sends as ``AiohttpTransport`` does, but hands aiohttp the request's raw headers
    instead of the ``httpx.Headers`` object (aiohttp reading that one name by name was a
    tenth of the watcher's CPU at top speed).
    """

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
                    timeout=aiohttp.ClientTimeout(
                        sock_connect=timeout.get("connect"),
                        sock_read=timeout.get("read"),
                        connect=timeout.get("pool"),
                    ),
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
            stream=_HonestStream(AiohttpResponseStream(response)),
            request=request,
            extensions=extensions,
        )


def provider_transport(account: ProviderAccount) -> httpx.AsyncBaseTransport:
    """A transport for one provider account: pooled to the account's concurrency."""
    connections = max(1, account.concurrency)
    return HonestAiohttpTransport(
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        trust_env=False,
    )
