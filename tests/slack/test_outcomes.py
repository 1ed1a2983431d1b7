"""Where an action's outcome shows: the transfer's alert thread, and the /metrics counters."""

from __future__ import annotations

from bot.watcher.alerts import post_pending_alerts
from bot.watcher.poll import run_poll_pass
from tests.slack.conftest import ALERTS, ALICE, Bot, PostedMessage

BLOCKED = "REACHEDMAXMEM"  # cPanel: blocked, and can be resumed (no approval needed)


async def alert_thread(bot: Bot, session_id: str) -> PostedMessage:
    """The watcher sees the watched session block and starts its thread in the alert channel."""
    bot.sims["cpanel"].sessions[session_id].enter(BLOCKED, bot.sims["cpanel"].clock.now())
    bot.now.advance(hours=1)  # the transfer is due for a poll
    await run_poll_pass(bot.services)
    assert await post_pending_alerts(bot.services, pace=0) == 1
    [header] = bot.channel(ALERTS)
    assert [reply.text for reply in header.replies if "is stuck" in reply.text]
    return header


async def test_an_action_run_at_once_replies_in_the_transfers_alert_thread(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    session_id = cpanel.add_session("RUNNING", accounts=["shop"])
    short_id = await bot.watch("whm-east", session_id)
    header = await alert_thread(bot, session_id)
    replies = len(header.replies)

    await bot.command(f"resume {short_id}", user=ALICE)

    assert cpanel.faults.calls["start_transfer_session"] == 1
    assert bot.last_answer(ALICE).text.startswith(":white_check_mark: Resume of")
    [reply] = header.replies[replies:]
    assert reply.text.startswith(f":white_check_mark: Resume of `{short_id}` (1 account: shop)")
    assert "by <@U0ALICE> done:" in reply.text
    assert bot.channel(ALERTS) == [header]  # in the thread, not a new message


async def test_an_action_of_unknown_outcome_says_so_in_the_thread(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    session_id = cpanel.add_session("RUNNING", accounts=["shop"])
    short_id = await bot.watch("whm-east", session_id)
    header = await alert_thread(bot, session_id)
    replies = len(header.replies)
    cpanel.faults.add("error", operation="start_transfer_session", status=502)

    await bot.command(f"resume {short_id}", user=ALICE)

    [reply] = header.replies[replies:]
    assert reply.text.startswith(f":grey_question: Resume of `{short_id}` (1 account: shop)")
    assert "by <@U0ALICE>: outcome unknown." in reply.text


async def test_without_an_alert_thread_an_action_run_at_once_posts_nothing(bot: Bot) -> None:
    short_id = await bot.watch("whm-east", bot.sims["cpanel"].add_session("RUNNING"))
    await bot.command(f"pause {short_id}", user=ALICE)
    assert bot.last_answer(ALICE).text.startswith(":white_check_mark: Pause of")
    assert bot.channel(ALERTS) == []
    assert bot.standin.calls_to("chat.postMessage") == []
