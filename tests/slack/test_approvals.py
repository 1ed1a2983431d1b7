"""The approval lifecycle through Slack: ask, approve, reject, withdraw, expire, and run once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.actions.approvals import expire_due_requests
from storage.models import ActionRequest, RequestState, TrackedTransfer
from storage.requests import list_requests, transition_request
from storage.transfers import get_transfer_by_ref
from tests.slack.conftest import (
    ALICE,
    APPROVERS_GROUP,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    ERIN,
    Bot,
    a_resend_redelivered,
    button_labels,
)
from tests.waiting import until

ABORT = "abort_transfer_session"


async def ask_to_cancel(bot: Bot, *, user: str = ALICE) -> tuple[str, dict[str, Any]]:
    """A running cPanel session, watched, and a request to cancel it posted in the channel."""
    session = bot.sims["cpanel"].add_session("RUNNING", accounts=["shop", "blog"])
    short_id = await bot.watch("whm-east", session, user=ALICE)
    await bot.command(f"cancel {short_id}", user=user)
    return short_id, bot.as_seen(bot.request_message())


async def requests(bot: Bot) -> list[ActionRequest]:
    async with bot.services.db.session() as session:
        return await list_requests(session, limit=100)


async def approved_then_died(bot: Bot, request: ActionRequest) -> None:
    """``request`` approved by Bob, as if the process died before its run started."""
    async with bot.services.db.session() as session:
        await transition_request(
            session,
            request_id=request.id or 0,
            from_states=(RequestState.PENDING,),
            to_state=RequestState.APPROVED,
            decided_by=BOB,
            decided_at=bot.now(),
        )


def aborts(bot: Bot) -> int:
    return bot.sims["cpanel"].faults.calls[ABORT]


async def test_approve_runs_the_action_updates_the_request_and_replies_in_its_thread(
    bot: Bot,
) -> None:
    short_id, message = await ask_to_cancel(bot)
    shown = bot.text_of(bot.request_message())
    assert "@U0ALICE asks to cancel (abort)" in shown.replace("<@U0ALICE>", "@U0ALICE")
    assert short_id in shown and "Waiting for an approver other than" in shown
    assert button_labels(message) == ["Approve", "Reject", "Withdraw"]
    assert "Asked for approval in" in bot.last_answer(ALICE).text
    assert aborts(bot) == 0

    await bot.click("Approve", user=BOB, message=message)

    assert aborts(bot) == 1
    message = bot.request_message()
    assert message.edited and button_labels(message) == []
    assert "Done" in bot.text_of(message)
    assert len(message.replies) == 1 and "Cancel of" in message.replies[0].text
    assert "asked by <@U0ALICE>, approved by <@U0BOB> done:" in message.replies[0].text
    assert "done" in bot.last_answer(BOB).text
    trail = await bot.audit()
    assert (ALICE, "requested") in trail and (BOB, "approved") in trail and (BOB, "ran") in trail
    assert [r.state for r in await requests(bot)] == [RequestState.DONE.value]


async def test_reject_does_nothing_and_later_clicks_are_told_so(bot: Bot) -> None:
    _, message = await ask_to_cancel(bot)
    await bot.click("Reject", user=BOB, message=message)
    assert "Rejected by" in bot.text_of(bot.request_message())
    await bot.click("Approve", user=CAROL, message=message)
    assert "already rejected" in bot.last_answer(CAROL).text
    assert aborts(bot) == 0
    assert (BOB, "rejected") in await bot.audit()


async def test_only_the_requester_withdraws(bot: Bot) -> None:
    _, message = await ask_to_cancel(bot)
    await bot.click("Withdraw", user=BOB, message=message)
    assert bot.last_answer(BOB).text == "Only <@U0ALICE>, who asked, can withdraw this request."
    await bot.click("Withdraw", user=ALICE, message=message)
    assert "Withdrawn by" in bot.text_of(bot.request_message())
    await bot.click("Approve", user=BOB, message=message)
    assert "withdrawn" in bot.last_answer(BOB).text
    assert aborts(bot) == 0


async def test_a_request_expires_and_can_no_longer_be_approved(bot: Bot) -> None:
    _, message = await ask_to_cancel(bot)
    bot.now.advance(minutes=29)
    assert await expire_due_requests(bot.services) == []
    bot.now.advance(minutes=2)
    assert len(await expire_due_requests(bot.services)) == 1
    assert "Expired without a decision" in bot.text_of(bot.request_message())
    await bot.click("Approve", user=BOB, message=message)
    assert "expired" in bot.last_answer(BOB).text
    assert aborts(bot) == 0
    assert ("system", "expired") in await bot.audit()


async def test_an_overdue_request_expires_when_clicked_before_the_sweep(bot: Bot) -> None:
    _, message = await ask_to_cancel(bot)
    bot.now.advance(minutes=31)
    await bot.click("Approve", user=BOB, message=message)
    assert "expired" in bot.last_answer(BOB).text
    assert "Expired" in bot.text_of(bot.request_message())
    assert aborts(bot) == 0


async def test_nobody_approves_their_own_request(bot: Bot) -> None:
    _, message = await ask_to_cancel(bot, user=CAROL)  # CAROL is an operator and an approver
    await bot.click("Approve", user=CAROL, message=message)
    assert bot.last_answer(CAROL).text == (
        "You can't approve your own request; another approver has to."
    )
    assert aborts(bot) == 0
    await bot.click("Approve", user=BOB, message=message)
    assert aborts(bot) == 1


async def test_only_approvers_decide(bot: Bot) -> None:
    _, message = await ask_to_cancel(bot)
    for user in (DAVE, ALICE):  # nobody; the requester (an operator, not an approver)
        await bot.click("Approve", user=user, message=message)
    assert bot.last_answer(DAVE).text.startswith("Sorry, only the configured approvers")
    assert "can't approve your own request" in bot.last_answer(ALICE).text
    await bot.click("Reject", user=DAVE, message=message)
    assert bot.last_answer(DAVE).text.startswith("Sorry, only the configured approvers")
    assert "Waiting for an approver" in bot.text_of(bot.request_message())
    assert aborts(bot) == 0


async def test_twenty_concurrent_approve_clicks_run_the_action_once(bot: Bot) -> None:
    _, message = await ask_to_cancel(bot)
    clicks = [
        bot.slack.click("Approve", user=BOB if n % 2 else CAROL, message=message, channel=CHANNEL)
        for n in range(20)
    ]
    responses = await asyncio.gather(*clicks)
    await bot.settle()
    assert [r.status_code for r in responses] == [200] * 20
    assert aborts(bot) == 1
    verbs = [verb for _, verb in await bot.audit()]
    assert verbs.count("approved") == 1 and verbs.count("ran") == 1
    told = [a.text for a in bot.answers_to(BOB) + bot.answers_to(CAROL)]
    assert len(told) == 20
    assert sum("done" in text and "already" not in text for text in told) == 1
    assert len(bot.request_message().replies) == 1


async def test_a_redelivered_click_or_command_runs_nothing_twice(bot: Bot) -> None:
    _, message = await ask_to_cancel(bot)
    click = bot.slack.click_body(
        {**_button(message, "Approve")}, user=BOB, message=message, channel=CHANNEL
    )
    await bot.slack.post(click)
    await bot.settle()
    await bot.slack.post(click, retry_num=1)
    await bot.settle()
    assert aborts(bot) == 1
    assert "has run already" in bot.last_answer(BOB).text

    # an action the transfer still offers afterwards: only the database can tell a repeat
    opensrs, short_id = await a_resend_redelivered(bot)
    await bot.command(f"resend {short_id}", user=ALICE)  # asked again on purpose: it runs
    assert opensrs.faults.calls["SEND_PASSWORD"] == 2


async def test_a_double_click_on_an_immediate_action_runs_it_once(bot: Bot) -> None:
    session = bot.sims["cpanel"].add_session("RUNNING", accounts=["shop"])
    await bot.watch("whm-east", session)
    card = bot.last_answer(ALICE)
    clicks = [
        bot.slack.click("Pause", user=ALICE, message={"blocks": card.blocks}, channel=CHANNEL)
        for _ in range(2)
    ]
    await asyncio.gather(*clicks)
    await bot.settle()
    assert bot.sims["cpanel"].faults.calls["pause_transfer_session"] == 1


async def test_a_resubmitted_opensrs_order_is_followed(bot: Bot) -> None:
    opensrs = bot.sims["opensrs"]
    order = opensrs.add_order("stuck.example", script="owner_declines", age=6 * 86400)
    short_id = await bot.watch("opensrs-main", order)
    await bot.command(f"resubmit {short_id}", user=ALICE)
    await bot.click("Approve", user=BOB, message=bot.as_seen(bot.request_message()))
    assert opensrs.faults.calls["PROCESS_TRANSFER"] == 1
    new_order = opensrs.orders[order].superseded_by
    assert new_order is not None
    async with bot.services.db.session() as session:
        old = await get_transfer_by_ref(session, account="opensrs-main", ref=order)
        new = await get_transfer_by_ref(session, account="opensrs-main", ref=new_order)
    assert isinstance(old, TrackedTransfer) and isinstance(new, TrackedTransfer)
    assert new.watching and not old.watching and old.superseded_by_id == new.id
    await bot.command(f"status {short_id}", user=ALICE)
    assert f"Superseded by `{new.short_id} ({new_order})`" in bot.text_of(bot.last_answer(ALICE))


async def test_an_action_that_may_have_applied_is_unknown_and_never_rerun(bot: Bot) -> None:
    bot.sims["cpanel"].faults.add("error", operation=ABORT, status=502)
    _, message = await ask_to_cancel(bot)
    await bot.click("Approve", user=BOB, message=message)
    assert aborts(bot) == 1
    assert "Outcome unknown" in bot.text_of(bot.request_message())
    assert "outcome unknown" in bot.request_message().replies[0].text
    bot.now.advance(hours=1)
    await expire_due_requests(bot.services)
    await bot.click("Approve", user=CAROL, message=message)
    assert "outcome is unknown" in bot.last_answer(CAROL).text
    assert aborts(bot) == 1


async def test_a_run_cut_short_by_a_crash_is_marked_unknown_never_rerun(bot: Bot) -> None:
    bot.sims["cpanel"].faults.add("hang", operation=ABORT, seconds=5)
    _, message = await ask_to_cancel(bot)
    await bot.slack.click("Approve", user=BOB, message=message, channel=CHANNEL)
    await until(lambda: aborts(bot) == 1, seconds=5, step=0.02)
    await bot.services.drain(wait_seconds=0.1)  # the process dies mid-call
    assert [r.state for r in await requests(bot)] == [RequestState.RUNNING.value]

    await expire_due_requests(bot.services)  # a restart soon after: not yet presumed dead
    assert [r.state for r in await requests(bot)] == [RequestState.RUNNING.value]
    bot.now.advance(minutes=11)
    await expire_due_requests(bot.services)
    assert [r.state for r in await requests(bot)] == [RequestState.UNKNOWN.value]
    shown = bot.request_message()
    assert "Outcome unknown" in bot.text_of(shown) and shown.replies
    assert aborts(bot) == 1
    assert ("system", "unknown") in await bot.audit()


@pytest.mark.parametrize("slack_overrides", [{"dry_run": True}])
async def test_dry_run_records_and_reports_but_sends_nothing(bot: Bot) -> None:
    _, message = await ask_to_cancel(bot)
    assert "Dry run" in bot.text_of(bot.request_message())
    await bot.click("Approve", user=BOB, message=message)
    assert aborts(bot) == 0
    assert "nothing was sent to the provider" in bot.text_of(bot.request_message())
    assert (BOB, "dry_run") in await bot.audit()


@pytest.mark.parametrize("slack_overrides", [{"approval_required": ("pause",)}])
async def test_which_actions_need_approval_is_configuration(bot: Bot) -> None:
    session = bot.sims["cpanel"].add_session("RUNNING", accounts=["shop"])
    short_id = await bot.watch("whm-east", session)
    await bot.command(f"pause {short_id}", user=ALICE)
    assert "asks to *pause*" in str(bot.request_message().blocks)
    await bot.command(f"cancel {short_id}", user=ALICE)  # no longer needs anyone
    assert aborts(bot) == 1


def _button(message: dict[str, Any], label: str) -> dict[str, Any]:
    from bot.runtime.signed import find_button

    return find_button(message["blocks"], label)


async def test_an_approval_whose_run_never_started_is_run_once_at_recovery(bot: Bot) -> None:
    await ask_to_cancel(bot)
    (request,) = await requests(bot)
    await approved_then_died(bot, request)
    await expire_due_requests(bot.services)  # too soon: its approver may be starting it
    assert aborts(bot) == 0
    bot.now.advance(minutes=2)
    await expire_due_requests(bot.services)
    await expire_due_requests(bot.services)
    assert aborts(bot) == 1
    assert [r.state for r in await requests(bot)] == [RequestState.DONE.value]
    assert "Done" in bot.text_of(bot.request_message())


async def test_a_run_left_by_a_crash_is_unknown_once_no_run_could_still_be_going(
    bot: Bot,
) -> None:
    """A run is bounded by its account's timeout (2 s here) and lane: a minute after a
    kill -9 the request says its outcome is unknown, not "running now" for ten minutes."""
    bot.sims["cpanel"].faults.add("hang", operation=ABORT, seconds=5)
    _, message = await ask_to_cancel(bot)
    await bot.slack.click("Approve", user=BOB, message=message, channel=CHANNEL)
    await until(lambda: aborts(bot) == 1, seconds=5, step=0.02)
    await bot.services.drain(wait_seconds=0.1)  # the process dies mid-call

    bot.now.advance(minutes=1)
    await expire_due_requests(bot.services)

    assert [r.state for r in await requests(bot)] == [RequestState.UNKNOWN.value]
    assert "check the transfer" in bot.text_of(bot.request_message())
    assert aborts(bot) == 1


async def test_an_approval_past_its_expiry_is_never_run_at_recovery(bot: Bot) -> None:
    short_id, _ = await ask_to_cancel(bot)
    (request,) = await requests(bot)
    await approved_then_died(bot, request)
    bot.now.advance(days=2)  # the bot comes back two days later

    await expire_due_requests(bot.services)
    await expire_due_requests(bot.services)

    assert aborts(bot) == 0
    assert [r.state for r in await requests(bot)] == [RequestState.EXPIRED.value]
    [reply] = bot.request_message().replies
    assert f"Cancel of `{short_id}`" in reply.text and "past its expiry" in reply.text
    assert "nothing was done" in reply.text
    assert "Approved by @U0BOB, but the bot stopped before running it" in bot.text_of(
        bot.request_message()
    )
    assert ("system", "expired") in await bot.audit()


async def test_someone_just_removed_from_the_approvers_group_can_no_longer_approve(
    bot: Bot,
) -> None:
    """Group members are cached for a minute for reading, but every decision asks Slack
    afresh: a removal bites at the next click, on every replica."""
    _, message = await ask_to_cancel(bot)
    await bot.command("help", user=CAROL)  # Carol's roles are cached as an approver
    bot.standin.user_groups[APPROVERS_GROUP] = [ERIN]  # then she leaves the group

    await bot.click("Approve", user=CAROL, message=message)

    assert aborts(bot) == 0
    assert "approver" in bot.text_of(bot.last_answer(CAROL))
    assert [r.state for r in await requests(bot)] == [RequestState.PENDING.value]
