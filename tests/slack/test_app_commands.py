"""Every /transfer sub-command through the real path: signed HTTP in; stand-in, simulators out."""

from __future__ import annotations

from tests.slack.conftest import (
    ALICE,
    CHANNEL,
    DAVE,
    ERIN,
    RIGHT_EPP,
    Bot,
    button_labels,
)


def _blocked_hostway(bot: Bot, domain: str = "wrong-epp.example") -> str:
    return bot.sims["hostway"].add_transfer(
        domain, script="bad_auth", age=2 * 3600, correct_auth_info=RIGHT_EPP
    )


async def test_help_lists_only_what_the_person_may_do(bot: Bot) -> None:
    await bot.command("help", user=ALICE)
    operator = bot.text_of(bot.last_answer(ALICE))
    for word in ("status", "list", "watch", "unwatch", "sync", "pause", "cancel", "retry"):
        assert f"/transfer {word}" in operator
    assert "e.g. `/transfer pause" in bot.last_answer(ALICE).blocks[1]["text"]["text"]

    await bot.command("help", user=ERIN)  # an approver who is not an operator
    approver = bot.text_of(bot.last_answer(ERIN))
    assert "/transfer status" in approver and "/transfer list" in approver
    assert "/transfer pause" not in approver and "/transfer watch" not in approver
    assert "with the Approve and Reject buttons on each request" in approver  # their part
    assert "Approve" not in operator  # Alice is an operator only

    await bot.command("help", user=DAVE)
    assert "operators" in bot.last_answer(DAVE).text


async def test_help_is_answered_in_the_ack_when_no_lookup_is_needed(bot: Bot) -> None:
    await bot.command("help", user=ALICE)  # the user groups are read once, then cached
    calls = len(bot.standin.calls)
    response = await bot.command("help", user=ALICE)
    assert response.status_code == 200
    assert "/transfer pause" in response.json()["text"] + str(response.json()["blocks"])
    assert len(bot.standin.calls) == calls  # no Web API call and no response_url post


async def test_unknown_subcommand_says_what_can_be_done(bot: Bot) -> None:
    await bot.command("frobnicate example.com", user=ALICE)
    assert bot.last_answer(ALICE).text == (
        "`/transfer frobnicate` isn't a command; try `/transfer help`."
    )
    await bot.command("stauts example.com", user=ALICE)
    assert "try `/transfer status`" in bot.last_answer(ALICE).text


async def test_watch_shows_the_card_with_the_buttons_for_now(bot: Bot) -> None:
    ref = _blocked_hostway(bot)
    short_id = await bot.watch("hostway-main", ref)
    answer = bot.last_answer(ALICE)
    shown = bot.text_of(answer)
    assert f"Now watching `{short_id}`" in answer.text or "Now watching" in shown
    assert "blocked" in shown and "Hostway 32" in shown
    assert button_labels(answer) == ["Retry (reset)", "Refresh"]


async def test_watch_of_an_unknown_account_names_the_accounts(bot: Bot) -> None:
    await bot.command("watch nosuch example.com", user=ALICE)
    text = bot.last_answer(ALICE).text
    assert "There is no provider account 'nosuch'" in text
    assert "hostway-main" in text and "whm-east" in text


async def test_watch_of_a_transfer_the_provider_does_not_have(bot: Bot) -> None:
    await bot.command("watch hostway-main nothing-here.example", user=ALICE)
    text = bot.last_answer(ALICE).text.lower()
    assert "no transfer" in text or "not found" in text or "no such" in text


async def test_status_asks_the_provider_and_shows_its_words(bot: Bot) -> None:
    ref = _blocked_hostway(bot)
    short_id = await bot.watch("hostway-main", ref)
    reads = bot.sims["hostway"].faults.calls["get_transfer_status"]
    await bot.command(f"status {ref}", user=ALICE)
    answer = bot.last_answer(ALICE)
    assert bot.sims["hostway"].faults.calls["get_transfer_status"] == reads + 1
    assert short_id in bot.text_of(answer)
    assert "Invalid EPP/authorization key" in bot.text_of(answer)


async def test_status_of_an_untracked_ref_says_how_to_watch_it(bot: Bot) -> None:
    await bot.command("status nobody.example", user=ALICE)
    text = bot.last_answer(ALICE).text
    assert "No tracked transfer answers to `nobody.example`" in text
    assert "/transfer watch" in text


async def test_status_with_a_provider_down_shows_the_last_known_card(bot: Bot) -> None:
    short_id = await bot.watch("hostway-main", _blocked_hostway(bot))
    bot.sims["hostway"].faults.add("error", status=503, times=None)
    await bot.command(f"status {short_id}", user=ALICE)
    shown = bot.text_of(bot.last_answer(ALICE))
    assert "Last check failed" in shown and "blocked" in shown


async def test_an_ambiguous_ref_is_answered_with_a_choice(bot: Bot) -> None:
    domain = "twice.example"
    await bot.watch("hostway-main", bot.sims["hostway"].add_transfer(domain, age=3600))
    order = bot.sims["opensrs"].add_order(domain, script="waits_for_owner")
    await bot.watch("opensrs-main", order)
    await bot.command(f"status {domain}", user=ALICE)
    choice = bot.last_answer(ALICE)
    assert "More than one transfer answers" in bot.text_of(choice)
    labels = button_labels(choice)
    assert len(labels) == 2 and any("OpenSRS" in label for label in labels)
    opensrs_button = next(label for label in labels if "OpenSRS" in label)
    await bot.click(opensrs_button, user=ALICE, message={"blocks": choice.blocks}, channel=CHANNEL)
    card = bot.text_of(bot.last_answer(ALICE))
    assert f"ref `{order}`" in card and "OpenSRS" in card


async def test_sync_imports_what_providers_can_list_and_list_pages(bot: Bot) -> None:
    for n in range(25):
        bot.sims["opensrs"].add_order(f"bulk{n:02d}.example", age=3600)
    await bot.command("sync", user=ALICE)
    report = bot.last_answer(ALICE).text
    assert "opensrs-main: 25 new transfers now watched" in report
    assert "Hostway can't list its transfers" in report

    await bot.command("list opensrs", user=ALICE)
    first = bot.last_answer(ALICE)
    assert "page 1 of 2" in bot.text_of(first)
    assert len(first.blocks) <= 50
    assert "Next ▶" in button_labels(first)
    await bot.click("Next ▶", user=ALICE, message={"blocks": first.blocks}, channel=CHANNEL)
    second = bot.last_answer(ALICE)
    assert "page 2 of 2" in bot.text_of(second)
    assert button_labels(second).count("Open") == 5


async def test_unwatch_stops_tracking_and_says_so_twice(bot: Bot) -> None:
    short_id = await bot.watch("hostway-main", bot.sims["hostway"].add_transfer("a.example"))
    await bot.command(f"unwatch {short_id}", user=ALICE)
    assert "Stopped watching" in bot.last_answer(ALICE).text
    await bot.command("list", user=ALICE)
    assert short_id not in bot.text_of(bot.last_answer(ALICE))
    await bot.command(f"unwatch {short_id}", user=ALICE)
    assert "was not being watched" in bot.last_answer(ALICE).text
    assert ("U0ALICE", "unwatched") in await bot.audit()


async def test_pause_runs_at_once_for_an_operator_and_is_audited(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    short_id = await bot.watch("whm-east", cpanel.add_session("RUNNING", accounts=["shop"]))
    await bot.command(f"pause {short_id}", user=ALICE)
    answer = bot.last_answer(ALICE)
    assert cpanel.faults.calls["pause_transfer_session"] == 1
    assert answer.text.startswith(":white_check_mark: Pause of")
    assert bot.channel(CHANNEL) == []  # no approval request for pause
    assert [v for a, v in await bot.audit() if a == ALICE][-2:] == ["requested", "ran"]


async def test_resend_goes_by_its_provider_verb_too(bot: Bot) -> None:
    opensrs = bot.sims["opensrs"]
    short_id = await bot.watch(
        "opensrs-main", opensrs.add_order("o.example", script="waits_for_owner")
    )
    await bot.command(f"send_password {short_id}", user=ALICE)
    assert opensrs.faults.calls["SEND_PASSWORD"] == 1
    assert "Resend of" in bot.last_answer(ALICE).text


async def test_an_action_the_provider_lacks_says_what_can_be_done(bot: Bot) -> None:
    short_id = await bot.watch("hostway-main", _blocked_hostway(bot))
    await bot.command(f"pause {short_id}", user=ALICE)
    assert bot.last_answer(ALICE).text == (
        "Hostway transfers can't be paused; this one can be retried."
    )


async def test_an_action_the_state_does_not_allow_says_why(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    short_id = await bot.watch("whm-east", cpanel.add_session("COMPLETED"))
    await bot.command(f"abort {short_id}", user=ALICE)
    text = bot.last_answer(ALICE).text
    assert text.startswith(f"`{short_id}`") and "is completed" in text
    assert "so it can't be cancelled now; nothing can be done to this one right now." in text
    assert cpanel.faults.calls["abort_transfer_session"] == 0


async def test_an_action_needs_a_transfer(bot: Bot) -> None:
    await bot.command("cancel", user=ALICE)
    assert bot.last_answer(ALICE).text.startswith("`/transfer cancel` needs a transfer")


async def test_refresh_button_replaces_the_card(bot: Bot) -> None:
    short_id = await bot.watch("hostway-main", _blocked_hostway(bot))
    card = bot.last_answer(ALICE)
    reads = bot.sims["hostway"].faults.calls["get_transfer_status"]
    await bot.click("Refresh", user=ALICE, message={"blocks": card.blocks}, channel=CHANNEL)
    assert bot.sims["hostway"].faults.calls["get_transfer_status"] == reads + 1
    assert bot.standin.responses[-1][1].get("replace_original") is True
    assert short_id in bot.text_of(bot.last_answer(ALICE))


async def test_people_who_are_not_operators_are_refused_politely(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    session = cpanel.add_session("RUNNING", accounts=["shop"])
    short_id = await bot.watch("whm-east", session)
    await bot.command(f"pause {short_id}", user=DAVE)
    assert bot.last_answer(DAVE).text.startswith("Sorry, acting on transfers")
    await bot.command(f"pause {short_id}", user=ERIN)
    assert bot.last_answer(ERIN).text.startswith("Sorry, acting on transfers")
    card = bot.answers_to(ALICE)[-1]
    await bot.click("Pause", user=DAVE, message={"blocks": card.blocks}, channel=CHANNEL)
    assert bot.last_answer(DAVE).text.startswith("Sorry")
    assert cpanel.faults.calls["pause_transfer_session"] == 0


async def test_app_home_shows_blocked_first_and_only_to_the_team(bot: Bot) -> None:
    await bot.watch("hostway-main", bot.sims["hostway"].add_transfer("moving.example", age=60))
    blocked_id = await bot.watch("hostway-main", _blocked_hostway(bot))
    await bot.slack.home_opened(user=ALICE)
    await bot.settle()
    home = bot.standin.render_view(bot.standin.home[ALICE])
    assert home.index("Blocked") < home.index("Pending")
    assert blocked_id in home and "Retry (reset)" in home
    await bot.slack.home_opened(user=DAVE)
    await bot.settle()
    assert "Sorry" in bot.standin.render_view(bot.standin.home[DAVE])


async def test_a_home_click_acts_and_publishes_the_home_again(bot: Bot) -> None:
    cpanel = bot.sims["cpanel"]
    await bot.watch("whm-east", cpanel.add_session("RUNNING", accounts=["shop"]))
    await bot.slack.home_opened(user=ALICE)
    await bot.settle()
    view = bot.standin.home[ALICE]
    await bot.click("Pause", user=ALICE, view=view)
    assert cpanel.faults.calls["pause_transfer_session"] == 1
    assert bot.standin.home[ALICE]["id"] != view["id"]  # published again
    dm = bot.standin.channel(ALICE)  # no response_url in a view: a direct message
    assert dm and "Pause of" in dm[-1].text


async def _first_poll_in(bot: Bot, account: str, ref: str) -> float:
    from storage.transfers import get_transfer_by_ref

    async with bot.services.db.session() as session:
        row = await get_transfer_by_ref(session, account=account, ref=ref)
    assert row is not None and row.next_poll_at is not None
    return (row.next_poll_at - bot.now()).total_seconds()


async def test_a_newly_watched_transfer_is_polled_when_the_watcher_settings_say(bot: Bot) -> None:
    """The first poll follows the same adaptive interval as every later one: a moving
    transfer is looked at again after min_interval, within max_detection_delay (it was
    300 s whatever the configuration said)."""
    from bot.settings import WatcherSettings

    moving = bot.sims["hostway"].add_transfer("moving.example", script="moving", age=60)
    await bot.watch("hostway-main", moving)
    assert await _first_poll_in(bot, "hostway-main", moving) <= 15  # the default min_interval

    quick = WatcherSettings(
        min_interval_seconds=1, max_interval_seconds=10, max_detection_delay_seconds=5
    )
    bot.services.settings = bot.services.settings.model_copy(update={"watcher": quick})
    waiting = bot.sims["hostway"].add_transfer("waiting.example", script="bad_auth", age=3600)
    await bot.watch("hostway-main", waiting)
    assert await _first_poll_in(bot, "hostway-main", waiting) <= 10  # max_interval
