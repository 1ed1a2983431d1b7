"""A Gandi v5 transfer from Slack: its card shows the FOA, resend runs at once, relaunch asks."""

from __future__ import annotations

from bot.slack.ids import INPUT_ACTION_ID, input_block_id
from providers.base import Phase
from storage.transfers import get_transfer_by_ref
from tests.slack.conftest import ALICE, BOB, CHANNEL, PROVIDER_SECRET, Bot, button_labels

ACCOUNT = "gandi5-main"


async def test_the_card_shows_the_foa_and_resend_runs_at_once_from_its_button(bot: Bot) -> None:
    sim = bot.sims["gandi_v5"]
    ref = sim.add_transfer("foa-example.com", story="foa_pending", age=3600)
    await bot.watch(ACCOUNT, ref)
    card = bot.last_answer(ALICE)
    shown = bot.text_of(card)
    assert "owner@example.org" in shown and "not answered yet" in shown
    assert "Resend (FOA e-mail)" in button_labels(card)

    await bot.click(
        "Resend (FOA e-mail)", user=ALICE, message={"blocks": card.blocks}, channel=CHANNEL
    )
    assert sim.faults.calls["transferin.foa"] == 1
    assert sim.transfers[ref].foas[0].sent == 2
    assert "Resend of" in bot.last_answer(ALICE).text
    assert bot.channel(CHANNEL) == []  # no approval request: it runs at once for operators
    assert PROVIDER_SECRET not in bot.standin.transcript()


async def test_resend_and_its_foa_alias_go_by_command(bot: Bot) -> None:
    sim = bot.sims["gandi_v5"]
    ref = sim.add_transfer(
        "foa-example.com", story="foa_pending", age=3600, answer_after_resend=None
    )
    short_id = await bot.watch(ACCOUNT, ref)
    await bot.command(f"resend {short_id}", user=ALICE)
    bot.now.advance(seconds=60)  # past the double-click guard: asked again on purpose
    await bot.command(f"foa {short_id}", user=ALICE)
    assert sim.faults.calls["transferin.foa"] == 2
    assert sim.transfers[ref].foas[0].sent == 3


async def test_cancel_and_sync_say_plainly_what_v5_lacks(bot: Bot) -> None:
    sim = bot.sims["gandi_v5"]
    short_id = await bot.watch(ACCOUNT, sim.add_transfer("foa-example.com", story="foa_pending"))
    await bot.command(f"cancel {short_id}", user=ALICE)
    assert bot.last_answer(ALICE).text.startswith("Gandi (v5) transfers can't be cancelled")
    await bot.command(f"sync {ACCOUNT}", user=ALICE)
    assert "Gandi (v5) can't list its transfers" in bot.last_answer(ALICE).text
    assert sim.faults.calls.get("transferin.foa", 0) == 0


async def test_relaunch_with_a_new_authinfo_needs_approval_then_runs(bot: Bot) -> None:
    sim = bot.sims["gandi_v5"]
    ref = sim.add_transfer(
        "code-example.com", story="authorization_error", age=200, authinfo="Old-Code-1111",
        right_authinfo="New-Code-2222",
    )  # fmt: skip
    short_id = await bot.watch(ACCOUNT, ref)
    await bot.command(f"relaunch {short_id}", user=ALICE)
    form = list(bot.standin.views.values())[-1]
    assert "authinfo" in str(form)
    typed = {input_block_id("authinfo"): {INPUT_ACTION_ID: "New-Code-2222"}}
    await bot.slack.submit(values=typed, user=ALICE, view=form)
    await bot.settle()
    assert sim.transfers[ref].history == []  # asked, not yet approved
    request = bot.request_message()
    await bot.click("Approve", user=BOB, message=bot.as_seen(request), channel=CHANNEL)
    assert sim.transfers[ref].history == ["authinfo", "relaunch"]
    transcript = bot.standin.transcript()
    assert "New-Code-2222" not in transcript and PROVIDER_SECRET not in transcript
    async with bot.services.db.session() as session:
        row = await get_transfer_by_ref(session, account=ACCOUNT, ref=ref)
    assert row is not None and row.phase != Phase.BLOCKED.value
