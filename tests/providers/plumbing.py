"""ASGI plumbing and traps the provider and XML-attack tests share.

``read_body``/``replay`` let a wrapper in front of a simulator read a request and still pass
it on; ``FileWatch`` and ``Canary`` catch a parser that opens a file or a connection.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest


async def read_body(receive: Any) -> bytes:
    """The whole body of an ASGI request, however many messages it came in."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def replay(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    """An ASGI ``receive`` that hands the app a body already read."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class FileWatch:
    """Linux inotify on one file: was it opened or read while we watched?"""

    def __init__(self, path: Path) -> None:
        if not sys.platform.startswith("linux"):
            pytest.skip("inotify is Linux only")
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, str(path).encode(), 0x20 | 0x01) < 0:
            pytest.skip("inotify is not available here")

    def touched(self) -> bool:
        try:
            return bool(os.read(self.fd, 4096))
        except BlockingIOError:
            return False

    def close(self) -> None:
        os.close(self.fd)


class Canary:
    """A loopback listener that counts every connection made to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self.url = ""

    async def __aenter__(self) -> Canary:
        async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(count, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()
