"""A bot with more work taken on than it can finish soon turns new work away with one plain
sentence at once, and still finishes what it took on: nothing accepted is left undone."""

from __future__ import annotations

from bot.runtime.serve import EVENTS_PATH, http_app
from bot.runtime.signed import SignedSlack
from bot.slack.app import build_app
from bot.slack.listeners.answers import BUSY, AfterAck
from providers.simulators.base import LoopbackServer
from tests.slack.conftest import ALICE, CHANNEL, SIGNING_SECRET, Bot

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
