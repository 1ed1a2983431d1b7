"""The aiohttp transport tells a refused connection from a dropped one, so an action cut off
after it was sent is reported as maybe applied, never as "not sent"."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from httpx_aiohttp import AiohttpTransport

from bot.watcher.transport import provider_transport
from providers.errors import TimedOut, Unavailable
from providers.http import ProviderHTTP
from providers.settings import ProviderAccount


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))


@pytest.fixture
async def dropping_server() -> AsyncIterator[str]:
    """Reads each request in full, then closes the connection without a word."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """Reads each request in full and never answers."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(30)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def account(base_url: str) -> ProviderAccount:
    return ProviderAccount(
        name="hostway-test",
        type="hostway",
        base_url=base_url,
        secret_env="UNUSED",
        account_number="acct1",
        timeout=0.5,
        read_retries=0,
    )


async def send_action(base_url: str, transport: object) -> Unavailable:
    http = ProviderHTTP(account(base_url), transport=transport)  # type: ignore[arg-type]
    try:
        with pytest.raises(Unavailable) as caught:
            await http.request(
                "PUT", "/accounts/acct1/domains/transfers/x.example", idempotent=False,
                operation="reset", json={"authInfo": "whatever"},
            )  # fmt: skip
    finally:
        await http.aclose()
    return caught.value


async def test_an_action_whose_connection_drops_may_have_been_applied(
    dropping_server: str,
) -> None:
    error = await send_action(dropping_server, provider_transport(account(dropping_server)))
    assert error.maybe_applied and "dropped the connection" in error.message


async def test_the_bare_aiohttp_transport_would_say_it_never_left(dropping_server: str) -> None:
    """Why the wrapper exists: upstream maps the drop to ConnectTimeout."""
    error = await send_action(dropping_server, AiohttpTransport())
    assert not error.maybe_applied


async def test_an_action_without_an_answer_may_have_been_applied(silent_server: str) -> None:
    error = await send_action(silent_server, provider_transport(account(silent_server)))
    assert isinstance(error, TimedOut) and error.maybe_applied


async def test_a_refused_connection_never_reached_the_provider() -> None:
    url = closed_port()
    error = await send_action(url, provider_transport(account(url)))
    assert not error.maybe_applied and "Could not connect" in error.message
