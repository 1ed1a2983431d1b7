"""[[routes]] end to end: the watcher's alerts reach the channel the first matching rule
names (by account, provider, phase or a pattern on the subject), the default channel when
none matches, and a transfer's thread stays where it started. Simulators and the Slack
stand-in on loopback, a real database, a stepped clock."""

from __future__ import annotations

from typing import Any

import pytest

from bot.runtime.slack_messages import PostedMessage
from bot.settings import RouteRule, WatcherSettings
from tests.watcher.conftest import CHANNEL, Rig, watcher_settings

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

ACME = "C0ACME"  # one customer's domains
WHM = "C0WHM"  # everything on the cPanel account
GANDI = "C0GANDI"  # every Gandi transfer
DONE = "C0DONE"  # whatever completes


@pytest.fixture
def routes() -> tuple[RouteRule, ...]:
    rules: list[dict[str, Any]] = [
        {"channel": ACME, "subject": r"(^|\.)acme\.example$", "policy": "acme"},
        {"channel": WHM, "account": "cpanel-test", "phase": ["active", "paused"]},
        {"channel": GANDI, "provider": "gandi"},
        {"channel": DONE, "phase": "completed"},
    ]
    return tuple(RouteRule.model_validate(rule) for rule in rules)


@pytest.fixture
def watcher_config() -> WatcherSettings:
    # a cPanel copy running for an hour is stuck: its stall alert (phase active) comes first
    return watcher_settings(stall_after={"default": "7d", "cpanel:RUNNING": "1h"})


def threads_in(rig: Rig, channel: str) -> list[PostedMessage]:
    return [
        m
        for m in rig.standin.channel(channel)
        if rig.standin.metadata.get(m.ts, {}).get("event_type") == "transferbot_thread"
    ]


def everything_posted(rig: Rig) -> dict[str, int]:
    channels = (CHANNEL, ACME, WHM, GANDI, DONE)
    return {c: len(rig.standin.channel(c)) for c in channels if rig.standin.channel(c)}


async def test_a_subject_pattern_sends_one_customers_domains_to_their_channel(rig: Rig) -> None:
    hostway = rig.sims["hostway"]
    ours = hostway.add_transfer("shop.acme.example", script="bad_auth", age=40 * MINUTE)
    other = hostway.add_transfer("notacme.example", script="bad_auth", age=40 * MINUTE)
    for ref in (ours, other):
        await rig.watch("hostway", ref)
    await rig.step(0)
    await rig.step(25 * MINUTE)  # both blocked now (code 32)

    [acme] = threads_in(rig, ACME)
    assert "shop.acme.example" in acme.text and "notacme" not in acme.text
    [alert] = acme.replies
    assert "stuck" in alert.text
    [default] = threads_in(rig, CHANNEL)  # 'notacme.example' matches no rule
    assert "notacme.example" in default.text and len(default.replies) == 1
    assert everything_posted(rig) == {ACME: 1, CHANNEL: 1}


async def test_an_account_rule_and_a_provider_rule_each_take_their_transfers(rig: Rig) -> None:
    cpanel = rig.sims["cpanel"]
    slow = cpanel.add_session(script=[(0, "RUNNING")], accounts=["slowcopy"])
    await rig.watch("cpanel", slow)
    ref = rig.sims["gandi"].add_operation("moving.example", story="completes")
    await rig.watch("gandi", ref)
    await rig.step(0)
    for _ in range(3):
        await rig.step(30 * MINUTE)

    [whm] = threads_in(rig, WHM)  # stalled while running: account cpanel-test, phase active
    assert slow in whm.text
    assert any("has not moved" in reply.text for reply in whm.replies)
    assert threads_in(rig, CHANNEL) == []
    await rig.step(DAY)
    [at_gandi] = threads_in(rig, GANDI)  # completed, but the provider rule comes first
    assert "moving.example" in at_gandi.text
    assert "completed" in at_gandi.replies[0].text.lower()
    assert threads_in(rig, DONE) == [] and threads_in(rig, CHANNEL) == []


async def test_a_phase_rule_routes_a_new_thread_but_never_moves_one(rig: Rig) -> None:
    cpanel = rig.sims["cpanel"]
    quick = cpanel.add_session(
        script=[(0, "RESTORE_PENDING"), (30 * MINUTE, "COMPLETED")], accounts=["quick"]
    )
    stuck = cpanel.add_session(script=[(0, "RUNNING"), (3 * HOUR, "COMPLETED")], accounts=["stuck"])
    for ref in (quick, stuck):
        await rig.watch("cpanel", ref)
    await rig.step(0)
    for _ in range(5):
        await rig.step(30 * MINUTE)

    # 'quick' completed with no thread yet: the phase rule sends its thread to DONE
    [done] = threads_in(rig, DONE)
    assert quick in done.text
    assert "completed" in done.replies[0].text.lower()
    # 'stuck' stalled while running first: its thread began in WHM...
    [whm] = threads_in(rig, WHM)
    assert stuck in whm.text and len(whm.replies) == 1
    for _ in range(4):
        await rig.step(30 * MINUTE)
    # ...and its completion, which the phase rule would send to DONE, stays in that thread
    assert len(whm.replies) == 2 and "completed" in whm.replies[1].text.lower()
    assert len(threads_in(rig, DONE)) == 1 and len(done.replies) == 1
    assert everything_posted(rig) == {DONE: 1, WHM: 1}
    delivered = rig.standin.delivered()
    assert set(delivered.values()) == {1}  # each alert exactly once


async def test_nothing_matching_goes_to_the_default_channel(rig: Rig) -> None:
    ref = rig.sims["opensrs"].add_order("plain.example", script="waits_for_owner")
    await rig.watch("opensrs", ref)
    await rig.step(0)
    for _ in range(10):  # it stalls after 7 days (the default)
        await rig.step(DAY)
    [thread] = threads_in(rig, CHANNEL)
    assert "plain.example" in thread.text
    assert "has not moved" in thread.replies[0].text
    assert everything_posted(rig) == {CHANNEL: 1}


async def test_many_alerts_at_once_are_summarised_in_the_channel_they_are_routed_to(
    rig: Rig,
) -> None:
    hostway = rig.sims["hostway"]
    for i in range(7):
        await rig.watch("hostway", hostway.add_transfer(f"s{i}.acme.example", script="bad_auth"))
    for i in range(2):
        await rig.watch("hostway", hostway.add_transfer(f"o{i}.example", script="bad_auth"))
    await rig.step(0)
    await rig.step(HOUR)  # all nine blocked at once

    [summary] = rig.standin.channel(ACME)  # the seven acme ones: one summary, in ACME
    assert rig.standin.metadata[summary.ts]["event_type"] == "transferbot_summary"
    assert all(f"s{i}.acme.example" in str(summary.replies) for i in range(7))
    assert len(threads_in(rig, CHANNEL)) == 2  # the two others, one thread each
    assert set(rig.standin.delivered().values()) == {1}


async def test_a_routed_channel_the_bot_is_not_in_keeps_the_alert_until_it_is_invited(
    rig: Rig,
) -> None:
    rig.standin.not_joined.add(GANDI)
    ref = rig.sims["gandi"].add_operation("waiting.example", story="quick")
    await rig.watch("gandi", ref)
    await rig.step(0)
    await rig.step(2 * MINUTE)  # completed: routed to GANDI, where Slack says not_in_channel
    assert rig.standin.channel(GANDI) == [] and rig.standin.channel(CHANNEL) == []
    refused = [c.error for c in rig.standin.calls_to("chat.postMessage")]
    assert refused and set(refused) == {"not_in_channel"}

    rig.standin.not_joined.discard(GANDI)  # someone invites the bot
    await rig.step(MINUTE)
    [thread] = threads_in(rig, GANDI)
    assert "waiting.example" in thread.text or ref in thread.text
    assert "completed" in thread.replies[0].text.lower()
    assert set(rig.standin.delivered().values()) == {1}
