"""Compare Bolt's two asyncio Socket Mode handlers: ``python -m tests.perf.socket_clients``.

Each handler (aiohttp, Bolt's default; websockets) connects a bare Bolt app whose command
listener only acks to the Slack stand-in in this process, then: 200 envelopes one at a time
and 1,000 ten at a time (envelope sent to ack received); five drops of the link (time until
Slack says hello on the new one); a ``refresh_requested`` in the middle of 50 envelopes (how
many had to be sent again). It prints one line per handler. The bot's choice and these
figures are in docs/production.md ("Socket Mode: the connection").
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.standin import SlackStandIn
from tests.perf.ack import socket_load
from tests.reliability.loadgen import percentiles

TOKEN, APP_TOKEN = "xoxb-benchmark-token", "xapp-1-benchmark-app-token"
COMMAND = {"command": "/transfer", "text": "help", "user_id": "U0BENCH", "trigger_id": "t"}
DROPS = 5


def _ms(latencies: list[float]) -> str:
    found = percentiles(latencies)
    return f"p50 {found['p50'] * 1000:.2f} / p99 {found['p99'] * 1000:.2f} ms"


async def measure(kind: str, ping_seconds: float) -> str:
    if kind == "aiohttp":
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
    else:
        from slack_bolt.adapter.socket_mode.websockets import (  # type: ignore[assignment]
            AsyncSocketModeHandler,
        )
    standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
    async with standin.serve() as url:
        client = AsyncWebClient(token=TOKEN, base_url=f"{url}/api/")
        app = AsyncApp(client=client, process_before_response=True)

        @app.command("/transfer")
        async def ack_only(ack: Any) -> None:
            await ack()

        handler = AsyncSocketModeHandler(app, APP_TOKEN, ping_interval=ping_seconds)
        await handler.connect_async()
        link = standin.socket_mode
        await link.wait_connected()
        one = await socket_load(link, [COMMAND] * 200, 1)
        ten = await socket_load(link, [COMMAND] * 1000, 10)
        reconnects = []
        for _ in range(DROPS):
            opened, started = link.opened, time.perf_counter()
            await link.drop()
            await link.wait_connected(opened=opened + 1, seconds=60)
            reconnects.append(time.perf_counter() - started)
        burst = [
            asyncio.create_task(
                link.deliver("slash_commands", COMMAND, accepts_response_payload=True)
            )
            for _ in range(50)
        ]
        await asyncio.sleep(0.005)
        await link.refresh()
        await asyncio.gather(*burst)
        again = sum(e.retry_attempt > 0 for e in link.envelopes[-50:])
        await handler.close_async()
    return (
        f"{kind:<10} ping {ping_seconds:g} s: 1 at a time {_ms(one)}; 10 at a time {_ms(ten)}; "
        f"new connection after a drop {min(reconnects):.2f}-{max(reconnects):.2f} s; "
        f"refresh in a burst of 50: {again} sent again"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.socket_clients")
    parser.add_argument("--ping", type=float, default=10.0, help="handlers' ping interval (s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    for kind in ("aiohttp", "websockets"):
        print(asyncio.run(measure(kind, args.ping)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
