"""A bot with more work taken on than it can finish soon turns new work away with one plain
sentence at once, and still finishes what it took on: nothing accepted is left undone."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.provider_lanes import LANE_RUNNING, LANE_WAITING
from bot.runtime.serve import EVENTS_PATH, http_app
from bot.runtime.signed import SignedSlack
from bot.slack.app import build_app
from bot.slack.listeners.answers import BUSY, AfterAck
from providers.simulators.base import LoopbackServer
from tests.slack.conftest import ALICE, BOB, CHANNEL, SIGNING_SECRET, Bot

GET = "get_transfer_status"  # the Hostway simulator's name for a status read


async def test_a_busy_bot_says_so_at_once_and_finishes_what_it_took_on(bot: Bot) -> None:
    ref = bot.sims["hostway"].add_transfer("slow.example", script="moving", age=3600)
    short_id = await bot.watch("hostway-main", ref)
    hostway = bot.sims["hostway"]
    hostway.faults.add("latency", operation=GET, seconds=1.0, times=1)  # one slow status
    after_ack = AfterAck(bot.services, limit=1, backlog=1)
    app = build_app(bot.services, after_ack=after_ack)
    async with LoopbackServer(http_app(app, bot.services)) as url:
        slack = SignedSlack(
            url=f"{url}{EVENTS_PATH}", signing_secret=SIGNING_SECRET, standin=bot.standin
        )
        reads = hostway.faults.calls[GET]
        first = await slack.command(f"status {short_id}", user=ALICE, channel=CHANNEL)
        assert after_ack.busy  # the first is still waiting on Hostway
        second = await slack.command(f"status {short_id}", user=ALICE, channel=CHANNEL)
        cancel = await slack.command(f"cancel {short_id}", user=ALICE, channel=CHANNEL)
        await bot.settle()
    assert first.status_code == 200 and not first.content  # taken on: answered later
    for turned_away in (second, cancel):
        assert turned_away.status_code == 200 and turned_away.json()["text"] == BUSY
    assert hostway.faults.calls[GET] == reads + 1  # only the first reached Hostway
    [reply] = [e for e in bot.answers_to(ALICE)[-1:] if "slow.example" in bot.text_of(e)]
    assert "Hostway" in bot.text_of(reply)
    assert not after_ack.busy
    assert bot.channel(CHANNEL) == []  # no request was posted for the cancel


async def _called(calls: Any, operation: str, *, within: float = 20.0) -> None:
    """Wait (bounded) until the simulator has seen ``operation``."""
    for _ in range(int(within / 0.02)):
        if calls[operation]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{operation} was never called")


async def test_a_hanging_account_fills_only_its_own_lane_and_approvals_run_at_once(
    bot: Bot,
) -> None:
    """Hostway hangs under 40 status commands: an unrelated cPanel approval runs while
    Hostway still hangs, and the Hostway commands beyond its lane are answered at once."""
    hostway, cpanel = bot.sims["hostway"], bot.sims["cpanel"]
    ref = hostway.add_transfer("hang.example", script="moving", age=3600)
    hostway_id = await bot.watch("hostway-main", ref)
    session_id = cpanel.add_session("RUNNING", accounts=["shop"])
    cpanel_id = await bot.watch("whm-east", session_id)
    await bot.command(f"cancel {cpanel_id}", user=ALICE)  # cancel needs an approval
    request = bot.as_seen(bot.request_message())
    reads = hostway.faults.calls[GET]
    hostway.faults.add("hang", operation=GET, seconds=30, times=None)  # past the 2 s timeout

    burst = [bot.slack.command(f"status {hostway_id}", user=ALICE) for _ in range(40)]
    assert all(r.status_code == 200 for r in await asyncio.gather(*burst))
    await bot.slack.click("Approve", user=BOB, message=request, channel=CHANNEL)
    await _called(cpanel.faults.calls, "abort_transfer_session")
    reached_hostway = hostway.faults.calls[GET] - reads
    await bot.settle()

    lane = LANE_RUNNING + LANE_WAITING
    assert reached_hostway <= lane  # the approval did not wait for the hanging reads
    assert hostway.faults.calls[GET] - reads <= lane  # the rest never reached Hostway
    answers = [bot.text_of(e) for e in bot.answers_to(ALICE) if "hang.example" in bot.text_of(e)
               or "Hostway account" in bot.text_of(e)]  # fmt: skip
    at_once = [a for a in answers if "Hostway account `hostway-main` is" in a]
    assert len(at_once) >= 40 - lane
    assert len(bot.answers_to(ALICE)) >= 40  # every command answered, none lost
    assert f"Cancel of `{cpanel_id}` (1 account: shop) done" in bot.text_of(bot.last_answer(BOB))
    assert 'transferbot_work_refused_total{pool="commands",reason="provider"}' in (
        await bot.scrape()
    )


async def test_approvals_are_taken_on_while_commands_are_turned_away_as_busy(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    session_id = cpanel.add_session("RUNNING", accounts=["shop"])
    short_id = await bot.watch("whm-east", session_id)
    await bot.command(f"cancel {short_id}", user=ALICE)
    request = bot.as_seen(bot.request_message())
    hostway = bot.sims["hostway"]
    ref = hostway.add_transfer("slow.example", script="moving", age=3600)
    hostway_id = await bot.watch("hostway-main", ref)
    hostway.faults.add("latency", operation=GET, seconds=1.0)
    after_ack = AfterAck(bot.services, limit=1, backlog=1)
    app = build_app(bot.services, after_ack=after_ack)
    async with LoopbackServer(http_app(app, bot.services)) as url:
        slack = SignedSlack(
            url=f"{url}{EVENTS_PATH}", signing_secret=SIGNING_SECRET, standin=bot.standin
        )
        await slack.command(f"status {hostway_id}", user=ALICE, channel=CHANNEL)
        assert after_ack.busy  # commands are turned away now
        turned_away = await slack.command(f"status {hostway_id}", user=ALICE, channel=CHANNEL)
        await slack.click("Approve", user=BOB, message=request, channel=CHANNEL)
        await bot.settle()
    assert turned_away.json()["text"] == BUSY
    assert cpanel.faults.calls["abort_transfer_session"] == 1  # the approval was run
    assert BUSY not in [bot.text_of(e) for e in bot.answers_to(BOB)]
