"""The loopback server that serves the simulators (and the Slack stand-in) in the demo, the
integration tests and ``transferbot simulate``."""

from __future__ import annotations

import signal

import httpx

from providers.simulators.base import LoopbackServer


async def hello(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


async def test_servers_leave_ctrl_c_to_the_process_whatever_order_they_stop_in() -> None:
    """The demo runs five servers in one process. uvicorn would put its own Ctrl-C handler in
    place while each runs, and servers stopped first-started-first would leave the process
    with a stopped server's handler, so Ctrl-C would no longer stop it."""
    before = signal.getsignal(signal.SIGINT)
    servers = [LoopbackServer(hello) for _ in range(3)]
    urls = [await server.start() for server in servers]
    try:
        async with httpx.AsyncClient() as client:
            assert [(await client.get(url)).text for url in urls] == ["hello"] * 3
        assert signal.getsignal(signal.SIGINT) == before
    finally:
        for server in servers:  # first started, first stopped
            await server.stop()
    assert signal.getsignal(signal.SIGINT) == before
