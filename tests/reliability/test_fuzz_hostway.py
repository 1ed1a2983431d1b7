"""Fuzzing the Hostway reply mappers: status replies of any shape, error bodies, refs and codes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from providers.base import Phase, Transfer
from providers.errors import ProviderError
from providers.hostway.parse import ReplyShapeError, parse_transfer
from providers.hostway.statuses import STATUS_CODES, auth_info_problem, phase_of
from providers.hostway.wire import error_words, normalize_domain, read_error, reset_error

TARGET = "Hostway reply mappers (parse_transfer, error_words, read_error, reset_error)"
WHO = "hostway account 'hostway'"
_PLACES = {"account": "hostway", "domain": "example.com", "account_number": "1234567"}


def _statuses(shapes: Any, planted: str) -> st.SearchStrategy[dict[str, Any]]:
    codes = st.sampled_from(sorted(STATUS_CODES))
    return shapes.shaped(
        {
            "status": codes
            | codes.map(str)
            | shapes.odd_digits()
            | st.integers()
            | shapes.json_values(1),
            "description": st.text(max_size=40) | shapes.json_values(1),
            "canBeReset": st.booleans() | shapes.json_values(1),
            "emailAddress": st.text(max_size=20) | shapes.json_values(1),
            "statusChangeDate": st.sampled_from(
                [
                    "2024-03-01T10:00:00+02:00",
                    "2024-03-01",
                    "2024-02-30T00:00:00Z",
                    "9999-12-31T23:59:59-23:59",
                ]
            )
            | st.text(max_size=30)
            | shapes.json_values(1),
            "authInfo": st.just(planted),
        }
    )


def _replies(shapes: Any, planted: str) -> st.SearchStrategy[Any]:
    status = _statuses(shapes, planted)
    reply = shapes.shaped(
        {
            "status": status | shapes.json_values(2),
            "history": st.lists(status | shapes.json_values(2), max_size=4) | shapes.json_values(2),
        }
    )
    return reply | shapes.json_values()


def test_status_replies_of_any_shape_are_cards_without_the_authinfo_or_shape_errors(
    fuzz, shapes, planted
):
    target = fuzz(TARGET)

    @target.given(_replies(shapes, planted))
    def one(payload: Any) -> None:
        try:
            transfer = parse_transfer(payload, **_PLACES)
        except ReplyShapeError as error:  # documented; the client turns it into BadReply
            target.readable(error, sentence=False)
            target.clean(str(error))
            return
        assert isinstance(transfer, Transfer) and transfer.phase in Phase
        target.clean(repr(transfer))

    one()


def test_a_well_formed_status_gives_the_codes_phase_and_the_reset_it_allows(fuzz, shapes):
    target = fuzz(TARGET)

    @target.given(
        st.sampled_from(sorted(STATUS_CODES)) | st.integers(min_value=0, max_value=10**6),
        st.booleans(),
        st.text(max_size=40),
        st.booleans(),
    )
    def one(code: int, can_be_reset: bool, description: str, as_text: bool) -> None:
        status = {"status": str(code) if as_text else code, "canBeReset": can_be_reset}
        payload = json.loads(json.dumps({"status": {**status, "description": description}}))
        transfer = parse_transfer(payload, **_PLACES)
        assert transfer.raw_code == str(code)
        assert transfer.phase is phase_of(code, can_be_reset=can_be_reset)
        assert ("retry" in transfer.action_names) is can_be_reset
        shown = description.strip()[:500]
        row = STATUS_CODES.get(code)
        assert transfer.raw_text == (shown or (row.description if row else f"status {code}"))

    one()


def test_error_bodies_give_hostways_words_without_the_secret_we_sent(fuzz, shapes, planted):
    target = fuzz(TARGET)
    bodies = shapes.shaped(
        {
            "message": st.builds(
                lambda a, b: f"{a} {planted} {b}", st.text(max_size=10), st.text(max_size=10)
            )
            | shapes.json_values(1),
            "description": st.text(max_size=20),
            "error": shapes.json_values(2),
        }
    ).map(lambda body: json.dumps(body).encode())

    @target.given(
        bodies | st.binary(max_size=300) | shapes.mutated(bodies),
        st.integers(min_value=100, max_value=599),
    )
    def one(body: bytes, status: int) -> None:
        words = error_words(body, secret=planted)
        assert words is None or isinstance(words, str)
        target.clean(words or "")
        errors = [
            read_error(status, who=WHO, detail=words, **_PLACES),
            reset_error(status, who=WHO, detail=words, **_PLACES),
        ]
        for error in errors:
            if error is None:
                assert 200 <= status < 300
                continue
            assert isinstance(error, ProviderError)
            target.readable(error)
            target.clean(error.message, error.detail, repr(error))

    one()


def test_any_ref_is_a_domain_that_normalizes_to_itself_or_none(fuzz, shapes):
    target = fuzz(TARGET)
    refs = shapes.noisy(["example.com", "EXAMPLE.com.", "bücher.de", "xn--bcher-kva.de", "a-.com"])

    @target.given(refs | st.text(max_size=80))
    def one(ref: str) -> None:
        domain = normalize_domain(ref)
        if domain is not None:
            assert domain.isascii() and domain == domain.lower()
            assert normalize_domain(domain) == domain

    one()


def test_a_new_authinfo_is_judged_without_being_repeated(fuzz, planted):
    target = fuzz(TARGET)

    @target.given(st.text(max_size=4), st.integers(0, len(planted)), st.text(max_size=8))
    def one(before: str, length: int, after: str) -> None:
        fragment = planted[:length]
        value = before + fragment + after
        problem = auth_info_problem(value)
        if problem is not None:
            assert "\n" not in problem and problem.endswith(".")
            target.clean(problem, secrets=(fragment,) if length >= 6 else ())
        elif value:
            assert 6 <= len(value) <= 16

    one()
