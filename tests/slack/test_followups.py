"""A reminder's "Snooze until tomorrow", through Bolt's real request path: operators only,
audited, and no reminder or escalation until the day is over."""

from __future__ import annotations

from bot.watcher.alerts import post_pending_alerts
from bot.watcher.poll import run_poll_pass
from bot.watcher.reminders import run_reminder_pass
from tests.slack.conftest import ALERTS, ALICE, ERIN, Bot, PostedMessage, button_labels
from tests.slack.test_outcomes import blocked_in_its_thread


async def _tick(bot: Bot, hours: float) -> None:
    """What the watcher's tick does, ``hours`` later."""
    bot.now.advance(hours=hours)
    await run_poll_pass(bot.services)
    await run_reminder_pass(bot.services)
    await bot.settle()
    await post_pending_alerts(bot.services, pace=0)


def _followups(header: PostedMessage, bot: Bot) -> list[PostedMessage]:
    [header] = bot.channel(ALERTS)
    return [m for m in header.replies if m.text.startswith(("Reminder", "Escalation"))]


async def test_snooze_until_tomorrow_silences_reminders_for_a_day(bot: Bot) -> None:
    short_id, header, _ = await blocked_in_its_thread(bot)
    await _tick(bot, 0)  # the follow-up's clock starts
    await _tick(bot, 4.5)  # the default policy's first reminder, 4 h on
    [reminder] = _followups(header, bot)
    assert "Snooze until tomorrow" in button_labels(reminder)
    await bot.command(f"history {short_id}", user=ALICE)  # the audit trail says so
    assert "*reminded* Reminder:" in str(bot.last_answer(ALICE).blocks)

    await bot.click(
        "Snooze until tomorrow", user=ERIN, message=bot.as_seen(reminder), channel=ALERTS
    )
    assert "operators" in bot.last_answer(ERIN).text
    await bot.click(
        "Snooze until tomorrow", user=ALICE, message=bot.as_seen(reminder), channel=ALERTS
    )
    assert "snoozed until <!date^" in bot.last_answer(ALICE).text
    assert (ALICE, "snoozed") in await bot.audit()

    await _tick(bot, 20)  # 24.5 h stuck: the reminder at 1 d and the escalation are snoozed
    assert len(_followups(header, bot)) == 1
    await _tick(bot, 5)  # the snooze is over at 28.5 h; the next reminder slot is 2 d 4 h
    await _tick(bot, 24)
    texts = [m.text for m in _followups(header, bot)]
    assert len(texts) == 2 and texts[1].startswith(("Reminder", "Escalation"))


async def test_the_status_card_shows_the_providers_deadline(bot: Bot) -> None:
    hostway = bot.sims["hostway"]
    ref = hostway.add_transfer("held.example", script="bad_auth", age=2 * 3600)  # 32 for 1 h
    await bot.watch("hostway-main", ref)

    await bot.command(f"status {ref}", user=ALICE)

    card = bot.last_answer(ALICE)
    shown = str(card.blocks)
    assert "Voided in 60 days (<!date^" in shown  # Hostway holds a blocked transfer 60 days

    moving = hostway.add_transfer("moving.example", script="moving", age=20 * 60)
    await bot.watch("hostway-main", moving)
    await bot.command(f"status {moving}", user=ALICE)
    assert "Voided" not in str(bot.last_answer(ALICE).blocks)  # no clock, no deadline shown
