"""Hostile text from every provider field, in every kind of message: shown, never obeyed.

Slack reads ``<!channel>``, ``<@U…>`` and ``<https://…|label>`` in any mrkdwn text (and in
a message's fallback text); a provider that names an account or words a result like that
must not ping a channel or plant a disguised link. Escaping is the default of the one path
that turns text into mrkdwn (``bot.slack.mrkdwn``), so this sweep covers messages that
forget to ask for it too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.actions.approvals import _duplicate
from bot.actions.posting import already_decided, outcome_line
from bot.slack.alerts import (
    AlertKind,
    alert_message,
    outage_message,
    summary_message,
    thread_header,
)
from bot.slack.blocks import Row, clip, context, finish, section
from bot.slack.cards import choice_message, transfer_card, transfer_list
from bot.slack.home import app_home
from bot.slack.listeners.acting import cant_do
from bot.slack.listeners.answers import sentence
from bot.slack.mrkdwn import Mrkdwn, as_mrkdwn, md, mention
from bot.slack.requests import RequestCard, RequestState, action_inputs_modal, request_message
from bot.watcher.digest import digest_blocks
from providers.base import Action, ActionInput, ActionSpec, HistoryEntry, Phase, Transfer
from storage.models import ActionRequest, TrackedTransfer
from storage.models import RequestState as StoredState

HOSTILE = "<!channel> <https://evil.example|click here> <@U0EVIL> <#C0EVIL> <!subteam^S0EVIL> A & B"
SHOWN = "&lt;!channel&gt; &lt;https://evil.example|click here&gt;"  # what the reader sees
OBEYED = ("<!channel", "<https://evil", "<@U0EVIL", "<#C0EVIL", "<!subteam^S0EVIL")
MANGLED = ("&amp;amp;", "&amp;lt;", "&lt;!date", "&lt;@U0ALICE")  # escaped twice, or ours escaped
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def hostile_transfer(phase: Phase = Phase.BLOCKED) -> Transfer:
    """Every field a provider controls holds the hostile text."""
    spec = ActionSpec(
        Action.RETRY,
        HOSTILE,
        (ActionInput("authinfo", HOSTILE, secret=True, hint=HOSTILE),),
        description=HOSTILE,
    )
    return Transfer(
        account=HOSTILE,
        provider="cpanel",
        ref=HOSTILE,
        subject=HOSTILE,
        phase=phase,
        raw_code=HOSTILE,
        raw_text=HOSTILE,
        actions=(spec, ActionSpec(Action.CANCEL, HOSTILE, destructive=True)),
        changed_at=NOW - timedelta(hours=2),
        history=(HistoryEntry(NOW - timedelta(hours=3), HOSTILE, HOSTILE),),
        waiting_for=HOSTILE,
        details={HOSTILE: HOSTILE},
    )


def stored(state: StoredState) -> tuple[ActionRequest, TrackedTransfer]:
    request = ActionRequest(
        id=7,
        transfer_id=1,
        action="cancel",
        requested_by="U0ALICE",
        decided_by="U0BOB",
        state=state.value,
        result_message=HOSTILE,
        inputs={"note": HOSTILE},
        expires_at=NOW + timedelta(hours=1),
    )
    row = TrackedTransfer(
        id=1, short_id="t-evil", account=HOSTILE, provider="cpanel", ref=HOSTILE,
        subject=HOSTILE, phase="blocked",
    )  # fmt: skip
    return request, row


def every_message() -> Iterator[tuple[str, Any]]:
    """(what, the message as it would be sent) for every builder and every state."""
    transfer = hostile_transfer()
    row = Row("t-evil", transfer, True)
    yield "status card", transfer_card(
        transfer, short_id="t-evil", stalled_since=NOW, last_error=HOSTILE, polled_at=NOW,
        superseded_by=HOSTILE,
    )  # fmt: skip
    yield "list", transfer_list([row], page=1, pages=1)
    yield "which one", choice_message([row, Row("t-evi2", transfer)], ref=HOSTILE)
    yield "home", app_home([row])
    for kind in AlertKind:
        yield (
            f"alert {kind}",
            alert_message(
                kind, transfer, short_id="t-evil", stalled_since=NOW, superseded_by=HOSTILE
            ),
        )
    yield "thread header", thread_header(
        transfer, short_id="t-evil", stalled_since=NOW, last_error=HOSTILE, polled_at=NOW,
        superseded_by=HOSTILE,
    )  # fmt: skip
    yield "outage", outage_message(HOSTILE, NOW, HOSTILE)
    yield "digest", digest_blocks([row, Row("t-evi2", transfer)], Counter({Phase.BLOCKED: 2}))
    yield "summary", summary_message([(AlertKind.BLOCKED, "t-evil", transfer)])
    spec = transfer.actions[0]
    yield (
        "inputs modal",
        action_inputs_modal(spec=spec, transfer=transfer, short_id="t-evil", private_metadata="x"),
    )
    for state in RequestState:
        card = RequestCard(
            request_id="7", short_id="t-evil", transfer=transfer, action=Action.RETRY,
            requested_by="U0ALICE", state=state, spec=spec, inputs={"note": HOSTILE},
            secrets_provided=("authinfo",), decided_by="U0BOB", result_message=HOSTILE,
            expires_at=NOW, requested_at=NOW,
        )  # fmt: skip
        yield f"request {state}", request_message(card)
    for stored_state in StoredState:
        request, tracked = stored(stored_state)
        yield f"outcome line {stored_state}", outcome_line(request, tracked, who=True)
        yield f"already decided {stored_state}", sentence(already_decided(request))
        yield f"duplicate {stored_state}", sentence(_duplicate(request, tracked))
    for action in Action:
        yield f"can't {action}", sentence(cant_do(stored(StoredState.DONE)[1], transfer, action))
    yield "a plain sentence", sentence(f"The account {HOSTILE} said no.")


def mrkdwn_texts(message: Any) -> Iterator[str]:
    """Every text Slack reads as mrkdwn: a reply's text, a message's fallback text, and every
    mrkdwn object in its blocks (a view's too)."""
    if isinstance(message, str):
        yield message
    elif isinstance(message, tuple):
        fallback, blocks = message
        yield fallback
        yield from _mrkdwn_objects(blocks)
    else:
        yield from _mrkdwn_objects(message)


def _mrkdwn_objects(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        if node.get("type") == "mrkdwn":
            yield node["text"]
        for value in node.values():
            yield from _mrkdwn_objects(value)
    elif isinstance(node, Sequence) and not isinstance(node, str):
        for item in node:
            yield from _mrkdwn_objects(item)


@pytest.mark.parametrize(("what", "message"), list(every_message()), ids=lambda x: str(x)[:40])
def test_hostile_provider_text_is_shown_and_never_obeyed(what: str, message: Any) -> None:
    texts = list(mrkdwn_texts(message))
    assert texts, what
    for text in texts:
        for markup in OBEYED:
            assert markup not in text, f"{what}: {markup!r} reaches Slack as markup in {text!r}"
        for mangled in MANGLED:
            assert mangled not in text, f"{what}: {mangled!r} (escaped twice) in {text!r}"
    assert any(SHOWN in text for text in texts) or what.startswith(
        ("request ", "already decided", "duplicate", "can't")
    ), f"{what}: the hostile text is not shown as text"


def test_our_own_markup_stays_markup() -> None:
    line = md("{} asked for *{}* in {}", mention("U0ALICE"), HOSTILE, Mrkdwn("<#C0OPS>"))
    assert line.startswith("<@U0ALICE> asked for *&lt;!channel&gt;")
    assert line.endswith(" in <#C0OPS>")
    assert as_mrkdwn(line) == line  # no second escaping
    assert mention("<!channel>") == "&lt;!channel&gt;"  # not a user id: shown as text


def test_a_plain_string_is_escaped_wherever_it_reaches_a_block() -> None:
    text, blocks = finish(HOSTILE, [section(HOSTILE), context(HOSTILE)])
    for shown in [text, blocks[0]["text"]["text"], blocks[1]["elements"][0]["text"]]:
        assert shown.startswith(SHOWN)


def test_clipping_markup_never_cuts_a_mention_or_an_entity_in_two() -> None:
    line = md("{} {}", "x" * 8, mention("U0ALICE"))  # "xxxxxxxx <@U0ALICE>"
    assert clip(line, 14) == "xxxxxxxx …"
    assert clip(md("{}", "a<b"), 3) == "a…"  # "a&lt;b" cut inside "&lt;"
    assert clip(replace(hostile_transfer()).subject, 5) == "<!ch…"  # plain text: escaped later
