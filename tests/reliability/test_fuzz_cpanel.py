"""Fuzzing the cPanel WHM reply mappers: the envelope, the state, master.log and the analysis."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from providers.base import Phase, Transfer
from providers.cpanel.parse import build_transfer, parse_contents, parse_log, subject_of
from providers.cpanel.statuses import STATE_NUMBERS, STATES
from providers.cpanel.wire import error_for_reason, read_envelope, read_state
from providers.errors import BadReply, ProviderError

TARGET = (
    "cPanel reply mappers (read_envelope, read_state, parse_log, parse_contents, build_transfer)"
)
WHO = "cpanel account 'whm-east'"
_CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/html",
    "",
    "text/plain",
]
_LOG_ACTIONS = ["start", "complete", "start-item", "success-item", "failed-item", "warning-item"]
_LOG_ACTIONS += ["skipped-item", "version", "queue_count", "remotehost", "control", "message"]


def _envelope(
    body: bytes, content_type: str, target: Any
) -> tuple[bool, str, dict[str, Any]] | None:
    """The client's own path over one reply: the envelope, then its reason as an error."""
    try:
        ok, reason, data = read_envelope(
            body, content_type=content_type, who=WHO, account="whm-east", function="get_state"
        )
    except BadReply as error:
        target.readable(error)
        return None
    assert isinstance(ok, bool) and isinstance(data, dict)
    assert reason and "\n" not in reason and len(reason) <= 300
    if not ok:
        error = error_for_reason(
            reason, who=WHO, account="whm-east", function="get_state", session_id="s1"
        )
        assert isinstance(error, ProviderError)
        target.readable(error)
    return ok, reason, data


def _replies(shapes: Any) -> st.SearchStrategy[bytes]:
    """JSON shaped like WHM API 1 replies, with random types in every field."""
    metadata = shapes.shaped(
        {
            "result": st.sampled_from([0, 1, "0", "1", True, False, 2, None, "OK"]),
            "reason": shapes.noisy(["OK.", "The system failed to “pause” the transfer session."])
            | shapes.json_values(2),
            "version": shapes.json_values(1),
            "command": st.text(max_size=10),
            "output": shapes.json_values(3),
        }
    )
    data = shapes.shaped(
        {
            "state_name": shapes.noisy([*STATES, *map(str, STATE_NUMBERS)]) | shapes.json_values(2),
            "state": st.sampled_from(list(STATE_NUMBERS)) | shapes.json_values(1),
            "log": st.text(max_size=50),
            "pid": shapes.json_values(1),
        }
    )
    reply = shapes.shaped(
        {"metadata": metadata | shapes.json_values(2), "data": data | shapes.json_values(2)}
    )
    return st.one_of(
        reply.map(lambda r: json.dumps(r).encode()),
        shapes.json_values().map(lambda r: json.dumps(r).encode()),
        shapes.mutated(reply.map(lambda r: json.dumps(r).encode())),
    )


def _log_lines(shapes: Any) -> st.SearchStrategy[str]:
    contents = shapes.shaped(
        {
            "action": shapes.noisy(_LOG_ACTIONS) | shapes.json_values(1),
            "msg": shapes.json_values(3) | shapes.shaped({"failure": shapes.json_values(2)}),
            "time": st.integers(min_value=-(2**64), max_value=2**64)
            | st.floats()
            | st.text(max_size=12)
            | shapes.json_values(1),
            "queue": shapes.noisy(["TRANSFER", "RESTORE"]) | shapes.json_values(1),
            "item": st.text(max_size=20) | shapes.json_values(1),
            "item_name": shapes.json_values(1),
        }
    )
    record = shapes.shaped({"contents": contents | shapes.json_values(2)})
    line = st.one_of(
        record.map(lambda r: json.dumps(r, allow_nan=True)),
        st.text(max_size=40),
        st.sampled_from(["NaN", "[1,", '{"contents": Infinity}', "1e999999"]),
    )
    return st.lists(line, max_size=14).map("\n".join)


def test_random_bytes_are_envelopes_or_bad_replies(fuzz):
    target = fuzz(TARGET)

    @target.given(st.binary(max_size=2000), st.sampled_from(_CONTENT_TYPES))
    def one(body: bytes, content_type: str) -> None:
        _envelope(body, content_type, target)

    one()


def test_replies_shaped_like_whm_are_envelopes_with_states_or_bad_replies(fuzz, shapes):
    target = fuzz(TARGET)

    @target.given(
        _replies(shapes),
        st.sampled_from(_CONTENT_TYPES),
        examples=((b'{"metadata": {"result": 0, "reason": " "}}', "application/json"),),
    )
    def one(body: bytes, content_type: str) -> None:
        split = _envelope(body, content_type, target)
        if split is None or not split[0]:
            return
        try:
            raw = read_state(split[2], who=WHO, account="whm-east")
        except BadReply as error:
            target.readable(error)
            return
        assert raw and "\n" not in raw
        transfer = build_transfer(account="whm-east", ref="s1", raw_state=raw)
        assert isinstance(transfer, Transfer) and transfer.phase in Phase

    one()


def test_a_well_formed_state_reply_gives_the_states_phase(fuzz):
    target = fuzz(TARGET)
    names = st.sampled_from(list(STATES))

    @target.given(names, st.booleans(), st.sampled_from(["", " ", "  "]), st.booleans())
    def one(name: str, lower: bool, pad: str, as_number: bool) -> None:
        numbers = {state: number for number, state in STATE_NUMBERS.items()}
        raw: str | int = numbers[name] if as_number and name in numbers else name
        if isinstance(raw, str):
            raw = pad + (raw.lower() if lower else raw) + pad
        body = json.dumps({"metadata": {"result": 1, "reason": "OK."}, "data": {"state_name": raw}})
        split = _envelope(body.encode(), "application/json", target)
        assert split is not None and split[0]
        state = read_state(split[2], who=WHO, account="whm-east")
        assert (
            build_transfer(account="whm-east", ref="s1", raw_state=state).phase
            is STATES[name].phase
        )

    one()


def test_any_master_log_gives_a_short_history_and_never_fails(fuzz, shapes):
    target = fuzz(TARGET)

    @target.given(_log_lines(shapes) | st.text(max_size=300))
    def one(text: str) -> None:
        history = parse_log(text)
        assert len(history) <= 10
        for entry in history:
            assert "\n" not in entry.raw_text and "\n" not in entry.raw_code
            assert entry.at is None or entry.at.tzinfo is not None
        transfer = build_transfer(
            account="whm-east", ref="s1", raw_state="RUNNING", history=history
        )
        assert transfer.history == history

    one()


def test_a_completed_record_reads_back_with_its_time(fuzz):
    target = fuzz(TARGET)

    @target.given(
        st.integers(min_value=0, max_value=2**33), st.lists(st.text(max_size=20), max_size=3)
    )
    def one(when: int, noise: list[str]) -> None:
        record = json.dumps({"contents": {"action": "complete", "time": when}})
        history = parse_log("\n".join([*noise, record]))
        assert history[-1].raw_code == "complete" and history[-1].phase is Phase.COMPLETED
        assert history[-1].at == datetime.fromtimestamp(when, tz=UTC)

    one()


def test_any_remote_analysis_gives_contents_and_never_fails(fuzz, shapes):
    target = fuzz(TARGET)
    account = shapes.shaped(
        {
            "user": st.text(max_size=10) | shapes.json_values(1),
            "domain": st.text(max_size=10),
            "size": st.integers() | st.floats(allow_nan=False) | shapes.json_values(1),
        }
    )
    accounts = st.lists(account | shapes.json_values(2), max_size=8) | st.dictionaries(
        st.text(max_size=8), account | shapes.json_values(1), max_size=4
    )
    analysis = shapes.shaped(
        {
            "items": shapes.shaped({"accounts": accounts, "packages": shapes.json_values(3)})
            | shapes.json_values(2),
            "remote": shapes.shaped({"hostname": shapes.json_values(1)}) | shapes.json_values(1),
            "accounts": accounts,
        }
    )

    @target.given(analysis)
    def one(data: dict[str, Any]) -> None:
        contents = parse_contents(data)
        subject = subject_of(contents)
        transfer = build_transfer(
            account="whm-east", ref="s1", raw_state="PAUSED", contents=contents
        )
        assert transfer.subject == (subject or "s1")
        assert all("\n" not in value for value in transfer.details.values())

    one()


def test_any_raw_state_is_a_safe_card(fuzz, shapes):
    target = fuzz(TARGET)

    @target.given(
        shapes.noisy([*STATES, *map(str, STATE_NUMBERS)]) | st.text(),
        examples=(("\u00b2",), ("00",)),  # "00" is the stored number 0, as "0" is
    )
    def one(raw: str) -> None:
        transfer = build_transfer(account="whm-east", ref="s1", raw_state=raw)
        assert transfer.phase in Phase
        key = raw.strip()
        number = key.isascii() and key.isdigit() and int(key) in STATE_NUMBERS
        known = key.upper() in STATES or number
        if not known:  # an unknown state is still moving, with nothing offered
            assert transfer.phase is Phase.ACTIVE and transfer.actions == ()

    one()
