"""An approval request asked for in a direct message goes where the transfer's alerts go
(its route, or its thread's channel), through the signed request path."""

from __future__ import annotations

import pytest

from bot.settings import RouteRule
from tests.slack.conftest import ALERTS, ALICE, Bot, button_labels

WHM = "C0WHM"
DIRECT = "D0ALICE"  # a direct message with the bot: no place to ask an approver


@pytest.fixture
def routes() -> tuple[RouteRule, ...]:
    return (RouteRule(channel=WHM, account=("whm-east",)),)


async def test_a_request_asked_in_a_direct_message_goes_to_the_routed_channel(bot: Bot) -> None:
    session = bot.sims["cpanel"].add_session("RUNNING", accounts=["shop"])
    short_id = await bot.watch("whm-east", session)
    await bot.command(f"cancel {short_id}", user=ALICE, channel=DIRECT)

    [request] = bot.channel(WHM)
    assert "asks to cancel" in request.text and "shop" in request.text
    assert "Approve" in button_labels(request)
    assert bot.channel(ALERTS) == [] and bot.channel(DIRECT) == []


async def test_an_unrouted_transfers_request_goes_to_the_default_channel(bot: Bot) -> None:
    ref = bot.sims["opensrs"].add_order("plain.example", script="waits_for_owner")
    short_id = await bot.watch("opensrs-main", ref)
    await bot.command(f"cancel {short_id}", user=ALICE, channel=DIRECT)

    assert bot.channel(WHM) == []
    [request] = bot.channel(ALERTS)
    assert "asks to cancel" in request.text and "plain.example" in request.text
