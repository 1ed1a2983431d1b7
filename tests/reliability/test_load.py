"""Sustained load: 200 concurrent slash commands against the bot over HTTP on loopback.

The bot is the ``bot`` fixture (``bot.runtime.serve.http_app`` behind uvicorn, with the
simulators, the Slack stand-in and SQLite in this process); the load comes from an aiohttp
client in a process of its own (``tests/reliability/loadgen.py``), signed as Slack signs.
The mix is ``help`` (answered inside the ack), ``status`` of a watched transfer and
``list`` (both acked empty, then a provider call or a database read and a reply to the
response_url). Afterwards every status and list command must have had its reply, none
of them an error, and no error may have been logged. The CI variant runs 5 s: at this rate
the replies queued behind the acks take several times longer than the load to drain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

import pytest

from bot.slack.listeners.answers import OUR_FAULT
from tests.reliability.loadgen import percentiles
from tests.reliability.results import record
from tests.slack.conftest import ALICE, CHANNEL, SIGNING_SECRET, Bot

logger = logging.getLogger(__name__)

CONCURRENCY = 200
P99_TARGET_SECONDS = 1.0


async def run_load(bot: Bot, texts: list[str], seconds: float) -> dict[str, Any]:
    """Run the load generator against ``bot`` for ``seconds``; its JSON result."""
    args = [
        *("--url", bot.slack.url, "--secret", SIGNING_SECRET, "--user", ALICE),
        *("--channel", CHANNEL, "--response-base", f"{bot.standin.base_url}/response"),
        *("--concurrency", str(CONCURRENCY), "--seconds", str(seconds)),
        *(item for text in texts for item in ("--text", text)),
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.reliability.loadgen", *args, stdout=asyncio.subprocess.PIPE
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout=seconds + 90)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, "the load generator failed"
    return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "seconds", [5, pytest.param(60, marks=pytest.mark.slow)], ids=["5s", "60s"]
)
async def test_two_hundred_concurrent_commands_are_acked_fast_and_all_answered(
    bot: Bot, seconds: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ref = bot.sims["hostway"].add_transfer("load.example", script="moving", age=3600)
    short_id = await bot.watch("hostway-main", ref)
    texts = ["help", f"status {short_id}", "list"]
    replies_before = len(bot.standin.responses)

    result = await run_load(bot, texts, seconds)
    ended = time.perf_counter()
    await bot.services.drain(wait_seconds=300)  # every piece of after-ack work, to the end
    backlog = time.perf_counter() - ended

    acked = sum(result["acked"].values())
    figures = percentiles(result["latencies"])
    name = f"slash commands, {CONCURRENCY} concurrent for {seconds} s"
    note = (
        f"{CONCURRENCY} aiohttp workers in their own process sending help, status and list "
        "as soon as the last was acked, to the bot on loopback; ack latency from send to "
        "the whole response read."
    )
    record("load held", f"{name}: p50 ack", round(figures["p50"] * 1000, 1), "ms", note=note)
    record("load held", f"{name}: p99 ack", round(figures["p99"] * 1000, 1), "ms", note=note)
    record("load held", f"{name}: errors", len(result["errors"]), "errors", note=note)
    rate = round(acked / result["seconds"], 1)
    record("load held", f"{name}: requests per second", rate, "requests/s", note=note)

    answers = bot.standin.responses[replies_before:]  # (response_url id, body)
    replies = [body for _, body in answers]
    answered_urls = {response_id for response_id, _ in answers}  # a retried post counts once
    later = (f"status {short_id}", "list")  # acked at once, answered after the ack...
    busy = sum(result["answered"].get(text, 0) for text in later)  # ...unless turned away
    answered_later = sum(result["acked"][text] for text in later) - busy
    lost = answered_later - len(answered_urls)
    record("load held", f"{name}: replies lost after the ack", lost, "replies", note=note)
    record(
        "load held",
        f"{name}: replies posted twice",
        len(answers) - len(answered_urls),
        "replies",
        note="A response_url post retried by the Slack SDK after a dropped connection.",
    )
    record(
        "load held",
        f"{name}: turned away as busy, at once",
        busy,
        "requests",
        note="Status and list commands beyond the bot's backlog of work (AFTER_ACK_BACKLOG) "
        "are answered in the ack that it is too busy and nothing was done.",
    )
    record(
        "load held",
        f"{name}: last reply, after the load ended",
        round(backlog, 1),
        "s",
        note="Status and list replies queue behind the ack (16 at a time per app); the time "
        "from the last ack to the last reply.",
    )

    assert result["errors"] == []
    assert acked == sum(result["sent"].values()) and acked > CONCURRENCY
    assert figures["p99"] < P99_TARGET_SECONDS, figures
    assert lost == 0
    assert not [body for body in replies if OUR_FAULT in json.dumps(body)]
    shown = [json.dumps(body) for body in replies]
    status = f"status {short_id}"
    taken_on = result["acked"][status] - result["answered"].get(status, 0)
    assert sum("load.example" in text for text in shown) >= taken_on
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert problems == []
