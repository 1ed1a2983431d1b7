"""Signed slash commands from an aiohttp client, as fast as the bot acks them.

Shared by the ack benchmark (``tests/perf/ack.py``) and the load test
(``tests/reliability/test_load.py``), which runs it in a process of its own so the load
generator and the bot do not share one event loop:

    python -m tests.reliability.loadgen --url URL --secret S --user U --channel C \\
        --response-base http://127.0.0.1:PORT/response --concurrency 200 --seconds 60 \\
        --text help --text "status t-4k7q" --text list

It prints one JSON line: the commands sent and acked by text, the errors, and the ack
latencies (seconds, from sending to having read the whole response).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import aiohttp

from bot.runtime.signed import SignedSlack, sign

__all__ = ["LoadResult", "closed_loop", "percentiles", "signed_command"]

Signed = tuple[bytes, dict[str, str]]
_NOWHERE = quote("http://127.0.0.1:9/response", safe="").encode()  # SignedSlack's default


def signed_command(
    slack: SignedSlack, text: str, *, user: str, channel: str, response_base: str | None = None
) -> Signed:
    """A slash command's body as Slack sends it, signed now; its response_url posts to
    ``response_base`` (e.g. a stand-in's ``.../response``) when given."""
    body = slack.command_body(text, user=user, channel=channel)
    if response_base is not None:
        body = body.replace(_NOWHERE, quote(response_base, safe="").encode())
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(slack.signing_secret, stamp, body),
    }
    return body, headers


@dataclass
class LoadResult:
    """What a load run sent and how fast each request was answered."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)  # by label (the command's text)
    acked: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)  # acked with the answer itself
    seconds: float = 0.0


async def closed_loop(
    url: str,
    next_request: Callable[[], tuple[str, Signed] | None],
    *,
    concurrency: int,
    seconds: float | None = None,
) -> LoadResult:
    """``concurrency`` workers, each sending its next request as soon as the last was
    answered, until ``next_request`` returns None or ``seconds`` have passed."""
    result = LoadResult()
    deadline = None if seconds is None else time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while deadline is None or time.perf_counter() < deadline:
                item = next_request()
                if item is None:
                    return
                label, (body, headers) = item
                result.sent[label] += 1
                began = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        content = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.errors.append(f"{label}: {type(exc).__name__}")
                    continue
                result.latencies.append(time.perf_counter() - began)
                if status == 200:
                    result.acked[label] += 1
                    if content:
                        result.answered[label] += 1
                else:
                    result.errors.append(f"{label}: HTTP {status}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50 and p99 (seconds) of ``latencies``, nearest rank."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p99": p99}


async def _run(args: argparse.Namespace) -> LoadResult:
    slack = SignedSlack(url=args.url, signing_secret=args.secret)
    texts = itertools.cycle(args.text)

    def next_request() -> tuple[str, Signed]:
        text = next(texts)
        signed = signed_command(
            slack, text, user=args.user, channel=args.channel, response_base=args.response_base
        )
        return text, signed

    return await closed_loop(
        args.url, next_request, concurrency=args.concurrency, seconds=args.seconds
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.loadgen")
    parser.add_argument("--url", required=True, help="the bot's /slack/events URL")
    parser.add_argument("--secret", required=True, help="the signing secret")
    parser.add_argument("--user", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--response-base", help="where response_urls point (.../response)")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--text", action="append", required=True, help="a command, in turn")
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args))
    found = {
        "latencies": result.latencies,
        "errors": result.errors,
        "sent": dict(result.sent),
        "acked": dict(result.acked),
        "answered": dict(result.answered),
        "seconds": result.seconds,
    }
    print(json.dumps(found, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
