"""Abusive Slack requests through the real request path: refused or answered, nothing run.

Signed HTTP requests go into the bot served on loopback (the ``bot`` fixture of
tests/slack/conftest.py); after each one the simulators' call counts, the audit log, the
requests' states and the Slack traffic are compared with before. The plain forged,
missing and stale signatures on a command, a forged Approve and a too-short authInfo are
in tests/slack/test_app_security.py; this file covers the rest and counts them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.actions.approvals import expire_due_requests
from bot.runtime.guard import MAX_EVENT_BYTES
from bot.runtime.signed import find_button, sign
from bot.slack.ids import INPUT_ACTION_ID, input_block_id
from storage.audit import list_audit
from storage.migrate import upgrade_database
from storage.models import RequestState
from storage.requests import list_requests
from tests.reliability.replicas import replica
from tests.reliability.results import record
from tests.slack.conftest import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    RIGHT_EPP,
    SIGNING_SECRET,
    Bot,
)

logger = logging.getLogger(__name__)

FIGURE = "Slack requests: forged, stale, replayed, malformed, oversized, unknown, unauthorised"
ABORT = "abort_transfer_session"
PAUSE = "pause_transfer_session"
START = "start_transfer_session"
# what a provider is asked that changes nothing there (the bot may look before refusing)
READS = re.compile(r"get|check|list|fetch|info|status|count", re.IGNORECASE)


@dataclass
class Door:
    """Sends abusive requests to the bot and checks that none of them changed anything."""

    bot: Bot
    tried: int = 0
    before: dict[str, Any] = field(default_factory=dict)

    async def snapshot(self) -> None:
        self.before = await self._state()

    async def send(
        self,
        body: bytes,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        **options: Any,
    ) -> httpx.Response:
        """Post one abusive request (signed unless overridden) and wait for its after-ack work."""
        self.tried += 1
        response = await self.bot.slack.post(body, content_type=content_type, **options)
        await self.bot.settle()
        assert response.status_code != 500, response.text
        return response

    async def assert_nothing_ran(self) -> None:
        now = await self._state()
        assert now["sims"] == self.before["sims"], "a provider was asked to act"
        assert now["audit"] == self.before["audit"], "the audit log changed"
        assert now["requests"] == self.before["requests"], "a request changed state"
        assert now["posted"] == self.before["posted"], "something was posted in a channel"

    async def _state(self) -> dict[str, Any]:
        async with self.bot.services.db.session() as session:
            rows = await list_requests(session, limit=1000)
        return {
            "sims": {
                kind: {op: n for op, n in sim.faults.calls.items() if not READS.search(op)}
                for kind, sim in self.bot.sims.items()
            },
            "audit": await self.bot.audit(),
            "requests": sorted((r.id, r.state) for r in rows),
            "posted": [
                (m.ts, m.text, len(m.replies), m.edited)
                for c in (CHANNEL,)
                for m in self.bot.channel(c)
            ],
        }


@pytest.fixture
def door(bot: Bot, caplog: pytest.LogCaptureFixture) -> Iterator[Door]:
    """A Door on ``bot``; afterwards no error was logged and the requests tried are recorded."""
    caplog.set_level(logging.INFO)
    found = Door(bot)
    yield found
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
    record(
        "bad inputs tried",
        FIGURE,
        found.tried,
        "inputs",
        combine="sum",
        note="Signed (or badly signed) HTTP requests into the bot on loopback; each refused "
        "(401, 400, 404, 413) or answered with a sentence, with no provider call, audit entry, "
        "request change or channel post, and no error logged.",
    )


async def pending_cancel(bot: Bot) -> dict[str, Any]:
    return (await cancel_asked(bot))[1]


async def cancel_asked(bot: Bot) -> tuple[str, dict[str, Any]]:
    """A running cPanel session, watched, and ALICE's request to cancel it, waiting for BOB."""
    session = bot.sims["cpanel"].add_session("RUNNING", accounts=["shop"])
    short_id = await bot.watch("whm-east", session)
    await bot.command(f"cancel {short_id}", user=ALICE)
    return short_id, bot.as_seen(bot.request_message())


def approve_body(bot: Bot, message: dict[str, Any], *, user: str = BOB) -> bytes:
    button = find_button(message["blocks"], "Approve")
    return bot.slack.click_body(button, user=user, message=message, channel=CHANNEL)


def payload(value: object) -> bytes:
    return urlencode({"payload": value if isinstance(value, str) else json.dumps(value)}).encode()


# -- signatures ------------------------------------------------------------------------------
async def test_requests_slack_did_not_sign_now_are_refused_on_every_surface(
    bot: Bot, door: Door
) -> None:
    message = await pending_cancel(bot)
    _, view = await open_retry_form(bot)
    await door.snapshot()
    click = approve_body(bot, message)
    bodies = {
        "click": click,
        "submission": bot.slack.submission_body(values=typed(RIGHT_EPP), user=ALICE, view=view),
        "home": bot.slack.home_opened_body(user=ALICE),
    }
    now = int(time.time())
    for name, body in bodies.items():
        content_type = "application/json" if name == "home" else "application/x-www-form-urlencoded"
        tampered: list[dict[str, Any]] = [
            {"signature": "v0=" + "0" * 64},  # forged
            {"signature": sign(SIGNING_SECRET, now, body + b"&x=1")},  # another body's
            {"signature": sign("not-our-secret", now, body)},  # the wrong secret
            {"timestamp": now - 6 * 60},  # stale (signed then, honestly)
            {"timestamp": now + 6 * 60},  # from the future
            {"timestamp": "soon", "signature": sign(SIGNING_SECRET, "soon", body)},
            {"signature": "v1=" + sign(SIGNING_SECRET, now, body)[3:]},  # another scheme
            {"signed": False},
        ]
        for tamper in tampered:
            response = await door.send(body, content_type=content_type, **tamper)
            assert response.status_code == 401, (name, tamper)
    await door.assert_nothing_ran()
    assert "Waiting for an approver" in bot.text_of(bot.request_message())


async def test_a_replayed_click_or_command_runs_nothing_twice(bot: Bot, door: Door) -> None:
    """Slack's only replay protection is the five-minute timestamp: the same signed body,
    re-sent within it without any retry header, must act once."""
    message = await pending_cancel(bot)
    click = approve_body(bot, message)
    stamp = int(time.time())
    signature = sign(SIGNING_SECRET, stamp, click)
    first = await bot.slack.post(click, timestamp=stamp, signature=signature)
    await bot.settle()
    assert first.status_code == 200 and bot.sims["cpanel"].faults.calls[ABORT] == 1
    await door.snapshot()
    replays = [bot.slack.post(click, timestamp=stamp, signature=signature) for _ in range(5)]
    door.tried += len(replays)
    assert [r.status_code for r in await asyncio.gather(*replays)] == [200] * 5
    await bot.settle()
    await door.send(click, timestamp=stamp, signature=signature)
    await door.assert_nothing_ran()
    assert "has run already" in bot.last_answer(BOB).text

    # an action the transfer still offers after it ran: only the replayed body tells
    opensrs = bot.sims["opensrs"]
    short_id = await bot.watch(
        "opensrs-main", opensrs.add_order("o.example", script="waits_for_owner")
    )
    card = bot.last_answer(ALICE)
    resend = find_button(card.blocks, f"transfer.act:{short_id}:resend")
    body = bot.slack.click_body(
        resend, user=ALICE, message={"blocks": card.blocks}, channel=CHANNEL
    )
    stamp = int(time.time())
    await bot.slack.post(body, timestamp=stamp)
    await bot.settle()
    assert opensrs.faults.calls["SEND_PASSWORD"] == 1
    await door.snapshot()
    bot.now.advance(seconds=60)  # well past a double click
    await door.send(body, timestamp=stamp)
    await door.assert_nothing_ran()
    assert "done a moment ago" in bot.last_answer(ALICE).text


async def test_a_command_delivered_three_times_is_answered_once(bot: Bot) -> None:
    """Slack's redeliveries (``X-Slack-Retry-Num``, signed anew) of a command already taken
    on read nothing from the provider and post nothing more."""
    cpanel = bot.sims["cpanel"]
    short_id = await bot.watch("whm-east", cpanel.add_session("RUNNING"))
    pause = bot.slack.command_body(f"pause {short_id}", user=ALICE, channel=CHANNEL)
    stamp = int(time.time())
    await bot.slack.post(pause, timestamp=stamp)
    await bot.settle()
    assert cpanel.faults.calls[PAUSE] == 1
    answers, asked = len(bot.answers_to(ALICE)), sum(cpanel.faults.calls.values())
    for retry in (1, 2):
        bot.now.advance(seconds=30)
        response = await bot.slack.post(pause, timestamp=stamp + retry, retry_num=retry)
        await bot.settle()
        assert response.status_code == 200 and not response.content
    assert cpanel.faults.calls[PAUSE] == 1
    assert sum(cpanel.faults.calls.values()) == asked  # not even a read
    assert len(bot.answers_to(ALICE)) == answers  # one answer in all, the first delivery's


async def test_a_command_replayed_to_another_replica_or_after_a_restart_runs_once(
    bot: Bot, database_url: str
) -> None:
    """A captured ``/transfer pause``, re-sent to a second replica on the same database after
    the session was resumed (24 s on: past a double click), and then to a replica started
    since, pauses nothing more in its sender's name."""
    await upgrade_database(database_url)
    cpanel = bot.sims["cpanel"]
    stamp = int(time.time())
    async with (
        replica(bot, database_url, name="replica-a") as first,
        replica(bot, database_url, name="replica-b") as second,
    ):
        short_id = await first.watch("whm-east", cpanel.add_session("RUNNING"))
        pause = first.slack.command_body(f"pause {short_id}", user=ALICE, channel=CHANNEL)
        signature = sign(SIGNING_SECRET, stamp, pause)
        assert (await first.slack.post(pause, timestamp=stamp, signature=signature)).is_success
        await first.settle()
        assert cpanel.faults.calls[PAUSE] == 1
        cpanel.clock.advance(600)  # paused by now
        await first.command(f"resume {short_id}", user=CAROL)
        assert cpanel.faults.calls[START] == 1

        second.now.advance(seconds=24)
        assert (await second.slack.post(pause, timestamp=stamp, signature=signature)).is_success
        await second.settle()
        assert cpanel.faults.calls[PAUSE] == 1
    async with replica(bot, database_url, name="replica-a") as restarted:
        restarted.now.advance(seconds=60)
        replayed = await restarted.slack.post(pause, timestamp=stamp, signature=signature)
        assert replayed.is_success
        await restarted.settle()
        async with restarted.services.db.session() as session:
            entries = await list_audit(session, limit=100)
    assert cpanel.faults.calls[PAUSE] == 1
    assert sorted((e.actor, e.verb) for e in entries if e.verb in ("requested", "ran")) == [
        (ALICE, "ran"),
        (ALICE, "requested"),
        (CAROL, "ran"),
        (CAROL, "requested"),
    ]
    dialect = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    record(
        "bad inputs tried",
        f"a signed /transfer pause replayed to a second replica and after a restart ({dialect}): "
        "pauses run",
        cpanel.faults.calls[PAUSE],
        "actions",
        note="Captured and re-sent 24 s later to another replica on the same database, after a "
        "resume, and again to a replica started since: the seen signature is shared through "
        "the database, so the replay is a redelivery and runs nothing.",
    )


# -- malformed, oversized, unknown -------------------------------------------------------------
MALFORMED: list[tuple[str, bytes, str, int]] = [
    # (what, body, content type, status)
    ("payload not JSON", payload("not json{"), "form", 400),
    ("payload a JSON list", payload([1, 2]), "form", 400),
    ("payload a JSON string", payload('"approve"'), "form", 400),
    ("payload a number", payload("42"), "form", 400),
    ("payload null", payload("null"), "form", 400),
    ("not UTF-8", b"\xff\xfepayload=\xc3", "form", 400),
    ("JSON body not JSON", b"{not json", "json", 400),
    ("JSON body a list", b"[1, 2]", "json", 400),
    ("actions not a list", payload({"type": "block_actions", "actions": "x"}), "form", 400),
    ("an action not an object", payload({"type": "block_actions", "actions": [7]}), "form", 400),
    ("user a number", payload({"type": "block_actions", "user": 5, "actions": []}), "form", 400),
    ("view a string", payload({"type": "view_submission", "view": "x"}), "form", 400),
    (
        "view state a number",
        payload(
            {
                "type": "view_submission",
                "view": {"callback_id": "transfer.action_inputs", "state": 3},
            }
        ),
        "form",
        400,
    ),
    (
        "private_metadata a number",
        payload(
            {
                "type": "view_submission",
                "view": {"callback_id": "transfer.action_inputs", "private_metadata": 7},
            }
        ),
        "form",
        400,
    ),
    ("event a list", b'{"type": "event_callback", "event": [1]}', "json", 400),
    ("no actions", payload({"type": "block_actions", "user": {"id": BOB}}), "form", 404),
    ("no type", payload({"user": {"id": BOB}}), "form", 404),
    ("empty body", b"", "form", 404),
    ("no command", urlencode({"text": "cancel x", "user_id": ALICE}).encode(), "form", 404),
]


@pytest.mark.parametrize(
    ("what", "body", "kind", "status"), MALFORMED, ids=[case[0] for case in MALFORMED]
)
async def test_a_malformed_request_is_refused(
    bot: Bot, door: Door, what: str, body: bytes, kind: str, status: int
) -> None:
    await pending_cancel(bot)
    await door.snapshot()
    content_type = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
    response = await door.send(body, content_type=content_type)
    assert response.status_code == status, (what, response.text)
    await door.assert_nothing_ran()


TYPED = "PLANTED-typed-value-7d1e"  # what someone typed; it must reach no log
HOME = {"type": "app_home_opened", "user": ALICE}


def nested(depth: int, kind: str = "block_actions") -> str:
    """A payload whose ``x`` is a list in a list ... ``depth`` deep."""
    return f'{{"type": "{kind}", "x": {"[" * depth + "]" * depth}}}'


def inputs(callback_id: str, **view: Any) -> dict[str, Any]:
    """A view_submission with ``TYPED`` in its state."""
    state = {"values": {"b": {"a": {"type": "plain_text_input", "value": TYPED}}}}
    return {
        "type": "view_submission",
        "user": {"id": ALICE},
        "view": {"callback_id": callback_id, "state": state, **view},
    }


def clicked(*actions: dict[str, Any]) -> bytes:
    return payload({"type": "block_actions", "user": {"id": BOB}, "actions": list(actions)})


def kind(name: str, **fields: Any) -> bytes:
    return payload({"type": name, "callback_id": "x", "user": {"id": BOB}, **fields})


def event(**fields: Any) -> bytes:
    return json.dumps({"type": "event_callback", **fields}).encode()


ODD: list[tuple[str, bytes, str, int]] = [
    # (what, body, content type, status): signed, and not what Slack sends the bot
    ("nested 1,000 deep", payload(nested(1000)), "form", 400),
    ("JSON nested 1,000 deep", nested(1000, "event_callback").encode(), "json", 400),
    ("nested 40 deep", payload(nested(40)), "form", 400),
    ("a view without a type", payload(inputs("transfer.action_inputs")), "form", 400),
    ("a view's type a number", payload(inputs("transfer.action_inputs", type=3)), "form", 400),
    ("a type that is an object", payload({"type": {"typed": TYPED}}), "form", 400),
    ("an action without an action_id", clicked({"value": TYPED}), "form", 400),
    ("an action_id that is a number", clicked({"action_id": 7}), "form", 400),
    ("an empty list of actions", clicked(), "form", 400),
    ("a team_id that is an object", event(team_id={"a": 1}, event=HOME), "json", 400),
    ("authorizations a string", event(authorizations="x", event=HOME), "json", 400),
    ("an event without a type", event(event={"user": ALICE}), "json", 400),
    ("an event's user an object", event(event={**HOME, "user": {"id": 1}}), "json", 400),
    ("a command in JSON, its text a number", b'{"command": "/transfer", "text": 5}', "json", 400),
    ("interactive_message", kind("interactive_message", actions=[{"value": TYPED}]), "form", 200),
    ("workflow_step_edit", kind("workflow_step_edit", workflow_step={"x": TYPED}), "form", 200),
    ("block_suggestion", kind("block_suggestion", action_id="x", value=TYPED), "form", 200),
    ("dialog_submission", kind("dialog_submission", submission={"a": TYPED}), "form", 200),
    ("a kind Slack has no name for", kind(TYPED), "form", 200),
    ("a form nobody listens for", payload(inputs(TYPED, type="modal")), "form", 404),
    ("an event nobody listens for", event(event={"type": TYPED, "text": TYPED}), "json", 404),
    ("a command nobody listens for", urlencode({"command": f"/{TYPED}"}).encode(), "form", 404),
]  # fmt: skip


@pytest.mark.parametrize(("what", "body", "kind", "status"), ODD, ids=[case[0] for case in ODD])
async def test_an_odd_signed_payload_is_refused_or_set_aside_and_logs_nothing_of_it(
    bot: Bot,
    door: Door,
    caplog: pytest.LogCaptureFixture,
    what: str,
    body: bytes,
    kind: str,
    status: int,
) -> None:
    await pending_cancel(bot)
    await door.snapshot()
    caplog.set_level(logging.DEBUG)
    content_type = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
    response = await door.send(body, content_type=content_type)
    assert response.status_code == status, (what, response.text)
    if status == 200:
        assert not response.content  # set aside: nothing to show, nothing done
    await door.assert_nothing_ran()
    assert TYPED not in caplog.text
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


_KEYS = [
    *("type", "user", "team", "channel", "container", "view", "message", "event", "enterprise"),
    *("actions", "authorizations", "response_urls", "response_url", "trigger_id", "team_id"),
    *("user_id", "channel_id", "api_app_id", "callback_id", "action_id", "block_id", "value"),
    *("state", "values", "private_metadata", "id", "blocks", "elements", "text", "command"),
    *("is_enterprise_install", "enterprise_id", "tab", "is_ext_shared_channel", "user_team"),
]
_WORDS = [
    *("block_actions", "view_submission", "event_callback", "app_home_opened", "modal"),
    *("home", "button", "plain_text_input", "message", "workflow_step", "/transfer"),
    *("transfer.act:t-2222:pause", "request.approve:1", "transfer.action_inputs", ALICE),
]


def _shapes() -> st.SearchStrategy[dict[str, Any]]:
    """Objects built from Slack's own keys and words, with values of any JSON type."""
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.text(max_size=4),
        st.sampled_from(_WORDS),
    )
    value = st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
        ),
        max_leaves=20,
    )
    top = st.dictionaries(st.sampled_from(_KEYS), value, max_size=7)
    kinds = st.sampled_from(["block_actions", "view_submission", "event_callback"])
    return st.one_of(top, st.builds(lambda d, k: {**d, "type": k}, top, kinds))


async def test_signed_payloads_of_any_shape_get_no_500_and_log_no_traceback(
    bot: Bot, door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    """Hypothesis builds payloads from Slack's keys with values of every type; each is
    signed and sent as a form's payload or a JSON body: refused, set aside or handled."""
    drawn: list[tuple[dict[str, Any], bool]] = []

    @settings(max_examples=400, derandomize=True, database=None, deadline=None)
    @given(_shapes(), st.booleans())
    def draw(shape: dict[str, Any], as_json: bool) -> None:
        drawn.append((shape, as_json))

    draw()
    await pending_cancel(bot)
    await door.snapshot()
    answered = []
    for shape, as_json in drawn:
        body = json.dumps(shape).encode() if as_json else payload(shape)
        kind = "application/json" if as_json else "application/x-www-form-urlencoded"
        door.tried += 1
        answered.append(((await bot.slack.post(body, content_type=kind)).status_code, shape))
    await bot.settle()
    assert [(status, shape) for status, shape in answered if status >= 500] == []
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    await door.assert_nothing_ran()


async def test_fields_of_the_wrong_kind_or_missing_are_answered_and_nothing_runs(
    bot: Bot, door: Door
) -> None:
    message = await pending_cancel(bot)
    await door.snapshot()
    button = find_button(message["blocks"], "Approve")
    odd_values: list[object] = [None, 5, ["1"], {"id": 1}, "", "x" * 5000]
    for value in odd_values:
        body = bot.slack.click_body(
            {**button, "value": value}, user=BOB, message=message, channel=CHANNEL
        )
        assert (await door.send(body)).status_code == 200
        assert "no longer valid" in bot.last_answer(BOB).text
    for text in ("", "cancel", "cancel " + "\u0000" * 10, "pause t-zzzz", "cancel ' OR 1=1 --"):
        body = bot.slack.command_body(text, user=ALICE, channel=CHANNEL)
        response = await door.send(body)
        assert response.status_code == 200
        assert bot.answers_to(ALICE) or response.content
    no_user = urlencode(
        {"command": "/transfer", "text": "cancel x", "channel_id": CHANNEL}
    ).encode()
    assert (await door.send(no_user)).status_code == 200
    await door.assert_nothing_ran()


async def test_an_oversized_body_is_refused_unread(bot: Bot, door: Door) -> None:
    message = await pending_cancel(bot)
    await door.snapshot()
    big = approve_body(bot, {**message, "text": "x" * (MAX_EVENT_BYTES + 1)})
    assert (await door.send(big)).status_code == 413  # signed, and too large
    assert (await door.send(big, signed=False)).status_code == 413

    async def streamed() -> AsyncIterator[bytes]:  # chunked: no declared length to go by
        for _ in range(MAX_EVENT_BYTES // 65536 + 2):
            yield b"x" * 65536

    door.tried += 1
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            bot.slack.url,
            content=streamed(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413
    await bot.settle()
    await door.assert_nothing_ran()


async def test_unknown_or_mismatched_action_ids_run_nothing(bot: Bot, door: Door) -> None:
    message = await pending_cancel(bot)
    await door.snapshot()
    (request_id,) = [r[0] for r in (await door._state())["requests"]]
    approve = find_button(message["blocks"], "Approve")
    cases = [
        ({"action_id": "transfer.explode:1", "value": "1"}, 404, None),  # nothing listens
        ({"action_id": "admin.run:1", "value": "1"}, 404, None),
        ({"action_id": "request.approve:999999", "value": "999999"}, 200, "no longer exists"),
        ({"action_id": f"request.approve:{request_id}", "value": "999999"}, 200, "no longer valid"),
        ({"action_id": "request.approve:abc", "value": "abc"}, 200, "no longer valid"),
        (
            {"action_id": "transfer.act:t-zzzz:explode", "value": "t-zzzz|explode"},
            200,
            "no longer valid",
        ),
        (
            {"action_id": "transfer.act:t-2222:cancel", "value": "t-2222|cancel"},
            200,
            "no longer tracked",
        ),
    ]
    for changes, status, told in cases:
        user = ALICE if changes["action_id"].startswith("transfer.act") else BOB  # may act
        body = bot.slack.click_body(
            {**approve, **changes}, user=user, message=message, channel=CHANNEL
        )
        response = await door.send(body)
        assert response.status_code == status, changes
        if told is not None:
            assert told in bot.last_answer(user).text, changes
    await door.assert_nothing_ran()


# -- people who may not ------------------------------------------------------------------------
async def test_someone_outside_the_groups_can_approve_reject_withdraw_or_act_on_nothing(
    bot: Bot, door: Door
) -> None:
    short_id, message = await cancel_asked(bot)
    card = next(a for a in bot.answers_to(ALICE) if "transfer.act" in json.dumps(a.blocks))
    _, view = await open_retry_form(bot)
    await door.snapshot()
    for label in ("Approve", "Reject", "Withdraw"):
        body = bot.slack.click_body(
            find_button(message["blocks"], label), user=DAVE, message=message, channel=CHANNEL
        )
        assert (await door.send(body)).status_code == 200
        assert (
            "Sorry, only" in bot.last_answer(DAVE).text or "who asked" in bot.last_answer(DAVE).text
        )
    for action in ("cancel", "pause"):
        body = bot.slack.click_body(
            find_button(card.blocks, f"transfer.act:{short_id}:{action}"),
            user=DAVE,
            message={"blocks": card.blocks},
            channel=CHANNEL,
        )
        assert (await door.send(body)).status_code == 200
        assert "operators" in bot.last_answer(DAVE).text
    submission = bot.slack.submission_body(values=typed(RIGHT_EPP), user=DAVE, view=view)
    assert (await door.send(submission)).status_code == 200
    assert "operators" in bot.last_answer(DAVE).text
    await door.assert_nothing_ran()
    assert "Waiting for an approver" in bot.text_of(bot.request_message())


# -- too late ------------------------------------------------------------------------------------
async def test_a_form_submitted_again_for_an_expired_request_runs_nothing(
    bot: Bot, door: Door
) -> None:
    _, view = await open_retry_form(bot)
    submission = bot.slack.submission_body(values=typed(RIGHT_EPP), user=ALICE, view=view)
    await bot.slack.post(submission)
    await bot.settle()
    asked = bot.as_seen(bot.request_message())
    bot.now.advance(minutes=31)
    assert len(await expire_due_requests(bot.services)) == 1
    assert "Expired" in bot.text_of(bot.request_message())
    await door.snapshot()

    assert (await door.send(approve_body(bot, asked))).status_code == 200
    assert "expired" in bot.last_answer(BOB).text
    await door.assert_nothing_ran()
    assert (await door.send(submission)).status_code == 200  # the same form, sent again
    await bot.settle()

    hostway = bot.sims["hostway"]
    assert hostway.faults.calls["reset_transfer"] == 0
    async with bot.services.db.session() as session:
        states = [r.state for r in await list_requests(session, limit=10)]
    assert RequestState.EXPIRED.value in states
    assert RequestState.DONE.value not in states and RequestState.RUNNING.value not in states
    verbs = [verb for _, verb in await bot.audit()]
    assert "approved" not in verbs and "ran" not in verbs


# -- helpers ---------------------------------------------------------------------------------
async def open_retry_form(bot: Bot) -> tuple[str, dict[str, Any]]:
    """A Hostway transfer refused for a bad authInfo, and the retry form ALICE opened for it."""
    ref = bot.sims["hostway"].add_transfer(
        "wrong-epp.example", script="bad_auth", age=2 * 3600, correct_auth_info=RIGHT_EPP
    )
    short_id = await bot.watch("hostway-main", ref)
    await bot.command(f"retry {short_id}", user=ALICE)
    return short_id, list(bot.standin.views.values())[-1]


def typed(value: str) -> dict[str, dict[str, str | None]]:
    return {input_block_id("authInfo"): {INPUT_ACTION_ID: value}}
