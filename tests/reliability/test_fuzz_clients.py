"""Fuzzing each provider client end to end: random replies through its real HTTP layer.

The replies come through an injected ``httpx.MockTransport`` (no sockets, so hypothesis can
try hundreds per client), past ProviderHTTP's caps and error mapping, into the client's own
parsing. A read either gives a Transfer or raises one ProviderError with one readable
sentence; the account's secret, which the replies echo in their error texts, shows nowhere.
"""

from __future__ import annotations

import asyncio
import json
import re
import xmlrpc.client
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import strategies as st

from providers.base import Transfer
from providers.cpanel.statuses import STATE_NUMBERS, STATES
from providers.errors import ProviderError
from providers.gandi.statuses import ERROR_IDENTIFIERS, STEP_PHASES
from providers.hostway.statuses import STATUS_CODES
from providers.opensrs.wire import build_reply
from providers.registry import build_provider
from providers.settings import ProviderAccount

# 429 and OpenSRS's 300/310 are left out: the client rightly pauses the account for the
# Retry-After (a second at least), which would make each example a real wait; the shared
# contract suite covers rate limiting.
_STATUSES = [200, 200, 200, 200, 403, 404, 409, 500, 502, 503, 301, 418]
_TYPES = {
    "cpanel": "application/json",
    "hostway": "application/json",
    "opensrs": "text/xml",
    "gandi": "text/xml",
    "gandi_v5": "application/json",
}
REFS = {
    "cpanel": "exampleservercopya20140206192428NtyW",
    "hostway": "example.com",
    "opensrs": "12345",
    "gandi": "40100000",
    "gandi_v5": "example.com",
}


def _account(kind: str, secret: str) -> ProviderAccount:
    extra = {"cpanel": {"username": "root"}, "opensrs": {"username": "reseller"}}
    return ProviderAccount.model_validate(
        {
            "name": f"{kind}-fuzz",
            "type": kind,
            "base_url": "https://provider.invalid",
            "secret_env": "UNUSED",
            "secret": secret,
            "read_retries": 0,
            "rate_limit": 10_000,
            "timeout": 5,
            **({"account_number": "1234567"} if kind == "hostway" else {}),
            **extra.get(kind, {}),
        }
    )


_XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)


def _echo(
    planted: str, words: st.SearchStrategy[str] = st.text(max_size=12)
) -> st.SearchStrategy[str]:
    """Provider words, sometimes echoing the credential we sent (servers do)."""
    return st.builds(
        lambda before, echo, after: f"{before}{' ' + planted + ' ' if echo else ''}{after}",
        words,
        st.booleans(),
        words,
    )


def _cpanel(shapes: Any, planted: str) -> st.SearchStrategy[bytes]:
    data = shapes.shaped(
        {
            "state_name": shapes.noisy([*STATES, *map(str, STATE_NUMBERS)]) | shapes.json_values(1),
            "log": st.lists(
                shapes.shaped(
                    {
                        "contents": shapes.shaped(
                            {"action": st.text(max_size=8), "time": st.integers()}
                        )
                    }
                ).map(json.dumps),
                max_size=3,
            ).map("\n".join),
            "items": shapes.json_values(3),
        }
    )
    reply = shapes.shaped(
        {
            "metadata": shapes.shaped(
                {"result": st.sampled_from([0, 1, "1", True, None]), "reason": _echo(planted)}
            ),
            "data": data | shapes.json_values(2),
        }
    )
    return reply.map(lambda r: json.dumps(r).encode())


def _hostway(shapes: Any, planted: str) -> st.SearchStrategy[bytes]:
    status = shapes.shaped(
        {
            "status": st.sampled_from(sorted(STATUS_CODES))
            | shapes.odd_digits()
            | shapes.json_values(1),
            "description": st.text(max_size=20),
            "canBeReset": st.booleans(),
            "statusChangeDate": st.sampled_from(["2024-03-01T10:00:00+02:00", "junk"]),
            "authInfo": st.just(planted),
        }
    )
    reply = shapes.shaped(
        {
            "status": status,
            "history": st.lists(status, max_size=3),
            "message": _echo(planted),
        }
    )
    return reply.map(lambda r: json.dumps(r).encode())


def _opensrs(shapes: Any, planted: str) -> st.SearchStrategy[bytes]:
    # No echo here: the OpenSRS key never leaves us (only the signature of a body does).
    row = shapes.shaped(
        {
            "order_id": st.integers(1, 10**7).map(str),
            "domain": st.sampled_from(["example.com", ""]),
            "status": st.sampled_from(["pending_owner", "cancelled", "completed", "x"]),
            "order_date_epoch": st.integers(0, 2**33).map(str),
        },
        extra=False,
    )
    attributes = shapes.shaped(
        {
            "transfers": st.lists(row, max_size=3),
            "total": st.integers(0, 5).map(str) | shapes.odd_digits(),
            "status": st.sampled_from(
                ["pending_owner", "pending_registry", "cancelled", "completed"]
            ),
            "reason": _XML_TEXT,
            "transferrable": st.sampled_from(["0", "1"]),
            "unixtime": st.integers(0, 2**33).map(str),
        },
        extra=False,
    )
    return st.builds(
        lambda code, text, attrs: build_reply("DOMAIN", code, text, attrs),
        st.sampled_from([200, 200, 200, 400, 410, 415, 435, 480, 486, 487, 999]),
        _XML_TEXT,
        attributes,
    )


def _gandi(shapes: Any, planted: str) -> st.SearchStrategy[bytes]:
    words = _echo(planted, _XML_TEXT)
    op = shapes.shaped(
        {
            "id": st.just(40100000),
            "step": st.sampled_from([*STEP_PHASES, "ERROR"]),
            "type": st.sampled_from(["domain_transfer_in", "domain_renew"]),
            "errortype": st.sampled_from(list(ERROR_IDENTIFIERS)),
            "last_error": words,
            "params": st.fixed_dictionaries(
                {"domain": st.just("example.com"), "authinfo": st.just(planted)}
            ),
            "date_updated": st.datetimes().map(
                lambda d: xmlrpc.client.DateTime(d.replace(tzinfo=None))
            ),
        },
        extra=False,
    )
    value = st.one_of(op, st.lists(op, max_size=2), st.integers(0, 3))
    fault = st.builds(
        lambda code, text: xmlrpc.client.Fault(code, text),
        st.sampled_from([510150, 510042, 581042, 1]),
        words,
    )
    # dates at the ends of the calendar, with an offset (Gandi's are zone-less, others aren't)
    response = st.builds(
        lambda v, year, zone: re.sub(
            r"(<dateTime.iso8601>)\d{4}([^<]*)<",
            rf"\g<1>{year}\g<2>{zone}<",
            xmlrpc.client.dumps((v,), methodresponse=True),
        ),
        value,
        st.sampled_from(["2024", "0001", "9999"]),
        st.sampled_from(["", "Z", "+05:00", "-05:00"]),
    )
    return (response | fault.map(xmlrpc.client.dumps)).map(str.encode)


def _gandi_v5(shapes: Any, planted: str) -> st.SearchStrategy[bytes]:
    """The v5 follow-up (api.gandi.net/docs/domains/), and its JSON errors echoing the token."""
    foa = shapes.shaped(
        {
            "email": st.sampled_from(["owner@example.org", "", planted]),
            "answer": st.sampled_from([None, "T", "F", "", "maybe"]) | shapes.json_values(1),
        }
    )
    follow_up = shapes.shaped(
        {
            "step": st.sampled_from([*STEP_PHASES, "ERROR", "wait", ""]) | shapes.json_values(1),
            "step_nb": st.integers(-3, 9) | shapes.json_values(1),
            "errortype": st.sampled_from([*ERROR_IDENTIFIERS, "client_recoverable", "fatal"]),
            "errortype_label": _echo(planted),
            "foa": st.lists(foa, max_size=3) | shapes.json_values(1),
            "params": shapes.shaped({"domain": st.sampled_from(["example.com", planted])}),
            "updated_at": st.sampled_from(
                [
                    "2024-03-01T10:00:00Z",
                    "0001-01-01T00:00:00+05:00",
                    "9999-12-31T23:59:59-05:00",
                    "junk",
                ]
            ),
        }
    )
    error = shapes.shaped({"code": st.integers(400, 599), "message": _echo(planted)})
    return (follow_up | error).map(lambda r: json.dumps(r).encode())


_REPLIES = {"cpanel": _cpanel, "hostway": _hostway, "opensrs": _opensrs, "gandi": _gandi,
            "gandi_v5": _gandi_v5}  # fmt: skip


def _pinned_gandi_date(when: str) -> bytes:
    op = {"id": 40100000, "step": "RUN", "type": "domain_transfer_in", "date_updated": "@"}
    text = xmlrpc.client.dumps((op,), methodresponse=True)
    return text.replace(
        "<string>@</string>", f"<dateTime.iso8601>{when}</dateTime.iso8601>"
    ).encode()


def _pinned_opensrs_list_index(index: str) -> bytes:
    body = build_reply("DOMAIN", 200, "ok", {"total": "1", "transfers": ["x"]})
    return body.replace(b'<item key="0">', f'<item key="{index}">'.encode())


def _pinned_cpanel(analysis: str) -> list[tuple[int, str, bytes]]:
    state = b'{"metadata": {"result": 1, "reason": "OK"}, "data": {"state_name": "RUNNING"}}'
    log = b'{"metadata": {"result": 1, "reason": "OK"}, "data": {"log": ""}}'
    items = f'{{"metadata": {{"result": 1}}, "data": {analysis}}}'.encode()
    return [(200, "application/json", body) for body in (state, log, items)]


# Edge cases always tried first, one answer list each: numbers only str.isdigit() accepts,
# dates at the ends of the calendar with an offset, sizes JSON can't really hold, and an
# error message echoing the credential we sent.
def _pinned(kind: str, planted: str) -> tuple[tuple[list[tuple[int, str, bytes]]], ...]:
    json_type, xml_type = "application/json", "text/xml"
    cases: dict[str, list[list[tuple[int, str, bytes]]]] = {
        "cpanel": [
            _pinned_cpanel('{"items": {"accounts": [{"user": "a", "size": Infinity}]}}'),
            [(200, json_type, b'{"metadata": {"result": 1}, "data": {"state_name": "\\u00b2"}}')],
        ],
        "hostway": [
            [(200, json_type, b'{"status": {"status": "\\u2460"}}')],
            [(403, json_type, json.dumps({"message": f"bad token {planted}"}).encode())],
        ],
        "opensrs": [
            [(200, xml_type, build_reply("DOMAIN", 200, "ok", {"total": "\u00b2"}))],
            [(200, xml_type, _pinned_opensrs_list_index("\u00b2"))],
        ],
        "gandi": [
            [(200, xml_type, _pinned_gandi_date("00010101T00:00:00+05:00"))],
            [(200, xml_type, _pinned_gandi_date("99991231T23:59:59-05:00"))],
        ],
        "gandi_v5": [
            [(200, json_type, b'{"step": "WAIT", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}")],
            [(200, json_type, b'{"step": "RUN", "pad": "' + b"x" * 300_000 + b'"}')],
            [(403, json_type, json.dumps({"message": f"token {planted} refused"}).encode())],
            [(200, json_type, b'{"step": "WAIT", "foa": [{"email": "a@b", "answer": 1e999}]}')],
        ],
    }
    return tuple((answers,) for answers in cases[kind])


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


async def _read(kind: str, planted: str, answers: list[tuple[int, str, bytes]]) -> list[object]:
    """get_transfer (and list_transfers where the provider lists) against the given answers."""
    served = iter(answers * 20)

    def answer(request: httpx.Request) -> httpx.Response:
        status, content_type, body = next(served)
        return httpx.Response(status, headers={"content-type": content_type}, content=body)

    client = build_provider(_account(kind, planted), transport=httpx.MockTransport(answer))
    outcomes: list[object] = []
    try:
        reads: list[Callable[[], Awaitable[object]]] = [
            lambda: client.get_transfer(REFS[kind], detailed=True)
        ]
        if client.capabilities.can_list:
            reads.append(client.list_transfers)
        for read in reads:
            try:
                outcomes.append(await read())
            except ProviderError as error:
                outcomes.append(error)
    finally:
        await client.aclose()
    return outcomes


@pytest.mark.parametrize("kind", list(_REPLIES))
def test_a_client_reads_any_reply_as_a_transfer_or_one_plain_error(
    fuzz, shapes, planted, loop, kind
):
    shown = {"cpanel": "cPanel", "hostway": "Hostway", "opensrs": "OpenSRS", "gandi": "Gandi",
             "gandi_v5": "Gandi v5"}  # fmt: skip
    target = fuzz(f"{shown[kind]} client end to end (get_transfer, list_transfers)")
    answer = st.tuples(
        st.sampled_from(_STATUSES),
        st.sampled_from([_TYPES[kind], _TYPES[kind], "text/html", ""]),
        _REPLIES[kind](shapes, planted) | shapes.mutated(_REPLIES[kind](shapes, planted)),
    )

    @target.given(st.lists(answer, min_size=1, max_size=3), examples=_pinned(kind, planted))
    def one(answers: list[tuple[int, str, bytes]]) -> None:
        for outcome in loop.run_until_complete(_read(kind, planted, answers)):
            if isinstance(outcome, ProviderError):
                target.readable(outcome)
                target.clean(outcome.message, outcome.detail, repr(outcome))
            else:
                transfers = outcome if isinstance(outcome, list) else [outcome]
                assert all(isinstance(t, Transfer) for t in transfers)
                target.clean(repr(outcome))

    one()


def test_the_answers_reach_the_client(loop, planted):
    """The harness is live: a well-formed Gandi answer becomes a card."""
    op = {
        "id": 40100000,
        "step": "RUN",
        "type": "domain_transfer_in",
        "params": {"domain": "a.com"},
    }
    body = xmlrpc.client.dumps((op,), methodresponse=True).encode()
    transfer = loop.run_until_complete(_read("gandi", planted, [(200, "text/xml", body)]))[0]
    assert isinstance(transfer, Transfer) and transfer.subject == "a.com"
