"""Owners of stuck transfers: "I'll take it", "Release", the thread header, ``/transfer mine``."""

from __future__ import annotations

from bot.watcher.alerts import post_pending_alerts
from bot.watcher.poll import run_poll_pass
from storage.transfers import get_transfer_by_short_id
from tests.slack.conftest import ALERTS, ALICE, CAROL, ERIN, Bot, PostedMessage, button_labels
from tests.slack.test_outcomes import blocked_in_its_thread


def _alert(header: PostedMessage) -> PostedMessage:
    return next(reply for reply in header.replies if "is stuck" in reply.text)


def _header_text(bot: Bot) -> str:
    [header] = bot.channel(ALERTS)
    return str(header.blocks)


async def _owner(bot: Bot, short_id: str) -> str | None:
    async with bot.services.db.session() as session:
        row = await get_transfer_by_short_id(session, short_id=short_id)
    assert row is not None
    return row.owner_id


async def test_take_shows_the_owner_in_the_header_and_release_clears_it(bot: Bot) -> None:
    short_id, header, _ = await blocked_in_its_thread(bot)
    alert = _alert(header)
    assert "I'll take it" in button_labels(alert) and "I'll take it" in button_labels(header)
    assert "Owned by" not in _header_text(bot)

    await bot.click("I'll take it", user=ALICE, message=bot.as_seen(alert), channel=ALERTS)

    assert await _owner(bot, short_id) == ALICE
    assert bot.last_answer(ALICE).text.startswith(f"You own `{short_id}` now")
    [header] = bot.channel(ALERTS)
    shown = _header_text(bot)
    assert f"Owned by <@{ALICE}> since <!date^" in shown
    assert "Release" in button_labels(header) and "I'll take it" not in button_labels(header)

    await bot.click("I'll take it", user=CAROL, message=bot.as_seen(alert), channel=ALERTS)
    assert await _owner(bot, short_id) == ALICE  # taken already: Carol is told by whom
    assert f"<@{ALICE}> has owned `{short_id}`" in bot.last_answer(CAROL).text

    await bot.click("Release", user=ALICE, message=bot.as_seen(header), channel=ALERTS)
    assert await _owner(bot, short_id) is None
    assert "Owned by" not in _header_text(bot)
    [header] = bot.channel(ALERTS)
    assert "I'll take it" in button_labels(header)
    verbs = [(actor, verb) for actor, verb in await bot.audit() if verb in ("owned", "released")]
    assert verbs == [(ALICE, "owned"), (ALICE, "released")]


async def test_only_operators_take_transfers_on(bot: Bot) -> None:
    short_id, header, _ = await blocked_in_its_thread(bot)
    await bot.click("I'll take it", user=ERIN, message=bot.as_seen(_alert(header)), channel=ALERTS)
    assert await _owner(bot, short_id) is None
    assert "operators" in bot.last_answer(ERIN).text


async def test_mine_lists_what_i_own(bot: Bot) -> None:
    await bot.command("mine", user=ALICE)
    assert bot.last_answer(ALICE).text == "You own no transfers."
    short_id, header, _ = await blocked_in_its_thread(bot)
    await bot.click("I'll take it", user=ALICE, message=bot.as_seen(_alert(header)), channel=ALERTS)

    await bot.command("mine", user=ALICE)
    answer = bot.last_answer(ALICE)
    assert answer.text == "You own 1 transfer"
    assert short_id in str(answer.blocks) and "yours since <!date^" in str(answer.blocks)
    await bot.command("mine", user=CAROL)
    assert bot.last_answer(CAROL).text == "You own no transfers."
    await bot.command("help", user=ALICE)
    assert "/transfer mine" in bot.text_of(bot.last_answer(ALICE))


async def test_the_owner_is_let_go_when_the_transfer_leaves_blocked(bot: Bot) -> None:
    short_id, header, _ = await blocked_in_its_thread(bot)
    await bot.click("I'll take it", user=ALICE, message=bot.as_seen(_alert(header)), channel=ALERTS)
    assert await _owner(bot, short_id) == ALICE

    await bot.command(f"resume {short_id}", user=ALICE)  # running again: no longer blocked
    bot.now.advance(hours=1)
    await run_poll_pass(bot.services)
    await post_pending_alerts(bot.services, pace=0)
    await bot.settle()

    assert await _owner(bot, short_id) is None
    assert "Owned by" not in _header_text(bot)
    assert ("watcher", "released") in await bot.audit()
    await bot.command("mine", user=ALICE)
    assert bot.last_answer(ALICE).text == "You own no transfers."
