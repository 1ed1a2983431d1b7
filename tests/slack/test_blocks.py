"""The Block Kit builders on plain data: what people see, the buttons they get, Slack's limits."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.runtime.slack_messages import blocks_problem
from bot.slack.alerts import (
    AlertKind,
    alert_message,
    outage_message,
    recovered_message,
    summary_message,
    thread_header,
)
from bot.slack.blocks import Owner, Row, clip, slack_date
from bot.slack.cards import (
    HELP_TOPICS,
    choice_message,
    help_message,
    transfer_card,
    transfer_list,
)
from bot.slack.home import app_home
from bot.slack.ids import (
    ActionKind,
    CallbackId,
    ListPage,
    ModalContext,
    RequestButton,
    TransferAct,
    TransferChoice,
    TransferRef,
    input_block_id,
    parse_button,
)
from bot.slack.mrkdwn import group_mention
from bot.slack.parsing import parse_command
from bot.slack.requests import (
    RequestCard,
    RequestState,
    action_inputs_modal,
    modal_errors,
    modal_values,
    request_message,
)
from providers.base import (
    Action,
    ActionInput,
    ActionSpec,
    HistoryEntry,
    Phase,
    Transfer,
    mask_secret,
)

SECRET = "auth123$000"  # the seed's authInfo: must never reach a block
AUTHINFO = ActionInput(
    "authinfo",
    "New authInfo",
    secret=True,
    min_length=6,
    max_length=16,
    hint="Ask the losing registrar for it.",
)
RESET = ActionSpec(Action.RETRY, "reset", (AUTHINFO,))
CHANGED = datetime(2014, 3, 25, 11, 15, 11, tzinfo=timezone(timedelta(hours=-5)))  # the seed's


def hostway_blocked(**changes: Any) -> Transfer:
    """The Hostway seed's transfer, stuck on code 32 (invalid authInfo)."""
    transfer = Transfer(
        account="hostway-main",
        provider="hostway",
        ref="test.com",
        subject="test.com",
        phase=Phase.BLOCKED,
        raw_code="32",
        raw_text="Canceled - Invalid EPP/authorization key - Please contact current registrar "
        "to obtain correct key",
        actions=(RESET,),
        changed_at=CHANGED,
        history=(
            HistoryEntry(CHANGED - timedelta(days=2), "14", "Domain transfer initiated"),
            HistoryEntry(CHANGED, "32", "Canceled - Invalid EPP/authorization key"),
        ),
        waiting_for="a correct authInfo from the losing registrar",
        details={"emailAddress": "joshbond@usa.net", "authInfo": mask_secret(SECRET)},
    )
    return replace(transfer, **changes)


def cpanel_running() -> Transfer:
    return Transfer(
        account="whm-east",
        provider="cpanel",
        ref="exampleservercopya20140206192428NtyW",
        subject="accounts bob, carol",
        phase=Phase.ACTIVE,
        raw_code="RUNNING",
        raw_text="running",
        actions=(
            ActionSpec(Action.PAUSE, "pause"),
            ActionSpec(Action.CANCEL, "abort", destructive=True),
        ),
    )


def gandi_completed() -> Transfer:
    return Transfer(
        account="gandi-main",
        provider="gandi",
        ref="31337",
        subject="done.org",
        phase=Phase.COMPLETED,
        raw_code="DONE",
        raw_text="",
    )


# -- a valid Slack message, checked independently of the builders -------------------------------
def texts_of(node: Any) -> list[str]:
    """Every string anywhere in the blocks."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, Mapping):
        return [t for v in node.values() for t in texts_of(v)]
    if isinstance(node, Sequence):
        return [t for v in node for t in texts_of(v)]
    return []


def buttons_of(blocks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                found.append(element)
    return found


def assert_valid_message(text: str, blocks: list[dict[str, Any]], *, limit: int = 50) -> None:
    assert text and len(text) <= 40_000
    assert len(blocks) <= limit
    assert blocks_problem(blocks, limit=limit) is None
    for block in blocks:
        assert Block.parse(block).to_dict() == block  # the SDK's own validation passes
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields") or []:
            assert len(field["text"]) <= 2000
    for text_ in [text, *mrkdwn_of(blocks)]:  # no accidental links: only our own markup
        for inner in re.findall(r"<([^<>]*)>", text_):
            assert inner.startswith(("@U", "!date^", "!subteam^", "#C")), inner
    for button in buttons_of(blocks):
        assert len(button["text"]["text"]) <= 75
        assert len(button.get("value", "")) <= 2000
        assert parse_button(button["action_id"], button["value"]) is not None


# -- the status card -----------------------------------------------------------------------------
def test_card_shows_provider_subject_phase_and_the_providers_own_words() -> None:
    text, blocks = transfer_card(hostway_blocked(), short_id="t-4k7q")
    assert_valid_message(text, blocks)
    shown = "\n".join(texts_of(blocks))
    assert "*blocked* · Hostway 32 “Canceled - Invalid EPP/authorization key" in shown
    assert "hostway-main" in shown and "test.com" in shown and "t-4k7q" in shown
    assert "Waiting for a correct authInfo from the losing registrar." in shown
    assert "joshbond@usa.net" in shown
    assert "test.com" in text and "blocked" in text and "32" in text


def test_card_times_use_slacks_date_formatting() -> None:
    _, blocks = transfer_card(hostway_blocked(), short_id="t-4k7q", polled_at=CHANGED)
    shown = "\n".join(texts_of(blocks))
    expected = "<!date^1395764111^{date_short_pretty} {time}|2014-03-25 16:15 UTC>"
    assert expected in shown
    assert slack_date(CHANGED) == expected
    assert slack_date(datetime(2014, 3, 25, 16, 15, 11)) == expected  # naive means UTC


def test_card_history_is_newest_first_and_at_most_five() -> None:
    history = tuple(
        HistoryEntry(CHANGED + timedelta(hours=i), str(i), f"step number {i}") for i in range(9)
    )
    _, blocks = transfer_card(hostway_blocked(history=history), short_id="t-4k7q")
    shown = "\n".join(texts_of(blocks))
    steps = [int(n) for n in re.findall(r"step number (\d)", shown)]
    assert steps == [8, 7, 6, 5, 4]
    assert "… and 4 earlier" in shown


def test_card_buttons_are_exactly_the_actions_available_now_plus_refresh() -> None:
    _, blocks = transfer_card(cpanel_running(), short_id="t-aaaa")
    buttons = {b["text"]["text"]: b for b in buttons_of(blocks)}
    assert set(buttons) == {"Pause", "Cancel (abort)", "Refresh"}
    assert parse_button(buttons["Pause"]["action_id"], buttons["Pause"]["value"]) == TransferAct(
        "t-aaaa", Action.PAUSE
    )
    assert buttons["Refresh"]["action_id"] == "transfer.refresh:t-aaaa"
    assert "confirm" not in buttons["Pause"]

    _, blocks = transfer_card(hostway_blocked(), short_id="t-4k7q")
    labels = [b["text"]["text"] for b in buttons_of(blocks)]
    assert labels == ["Retry (reset)", "Refresh"]
    assert buttons_of(blocks)[0]["style"] == "primary"  # the way out of blocked


def test_destructive_buttons_are_red_and_ask_first() -> None:
    _, blocks = transfer_card(cpanel_running(), short_id="t-aaaa")
    cancel = next(b for b in buttons_of(blocks) if b["text"]["text"] == "Cancel (abort)")
    assert cancel["style"] == "danger"
    confirm = cancel["confirm"]
    assert confirm["title"]["text"] == "Cancel this transfer?"
    assert "accounts bob, carol" in confirm["text"]["text"]
    assert confirm["confirm"]["text"] == "Yes, cancel"


def test_finished_or_read_only_cards_offer_nothing_to_do() -> None:
    _, blocks = transfer_card(gandi_completed(), short_id="t-done")
    assert [b["text"]["text"] for b in buttons_of(blocks)] == ["Refresh"]
    _, blocks = transfer_card(hostway_blocked(), short_id="t-4k7q", buttons=False)
    assert buttons_of(blocks) == []
    _, blocks = transfer_card(hostway_blocked(), short_id="t-4k7q", superseded_by="t-new1")
    assert buttons_of(blocks) == []
    assert "Superseded by `t-new1`" in "\n".join(texts_of(blocks))


def test_card_notes_stall_and_last_error() -> None:
    _, blocks = transfer_card(
        hostway_blocked(),
        short_id="t-4k7q",
        stalled_since=CHANGED,
        last_error="The provider did not answer in time; try again in a few minutes.",
    )
    shown = "\n".join(texts_of(blocks))
    assert "No change since <!date^" in shown
    assert "Last check failed: The provider did not answer in time" in shown


def mrkdwn_of(node: Any) -> list[str]:
    """The texts Slack formats (mrkdwn), where ``<!channel>`` or a link would take effect."""
    if isinstance(node, Mapping):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for v in node.values() for t in mrkdwn_of(v)]
    if isinstance(node, list):
        return [t for v in node for t in mrkdwn_of(v)]
    return []


def test_provider_words_cannot_inject_mentions_or_links() -> None:
    evil = "<!channel> pay <http://evil.example|here> & now"
    transfer = hostway_blocked(raw_text=evil, subject="<@U999>.com", waiting_for=evil)
    messages = [
        transfer_card(transfer, short_id="t-4k7q", last_error=evil),
        transfer_list([("t-4k7q", transfer, False)], page=1, pages=1),
        choice_message([("t-4k7q", transfer)], ref=evil),
        alert_message(AlertKind.BLOCKED, transfer, short_id="t-4k7q"),
        thread_header(transfer, short_id="t-4k7q", last_error=evil),
        summary_message([(AlertKind.BLOCKED, "t-4k7q", transfer)]),
        outage_message("whm-east", CHANGED, evil),
        request_message(
            replace(
                request(RequestState.FAILED),
                transfer=transfer,
                result_message=evil,
                inputs={"note": evil},
            )
        ),
    ]
    for text, blocks in messages:
        formatted = [text, *mrkdwn_of(blocks)]  # the fallback text is mrkdwn too
        for piece in ("<!channel>", "<http://evil", "<@U999>"):
            assert not any(piece in t for t in formatted), (piece, text)
    shown = "\n".join(mrkdwn_of(messages[0][1]))
    assert "&lt;!channel&gt; pay &lt;http://evil.example|here&gt; &amp; now" in shown


def test_huge_history_and_descriptions_still_give_a_valid_message() -> None:
    history = tuple(
        HistoryEntry(CHANGED + timedelta(minutes=i), str(i), "x" * 500) for i in range(500)
    )
    big = "Ü" * 10_000
    transfer = hostway_blocked(
        history=history,
        raw_text=big,
        subject="s" * 10_000,
        waiting_for=big,
        details={f"key{i}": big for i in range(30)},
        ref="r" * 5_000,
        actions=tuple(ActionSpec(a, "v" * 200, description=big) for a in Action),
    )
    text, blocks = transfer_card(
        transfer, short_id="t-4k7q", last_error=big, stalled_since=CHANGED, polled_at=CHANGED
    )
    assert_valid_message(text, blocks)
    assert len(text) <= 1000


# -- lists, help, choices -------------------------------------------------------------------------
def test_list_is_one_line_per_transfer_with_paging_that_keeps_filters() -> None:
    rows = [Row("t-4k7q", hostway_blocked(), True), ("t-aaaa", cpanel_running(), False)]
    text, blocks = transfer_list(rows, page=2, pages=3, provider="hostway", phase=Phase.BLOCKED)
    assert_valid_message(text, blocks)
    shown = "\n".join(texts_of(blocks))
    assert "page 2 of 3" in shown and "stalled" in shown
    nav = {
        b["text"]["text"]: parse_button(b["action_id"], b["value"])
        for b in buttons_of(blocks)
        if b["action_id"].startswith("list.page:")
    }
    assert nav == {
        "◀ Prev": ListPage(1, "hostway", Phase.BLOCKED),
        "Next ▶": ListPage(3, "hostway", Phase.BLOCKED),
    }
    opens = [b["action_id"] for b in buttons_of(blocks) if b["text"]["text"] == "Open"]
    assert opens == ["transfer.show:t-4k7q", "transfer.show:t-aaaa"]


def test_list_first_and_only_page_has_no_paging_and_empty_says_what_to_do() -> None:
    _, blocks = transfer_list([("t-aaaa", cpanel_running(), False)], page=1, pages=1)
    assert not [b for b in buttons_of(blocks) if b["action_id"].startswith("list.page")]
    _, blocks = transfer_list([], page=1, pages=1)
    assert "/transfer watch" in "\n".join(texts_of(blocks))


def test_a_list_with_too_many_rows_stays_valid() -> None:
    rows = [(f"t-{i:04d}", cpanel_running(), False) for i in range(120)]
    text, blocks = transfer_list(rows, page=1, pages=9)
    assert_valid_message(text, blocks)
    assert "more on this page not shown" in "\n".join(texts_of(blocks))


def test_help_shows_only_what_the_user_may_do_with_an_example_each() -> None:
    _, blocks = help_message({"status", "list", "retry"})
    shown = "\n".join(texts_of(blocks))
    assert "`/transfer status example.com`" in shown
    assert "`/transfer list hostway blocked page 2`" in shown
    assert "`/transfer retry example.com`" in shown
    assert "/transfer cancel" not in shown and "/transfer watch" not in shown
    text, blocks = help_message(set())
    assert "ask whoever runs the bot" in text


def test_every_help_example_is_a_command_the_parser_accepts() -> None:
    for word, (_, example) in HELP_TOPICS.items():
        command = parse_command(f"{word} {example}")
        assert command.word == word


def test_choice_offers_a_button_per_candidate_carrying_the_verb() -> None:
    candidates = [
        ("t-4k7q", hostway_blocked()),
        ("t-bbbb", replace(hostway_blocked(), account="hostway-2")),
    ]
    text, blocks = choice_message(candidates, ref="test.com", verb="retry")
    assert_valid_message(text, blocks)
    assert "Which one did you mean?" in "\n".join(texts_of(blocks))
    choices = [parse_button(b["action_id"], b["value"]) for b in buttons_of(blocks)]
    assert choices == [TransferChoice("t-4k7q", "retry"), TransferChoice("t-bbbb", "retry")]


# -- approval requests -----------------------------------------------------------------------------
def request(state: RequestState, **changes: Any) -> RequestCard:
    card = RequestCard(
        request_id="42",
        short_id="t-4k7q",
        transfer=hostway_blocked(),
        action=Action.RETRY,
        requested_by="U0ALICE",
        state=state,
        spec=hostway_blocked().actions[0],
        inputs={"note": "registrar sent a new key"},
        secrets_provided=("authinfo",),
        decided_by="U0BOB",
        expires_at=CHANGED + timedelta(hours=1),
        requested_at=CHANGED,
    )
    return replace(card, **changes)


def test_pending_request_says_who_asked_for_what_with_approve_reject_withdraw() -> None:
    text, blocks = request_message(request(RequestState.PENDING))
    assert_valid_message(text, blocks)
    shown = "\n".join(texts_of(blocks))
    assert "<@U0ALICE> asks to *retry (reset)* `test.com`" in shown
    assert "*New authInfo:* provided" in shown
    assert "*note:* registrar sent a new key" in shown
    assert "expires <!date^" in shown
    assert "asked <!date^1395764111^" in shown
    buttons = {b["text"]["text"]: b for b in buttons_of(blocks)}
    assert list(buttons) == ["Approve", "Reject", "Withdraw"]
    assert buttons["Approve"]["style"] == "primary"
    assert buttons["Reject"]["style"] == "danger" and "confirm" in buttons["Reject"]
    assert [parse_button(b["action_id"], b["value"]) for b in buttons.values()] == [
        RequestButton("42", ActionKind.APPROVE),
        RequestButton("42", ActionKind.REJECT),
        RequestButton("42", ActionKind.WITHDRAW),
    ]


def test_approving_a_destructive_request_asks_first_and_a_harmless_one_does_not() -> None:
    running = cpanel_running()
    cancel = next(spec for spec in running.actions if spec.action is Action.CANCEL)
    pending = request(RequestState.PENDING)
    destructive = replace(pending, transfer=running, action=Action.CANCEL, spec=cancel)
    _, blocks = request_message(destructive)
    approve = next(b for b in buttons_of(blocks) if b["text"]["text"] == "Approve")
    confirm = approve["confirm"]
    assert confirm["title"]["text"] == "Approve this cancel?"
    assert "It runs at once: cancel" in confirm["text"]["text"]
    assert "may not be undone" in confirm["text"]["text"]
    assert confirm["confirm"]["text"] == "Approve and cancel"
    _, blocks = request_message(pending)  # a retry (reset) changes nothing it can't redo
    approve = next(b for b in buttons_of(blocks) if b["text"]["text"] == "Approve")
    assert "confirm" not in approve


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (RequestState.APPROVED, "Approved by <@U0BOB>"),
        (RequestState.REJECTED, "Rejected by <@U0BOB>; nothing was done."),
        (RequestState.WITHDRAWN, "Withdrawn by <@U0BOB>"),
        (RequestState.EXPIRED, "Expired without a decision"),
        (RequestState.RUNNING, "running now"),
        (RequestState.DONE, "Done. Reset requested."),
        (RequestState.FAILED, "Failed: Reset requested."),
        (RequestState.UNKNOWN, "*Outcome unknown*"),
    ],
)
def test_decided_requests_show_their_state_and_no_buttons(state: RequestState, words: str) -> None:
    text, blocks = request_message(request(state, result_message="Reset requested."))
    assert_valid_message(text, blocks)
    assert words in "\n".join(texts_of(blocks))
    assert buttons_of(blocks) == []


def test_outcome_unknown_tells_people_to_check_the_provider_before_acting_again() -> None:
    _, blocks = request_message(request(RequestState.UNKNOWN))
    shown = "\n".join(texts_of(blocks))
    assert "check the transfer there" in shown and "before acting again" in shown


def test_dry_run_is_marked() -> None:
    _, blocks = request_message(request(RequestState.DONE, dry_run=True))
    shown = "\n".join(texts_of(blocks))
    assert "*Dry run*" in shown and "nothing was sent to the provider" in shown


def test_a_secret_value_never_reaches_a_request_message() -> None:
    # Even a caller that wrongly puts the secret among the public inputs doesn't show it.
    card = request(RequestState.PENDING, inputs={"authinfo": SECRET, "note": "ok"})
    text, blocks = request_message(card)
    assert SECRET not in text and SECRET not in json.dumps(blocks)
    assert "*New authInfo:* provided" in "\n".join(texts_of(blocks))


# -- alerts, thread headers, outages, summaries ----------------------------------------------------
def test_blocked_alert_carries_the_recovery_buttons() -> None:
    text, blocks = alert_message(AlertKind.BLOCKED, hostway_blocked(), short_id="t-4k7q")
    assert_valid_message(text, blocks)
    assert "test.com is stuck" in text
    labels = [b["text"]["text"] for b in buttons_of(blocks)]
    assert labels == ["Retry (reset)", "I'll take it", "Refresh"]


def test_an_owned_alert_and_header_say_who_and_offer_release() -> None:
    owner = Owner("U0ALICE", CHANGED)
    for text, blocks in (
        alert_message(AlertKind.BLOCKED, hostway_blocked(), short_id="t-4k7q", owner=owner),
        thread_header(hostway_blocked(), short_id="t-4k7q", owner=owner),
    ):
        assert_valid_message(text, blocks)
        shown = "\n".join(texts_of(blocks))
        assert (
            f":raising_hand: Owned by <@U0ALICE> since <!date^{int(CHANGED.timestamp())}^" in shown
        )
        buttons = {b["text"]["text"]: b for b in buttons_of(blocks)}
        assert "I'll take it" not in buttons
        assert buttons["Release"]["action_id"] == "transfer.release:t-4k7q"
        assert buttons["Release"]["value"] == "t-4k7q"


def test_a_header_of_a_transfer_not_stuck_offers_no_taking() -> None:
    _, blocks = thread_header(cpanel_running(), short_id="t-aaaa")
    assert "I'll take it" not in [b["text"]["text"] for b in buttons_of(blocks)]


@pytest.mark.parametrize("kind", [AlertKind.COMPLETED, AlertKind.FAILED, AlertKind.CANCELLED])
def test_finish_alerts_have_no_buttons(kind: AlertKind) -> None:
    text, blocks = alert_message(kind, gandi_completed(), short_id="t-done")
    assert_valid_message(text, blocks)
    assert buttons_of(blocks) == []
    assert "done.org" in text


def test_stalled_alert_says_since_when() -> None:
    _, blocks = alert_message(
        "stalled",
        cpanel_running(),
        short_id="t-aaaa",
        stalled_since=CHANGED,
        mention=group_mention("S0OPS"),
    )
    shown = "\n".join(texts_of(blocks))
    assert shown.startswith("<!subteam^S0OPS> :snail: *accounts bob, carol* has not moved since")


def test_thread_header_is_a_compact_current_card() -> None:
    text, blocks = thread_header(hostway_blocked(), short_id="t-4k7q", last_error="Timed out.")
    assert_valid_message(text, blocks)
    shown = "\n".join(texts_of(blocks))
    assert "*test.com* · :warning: *blocked* · Hostway 32" in shown
    assert "Last check failed: Timed out." in shown
    labels = [b["text"]["text"] for b in buttons_of(blocks)]
    assert labels == ["Retry (reset)", "I'll take it", "Refresh"]


def test_outage_and_recovery() -> None:
    since, until = CHANGED, CHANGED + timedelta(minutes=42)
    text, blocks = outage_message("whm-east", since, "The provider is unavailable right now.")
    assert_valid_message(text, blocks)
    assert "whm-east" in text and "unavailable right now" in "\n".join(texts_of(blocks))
    text, blocks = recovered_message("whm-east", since, until)
    assert_valid_message(text, blocks)
    assert "about 42 min" in text


def test_a_summary_of_many_alerts_is_one_line_each_and_valid() -> None:
    items = [(AlertKind.COMPLETED, f"t-{i:04d}", gandi_completed()) for i in range(300)]
    items.append((AlertKind.BLOCKED, "t-4k7q", hostway_blocked()))
    text, blocks = summary_message(items)
    assert_valid_message(text, blocks)
    assert text == "301 transfer updates: 300 completed, 1 blocked"
    assert "more: use `/transfer list`" in "\n".join(texts_of(blocks))
    text, blocks = summary_message(items[:3])
    assert sum(t.count("t-000") for t in texts_of(blocks)) == 3


# -- the App Home tab ------------------------------------------------------------------------------
def test_home_groups_blocked_and_stalled_first_with_the_same_buttons() -> None:
    rows = [
        ("t-done", gandi_completed(), False),
        ("t-aaaa", cpanel_running(), False),
        ("t-slow", replace(cpanel_running(), subject="slow.net"), True),
        ("t-4k7q", hostway_blocked(), False),
    ]
    view = app_home(rows)
    assert view["type"] == "home"
    View(**view).to_dict()  # valid as a view
    titles = [t for t in texts_of(view["blocks"]) if re.match(r"^\*.+\* \(\d+\)$", t)]
    assert [t.split("*")[1] for t in titles] == [
        ":warning: Blocked: waiting for someone",
        ":snail: Stalled: no change for a while",
        ":arrows_counterclockwise: Active",
        ":white_check_mark: Completed",
    ]
    ids = [b["action_id"] for b in buttons_of(view["blocks"])]
    assert "transfer.act:t-4k7q:retry" in ids and "transfer.act:t-slow:pause" in ids


def test_home_holds_to_100_blocks_and_points_to_the_list() -> None:
    rows = [(f"t-{i:04d}", cpanel_running(), False) for i in range(200)]
    view = app_home(rows)
    assert_valid_message("home", view["blocks"], limit=100)
    last = view["blocks"][-1]["elements"][0]["text"]
    assert re.fullmatch(r"… and \d+ more: use `/transfer list`\.", last)
    shown = sum(1 for b in view["blocks"] if b["type"] == "actions")
    assert last == f"… and {200 - shown} more: use `/transfer list`."


def test_empty_home_says_how_to_start() -> None:
    view = app_home([])
    assert "/transfer watch" in "\n".join(texts_of(view["blocks"]))


# -- the action-inputs modal -----------------------------------------------------------------------
def test_modal_has_one_input_per_action_input_with_limits_and_a_secret_hint() -> None:
    note = ActionInput("note", "Note for the audit log", required=True, max_length=200)
    spec = ActionSpec(Action.RETRY, "reset", (AUTHINFO, note))
    metadata = ModalContext("t-4k7q", Action.RETRY, "C0ALERTS", None, "U0ALICE").encode()
    view = action_inputs_modal(
        spec=spec, transfer=hostway_blocked(), short_id="t-4k7q", private_metadata=metadata
    )
    View(**view).to_dict()
    assert view["callback_id"] == CallbackId.ACTION_INPUTS == "transfer.action_inputs"
    assert ModalContext.decode(view["private_metadata"]) == ModalContext(
        "t-4k7q", Action.RETRY, "C0ALERTS", None, "U0ALICE"
    )
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["input:authinfo", "input:note"]
    auth = inputs["input:authinfo"]
    assert auth["element"]["min_length"] == 6 and auth["element"]["max_length"] == 16
    assert auth["optional"] is True and "never shown in Slack" in auth["hint"]["text"]
    assert "initial_value" not in auth["element"]
    assert inputs["input:note"]["optional"] is False
    assert "never shown" not in inputs["input:note"].get("hint", {}).get("text", "")


def test_modal_errors_and_values_use_the_same_block_ids() -> None:
    problems = {"authinfo": "New authInfo must be at least 6 characters."}
    assert modal_errors(problems) == {
        "response_action": "errors",
        "errors": {"input:authinfo": "New authInfo must be at least 6 characters."},
    }
    state = {
        "values": {
            input_block_id("authinfo"): {"value": {"type": "plain_text_input", "value": "abc"}},
            "input:note": {"value": {"value": None}},
            "input:blank": {"value": {"value": "   "}},
            "foreign": {"x": {"value": "ignored"}},
        }
    }
    values = modal_values(state)
    assert values == {"authinfo": "abc", "note": None, "blank": None}
    spec = ActionSpec(Action.RETRY, "reset", (AUTHINFO,))
    assert modal_errors(spec.validate(values))["errors"] == {
        "input:authinfo": "New authInfo must be at least 6 characters."
    }
    assert modal_values(None) == {} and modal_values({"values": "garbage"}) == {}


# -- ids and button values ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    [
        TransferAct("t-4k7q", Action.RETRY),
        TransferRef("t-4k7q"),
        TransferRef("t-4k7q", ActionKind.SHOW),
        TransferChoice("t-4k7q", "status"),
        RequestButton("42", ActionKind.APPROVE),
        RequestButton("42", ActionKind.REJECT),
        RequestButton("42", ActionKind.WITHDRAW),
        ListPage(3),
        ListPage(2, "opensrs", Phase.PENDING),
    ],
)
def test_every_button_round_trips_and_its_kind_pattern_matches(target: Any) -> None:
    assert parse_button(target.action_id, target.value) == target
    assert target.kind.pattern.match(target.action_id)
    others = [k for k in ActionKind if k is not target.kind]
    assert not any(k.pattern.match(target.action_id) for k in others)


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("transfer.act:t-4k7q:retry", "t-4k7q|explode"),  # no such action
        ("transfer.act:t-4k7q:retry", "t-9999|retry"),  # id and value disagree
        ("transfer.act:t-4k7q:retry", "t-4k7q|retry|extra"),
        ("transfer.act:t-4k7q:retry", None),
        ("transfer.refresh:t-4k7q", "t-4k7q; DROP TABLE"),
        ("request.approve:42", "43"),
        ("request.approve:42", "42" * 2000),
        ("request.nuke:42", "42"),
        ("list.page:2", "2|myspace|"),
        ("list.page:2", "2||frozen"),
        ("list.page:0", "0||"),
        ("list.page:2", "two||"),
        ("transfer.choose:t-4k7q", "t-4k7q|DROP TABLE"),
        ("transfer.choose:t-4k7q", "t-4k7q|sync"),  # not something to carry on with
        ("garbage", "garbage"),
        ("", ""),
    ],
)
def test_forged_or_garbled_buttons_parse_to_none(action_id: str, value: str | None) -> None:
    assert parse_button(action_id, value) is None


def test_garbled_modal_metadata_parses_to_none() -> None:
    for text in [
        "",
        "{",
        "[]",
        '{"s": "t-1"}',
        '{"s": "t 1", "a": "retry"}',
        '{"s": "t-1", "a": "retry", "c": "<#C1>"}',
        None,
        "x" * 4000,
    ]:
        assert ModalContext.decode(text) is None


def test_clip() -> None:
    assert clip("short", 10) == "short"
    assert clip("x" * 20, 10) == "x" * 9 + "…"
    assert len(clip("x" * 20, 10)) == 10
