"""Where an action's outcome shows: the transfer's alert thread, and the /metrics counters."""

from __future__ import annotations

from typing import Any

import pytest

from bot.actions.approvals import expire_due_requests
from bot.watcher.alerts import post_pending_alerts
from bot.watcher.poll import run_poll_pass
from tests.runtime.test_metrics import value
from tests.slack.conftest import ALERTS, ALICE, BOB, Bot, PostedMessage
from tests.slack.test_mrkdwn import mrkdwn_texts

BLOCKED = "REACHEDMAXMEM"  # cPanel: blocked, and can be resumed (no approval needed)


async def blocked_in_its_thread(
    bot: Bot, *, account: str = "shop"
) -> tuple[str, PostedMessage, int]:
    """A running cPanel session of ``account``, watched; the watcher sees it block and starts
    its thread in the alert channel: (short id, the thread's header, its replies so far)."""
    cpanel = bot.sims["cpanel"]
    session_id = cpanel.add_session("RUNNING", accounts=[account])
    short_id = await bot.watch("whm-east", session_id)
    cpanel.sessions[session_id].enter(BLOCKED, cpanel.clock.now())
    bot.now.advance(hours=1)  # the transfer is due for a poll
    await run_poll_pass(bot.services)
    assert await post_pending_alerts(bot.services, pace=0) == 1
    [header] = bot.channel(ALERTS)
    assert [reply.text for reply in header.replies if "is stuck" in reply.text]
    return short_id, header, len(header.replies)


async def test_an_action_run_at_once_replies_in_the_transfers_alert_thread(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    short_id, header, replies = await blocked_in_its_thread(bot)

    await bot.command(f"resume {short_id}", user=ALICE)

    assert cpanel.faults.calls["start_transfer_session"] == 1
    assert bot.last_answer(ALICE).text.startswith(":white_check_mark: Resume of")
    [reply] = header.replies[replies:]
    assert reply.text.startswith(f":white_check_mark: Resume of `{short_id}` (1 account: shop)")
    assert "by <@U0ALICE> done:" in reply.text
    assert bot.channel(ALERTS) == [header]  # in the thread, not a new message


async def test_an_action_of_unknown_outcome_says_so_in_the_thread(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    short_id, header, replies = await blocked_in_its_thread(bot)
    cpanel.faults.add("error", operation="start_transfer_session", status=502)

    await bot.command(f"resume {short_id}", user=ALICE)

    [reply] = header.replies[replies:]
    assert reply.text.startswith(f":grey_question: Resume of `{short_id}` (1 account: shop)")
    assert "by <@U0ALICE>: outcome unknown." in reply.text


async def test_an_approved_actions_outcome_replies_in_its_request_and_the_alert_thread(
    bot: Bot,
) -> None:
    cpanel = bot.sims["cpanel"]
    short_id, header, replies = await blocked_in_its_thread(bot)
    await bot.command(f"cancel {short_id}", user=ALICE)  # cancel needs an approval
    request = bot.request_message()

    await bot.click("Approve", user=BOB, message=bot.as_seen(request))

    assert cpanel.faults.calls["abort_transfer_session"] == 1
    [in_request] = bot.request_message().replies
    [in_alerts] = header.replies[replies:]
    assert in_request.text == in_alerts.text
    assert "asked by <@U0ALICE>, approved by <@U0BOB>" in in_alerts.text
    assert bot.channel(ALERTS) == [header]  # the request stayed where it was asked


async def test_without_an_alert_thread_an_action_run_at_once_posts_nothing(bot: Bot) -> None:
    short_id = await bot.watch("whm-east", bot.sims["cpanel"].add_session("RUNNING"))
    await bot.command(f"pause {short_id}", user=ALICE)
    assert bot.last_answer(ALICE).text.startswith(":white_check_mark: Pause of")
    assert bot.channel(ALERTS) == []
    assert bot.standin.calls_to("chat.postMessage") == []


ACTIONS, REQUESTS = "transferbot_actions_total", "transferbot_requests_total"


def request_counts(text: str) -> dict[str, float | None]:
    states = ("pending", "approved", "rejected", "expired", "running", "done", "unknown")
    return {state: value(text, REQUESTS, state=state) for state in states}


async def ask_to_cancel(bot: Bot) -> dict[str, Any]:
    """A running cPanel session, watched, and Alice's request to cancel it (needs approval)."""
    short_id = await bot.watch("whm-east", bot.sims["cpanel"].add_session("RUNNING"))
    await bot.command(f"cancel {short_id}", user=ALICE)
    return bot.as_seen(bot.request_message())


async def test_metrics_count_an_action_run_at_once_and_its_request(bot: Bot) -> None:
    before = await bot.scrape()
    assert value(before, ACTIONS, action="pause", outcome="done") == 0
    short_id = await bot.watch("whm-east", bot.sims["cpanel"].add_session("RUNNING"))

    await bot.command(f"pause {short_id}", user=ALICE)
    await bot.command(f"pause {short_id}", user=ALICE)  # a double click: refused, not counted

    text = await bot.scrape()
    assert value(text, ACTIONS, action="pause", outcome="done") == 1
    assert value(text, ACTIONS, action="pause", outcome="failed") == 0
    assert request_counts(text) == {
        **dict.fromkeys(("approved", "rejected", "expired", "unknown"), 0),
        "pending": 1,
        "running": 1,
        "done": 1,
    }


async def test_metrics_count_approved_rejected_and_expired_requests(bot: Bot) -> None:
    await bot.click("Approve", user=BOB, message=await ask_to_cancel(bot))
    await bot.click("Reject", user=BOB, message=await ask_to_cancel(bot))
    await ask_to_cancel(bot)
    bot.now.advance(hours=1)
    await expire_due_requests(bot.services)

    text = await bot.scrape()
    assert request_counts(text) == {
        "pending": 3,
        "approved": 1,
        "rejected": 1,
        "expired": 1,
        "running": 1,
        "done": 1,
        "unknown": 0,
    }
    assert value(text, ACTIONS, action="cancel", outcome="done") == 1  # the rejected: none


async def test_metrics_count_an_unknown_outcome(bot: Bot) -> None:
    bot.sims["cpanel"].faults.add("error", operation="abort_transfer_session", status=502)
    await bot.click("Approve", user=BOB, message=await ask_to_cancel(bot))

    text = await bot.scrape()
    assert value(text, ACTIONS, action="cancel", outcome="unknown") == 1
    assert value(text, ACTIONS, action="cancel", outcome="done") == 0
    assert value(text, REQUESTS, state="unknown") == 1


@pytest.mark.parametrize("slack_overrides", [{"dry_run": True}])
async def test_metrics_count_a_dry_run_apart(bot: Bot) -> None:
    await bot.click("Approve", user=BOB, message=await ask_to_cancel(bot))

    text = await bot.scrape()
    assert value(text, ACTIONS, action="cancel", outcome="dry_run") == 1
    assert value(text, ACTIONS, action="cancel", outcome="done") == 0


async def test_an_account_name_from_the_provider_never_pings_the_channel(bot: Bot) -> None:
    """A cPanel account named like markup: the outcome lines in the request's thread and the
    alert thread show it as text; no @channel, no disguised link."""
    hostile = "<!channel> <https://evil.example|click here>"
    short_id, header, replies = await blocked_in_its_thread(bot, account=hostile)
    await bot.command(f"cancel {short_id}", user=ALICE)

    await bot.click("Approve", user=BOB, message=bot.as_seen(bot.request_message()))

    [in_request] = bot.request_message().replies
    [in_alerts] = header.replies[replies:]
    for reply in (in_request, in_alerts):
        assert "<!channel>" not in reply.text
        assert "<https://evil.example" not in reply.text
        assert "&lt;!channel&gt; &lt;https://evil.example|click here&gt;" in reply.text
        assert "asked by <@U0ALICE>, approved by <@U0BOB>" in reply.text  # ours stay mentions
    for answer in bot.answers_to(ALICE) + bot.answers_to(BOB):  # as sent, not as rendered
        for text in mrkdwn_texts((answer.text, answer.blocks)):
            assert "<!channel>" not in text
