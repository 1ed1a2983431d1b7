"""JSON from the network (Gandi v5): oversize, deep nesting, wrong content type, not JSON.

Each hostile reply must become one plain BadReply (nothing changed, the token nowhere), read
in bounded time and memory, through the real client path (ProviderHTTP and the v5 reader).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from hypothesis import strategies as st

from providers.base import Transfer
from providers.errors import BadReply, ProviderError
from providers.jsonsafe import MAX_JSON_DEPTH, is_json_type, parse_untrusted_json
from providers.registry import build_provider
from providers.settings import ProviderAccount

PAT = "pat_attack-token-0123456789"
JSON = "application/json"
GOOD = {"step": "WAIT", "params": {"domain": "example.com"}, "foa": []}


def _nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return b'{"step": "WAIT", "deep": ' + opener * depth + closer * depth + b"}"


def _nested_objects(depth: int) -> bytes:
    return b'{"step": "WAIT", "deep": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


ATTACKS: dict[str, tuple[int, str, bytes, str]] = {
    # name: (status, content type, body, what the sentence says)
    "oversize": (200, JSON, json.dumps({**GOOD, "pad": "x" * 400_000}).encode(), "larger than"),
    "oversize past the transport cap": (
        200,
        JSON,
        b'{"a": "' + b"x" * (3 << 20) + b'"}',
        "oversized",
    ),
    "nesting past the cap": (200, JSON, _nested(MAX_JSON_DEPTH + 5), "nested more than"),
    "nesting past the interpreter": (200, JSON, _nested(100_000), "nested more than"),
    "objects nested past the cap": (200, JSON, _nested_objects(100), "nested more than"),
    "wrong content type": (200, "text/html", json.dumps(GOOD).encode(), "web page (text/html)"),
    "no content type": (200, "", json.dumps(GOOD).encode(), "web page (no type)"),
    "xml labelled json": (200, JSON, b"<?xml version='1.0'?><step>WAIT</step>", "not valid JSON"),
    "not utf-8": (200, JSON, b'{"step": "\xff\xfe"}', "not valid JSON"),
    "truncated": (200, JSON, json.dumps(GOOD).encode()[:20], "not valid JSON"),
    "empty": (200, JSON, b"", "not valid JSON"),
    "a bare string": (200, JSON, b'"WAIT"', "not an object"),
    "nan": (200, JSON, b'{"step": NaN}', "without its step"),
}


def _client(answer: Callable[[httpx.Request], httpx.Response]) -> object:
    account = ProviderAccount.model_validate(
        {
            "name": "g5-attack",
            "type": "gandi",
            "api": "v5",
            "base_url": "https://api.gandi.net",
            "secret_env": "GANDI_PAT",
            "secret": PAT,
            "read_retries": 0,
            "rate_limit": 10_000,
        }
    )
    return build_provider(account, transport=httpx.MockTransport(answer))


async def _read(status: int, content_type: str, body: bytes) -> Transfer | ProviderError:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": content_type} if content_type else {}
        return httpx.Response(status, headers=headers, content=body)

    client = _client(answer)
    try:
        return await client.get_transfer("example.com")  # type: ignore[attr-defined,no-any-return]
    except ProviderError as error:
        return error
    finally:
        await client.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(ATTACKS))
async def test_a_hostile_reply_is_one_plain_bad_reply(name) -> None:
    status, content_type, body, words = ATTACKS[name]
    outcome = await _read(status, content_type, body)
    assert isinstance(outcome, BadReply), outcome
    message = outcome.message
    assert words in message, message
    assert message.endswith(".") and "\n" not in message and len(message) < 300
    assert PAT not in message and PAT not in repr(outcome)
    assert not outcome.maybe_applied  # a read changes nothing


async def test_the_harness_is_live_a_good_reply_is_a_transfer() -> None:
    outcome = await _read(200, "application/json; charset=utf-8", json.dumps(GOOD).encode())
    assert isinstance(outcome, Transfer) and outcome.raw_code == "WAIT"


async def test_an_error_reply_that_attacks_too_is_still_one_sentence() -> None:
    outcome = await _read(403, JSON, _nested(200_000))
    assert isinstance(outcome, ProviderError) and "(HTTP 403)" in outcome.message
    outcome = await _read(404, "text/html", b"<html>" + b"x" * 100_000)
    assert isinstance(outcome, ProviderError) and "web page" in outcome.message


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/problem+json", True),
        ("text/json", False),
        ("text/html", False),
        ("application/jsonp", False),
        ("", False),
    ],
)
def test_only_json_content_types_are_read(content_type, ok) -> None:
    assert is_json_type(content_type) is ok


def test_the_depth_cap_counts_every_container() -> None:
    assert parse_untrusted_json(_nested(MAX_JSON_DEPTH - 2)) is not None
    assert parse_untrusted_json(b'{"a": [{"b": 1}]}', max_depth=3) == {"a": [{"b": 1}]}
    with pytest.raises(BadReply, match="nested more than 3 levels"):
        parse_untrusted_json(b'{"a": [{"b": [1]}]}', max_depth=3)


# -- fuzz: the reader alone ---------------------------------------------------------------------
def _deep_json() -> st.SearchStrategy[bytes]:
    """JSON text with nesting near and past the cap, and junk around it."""
    return st.builds(
        lambda depth, opener, tail: (
            opener * depth + b"1" + (b"]" if opener == b"[" else b"}") * depth + tail
        ),
        st.integers(0, 80),
        st.sampled_from([b"[", b'{"a":']),
        st.sampled_from([b"", b",", b"]", b" ", b"\x00"]),
    )


def test_any_bytes_are_a_value_or_one_plain_bad_reply(fuzz, shapes) -> None:
    target = fuzz("Untrusted JSON reader (parse_untrusted_json)")
    valid = shapes.json_values(12).map(lambda v: json.dumps(v).encode())
    bodies = st.binary(max_size=2000) | _deep_json() | valid | shapes.mutated(valid)

    @target.given(bodies)
    def one(body: bytes) -> None:
        try:
            parse_untrusted_json(body, max_bytes=4096, max_depth=16)
        except BadReply as error:
            target.readable(error)

    one()
