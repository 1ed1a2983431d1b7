"""``/transfer history <ref>``: one transfer's audit trail, through the real path."""

from __future__ import annotations

import re

from bot.actions.approvals import expire_due_requests
from bot.slack.ids import INPUT_ACTION_ID, input_block_id
from storage.audit import record_audit
from storage.transfers import get_transfer_by_short_id
from tests.slack.conftest import ALICE, BOB, CHANNEL, DAVE, ERIN, RIGHT_EPP, Bot
from tests.slack.test_approvals import ask_to_cancel


def _verbs(bot: Bot, user: str) -> list[str]:
    answer = bot.last_answer(user)
    raw = "\n".join(b["text"]["text"] for b in answer.blocks if b.get("type") == "section")
    lines = [line for line in raw.splitlines() if line.startswith("• ")]
    return [re.search(r"\*(\w+)\*", line).group(1) for line in lines]  # type: ignore[union-attr]


async def test_history_shows_who_did_what_oldest_first_in_slack_dates(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    short_id = await bot.watch("whm-east", cpanel.add_session("RUNNING", accounts=["shop"]))
    await bot.command(f"pause {short_id}", user=ALICE)

    await bot.command(f"history {short_id}", user=ERIN)  # an approver may look
    answer = bot.last_answer(ERIN)
    raw = "\n".join(b["text"]["text"] for b in answer.blocks if b.get("type") == "section")
    assert f"`{short_id}`" in raw
    lines = [line for line in raw.splitlines() if line.startswith("• ")]
    verbs = [re.search(r"\*(\w+)\*", line).group(1) for line in lines]  # type: ignore[union-attr]
    assert verbs == ["watched", "requested", "ran"]
    assert all(line.startswith("• <!date^") for line in lines)  # each reader's own time zone
    assert all(f"<@{ALICE}>" in line for line in lines)
    assert "History of" in answer.text


async def test_history_shows_a_request_that_expired_with_no_decision(bot: Bot) -> None:
    short_id, _ = await ask_to_cancel(bot)
    bot.now.advance(minutes=31)
    assert len(await expire_due_requests(bot.services)) == 1
    await bot.command(f"history {short_id}", user=ALICE)
    assert _verbs(bot, ALICE) == ["watched", "requested", "expired"]


async def test_history_escapes_what_the_audit_log_holds(bot: Bot) -> None:
    short_id = await bot.watch("whm-east", bot.sims["cpanel"].add_session("RUNNING"))
    async with bot.services.db.session() as session:
        row = await get_transfer_by_short_id(session, short_id=short_id)
        assert row is not None
        await record_audit(
            session, actor="watcher", verb="ran", transfer_id=row.id, detail="<!channel> hi"
        )
    await bot.command(f"history {short_id}", user=ALICE)
    raw = str(bot.last_answer(ALICE).blocks)
    assert "<!channel>" not in raw and "&lt;!channel&gt; hi" in raw


async def test_history_is_for_the_team_and_needs_a_transfer(bot: Bot) -> None:
    await bot.command("history", user=ALICE)
    assert "`/transfer history` needs a transfer" in bot.last_answer(ALICE).text
    await bot.command("history nobody.example", user=ALICE)
    assert "No tracked transfer answers to `nobody.example`" in bot.last_answer(ALICE).text
    await bot.command("history t-abcd", user=DAVE)
    assert "operators" in bot.last_answer(DAVE).text
    await bot.command("help", user=ALICE)
    assert "/transfer history" in bot.text_of(bot.last_answer(ALICE))


async def test_history_of_an_approved_retry_names_asker_and_approver_and_no_secret(
    bot: Bot,
) -> None:
    ref = bot.sims["hostway"].add_transfer(
        "wrong-epp.example", script="bad_auth", age=2 * 3600, correct_auth_info=RIGHT_EPP
    )
    short_id = await bot.watch("hostway-main", ref)
    await bot.command(f"retry {short_id}", user=ALICE)
    view = list(bot.standin.views.values())[-1]
    typed = {input_block_id("authInfo"): {INPUT_ACTION_ID: RIGHT_EPP}}
    await bot.slack.submit(values=typed, user=ALICE, view=view)
    await bot.settle()
    request = bot.as_seen(bot.request_message())
    await bot.click("Approve", user=BOB, message=request, channel=CHANNEL)

    await bot.command(f"history {ref}", user=BOB)
    assert _verbs(bot, BOB) == ["watched", "requested", "approved", "ran"]
    shown = str(bot.last_answer(BOB).blocks)
    assert f"<@{BOB}> *approved*" in shown and f"<@{ALICE}> *requested*" in shown
    assert RIGHT_EPP not in shown
