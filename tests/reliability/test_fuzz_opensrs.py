"""Fuzzing the OpenSRS envelope codec: bytes, XML-ish junk, near-valid envelopes, round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st

from providers.errors import BadReply, InvalidInput
from providers.opensrs.parse import live_from_check, order_from_row, orders_from_listing
from providers.opensrs.wire import (
    build_envelope,
    build_reply,
    build_request,
    parse_envelope,
    parse_reply,
    parse_request,
)

TARGET = "OpenSRS envelope parser (parse_envelope, parse_reply, parse_request)"
PARSERS = (parse_envelope, parse_reply, parse_request)
MAPPER = "OpenSRS order mapper (orders_from_listing, order_from_row, live_from_check)"
_TAGS = ["OPS_envelope", "header", "version", "body", "data_block", "dt_assoc", "dt_array"]
_TAGS += ["item", "dt_scalar", "dt_scalarref", "x"]
_DOCTYPES = [
    "",
    "<!DOCTYPE OPS_envelope SYSTEM 'ops.dtd'>",
    "<!DOCTYPE OPS_envelope>",
    '<!DOCTYPE OPS_envelope SYSTEM "http://127.0.0.1:9/ops.dtd">',
    "<!DOCTYPE OPS_envelope [<!ENTITY a 'b'>]>",
    "<!doctype ops_envelope system 'ops.dtd'",
]


def _xmlish() -> st.SearchStrategy[bytes]:
    """Documents from the envelope's own vocabulary, nested at random, sometimes broken."""
    text = st.text(max_size=8) | st.sampled_from(["&amp;", "&lt;", "&x;", "&#0;", "&#x41;", "]]>"])

    def element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.builds(
            lambda tag, key, inner, close: (
                f"<{tag}{key}>{''.join(inner)}" + (f"</{tag}>" if close else "")
            ),
            st.sampled_from(_TAGS),
            st.sampled_from(["", ' key="a"', ' key="0"', ' key="1"', " key=''", ' key="²"']),
            st.lists(children, max_size=4),
            st.booleans() | st.just(True),
        )

    tree = st.recursive(text, element, max_leaves=25)
    return st.builds(
        lambda head, doctype, root, encoding: (
            head + doctype + "<OPS_envelope>" + root + "</OPS_envelope>"
        ).encode(encoding, errors="replace"),
        st.sampled_from(["", "<?xml version='1.0'?>", '<?xml version="1.0" encoding="UTF-8"?>']),
        st.sampled_from(_DOCTYPES),
        tree,
        st.sampled_from(["utf-8", "utf-16", "latin-1"]),
    )


def _data(keys: st.SearchStrategy[str], scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(
        keys,
        st.recursive(
            scalars,
            lambda kids: st.lists(kids, max_size=3) | st.dictionaries(keys, kids, max_size=3),
            max_leaves=15,
        ),
        max_size=5,
    )


_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_ANY_DATA = _data(st.text(max_size=10), _SCALARS)
_XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=20)
_XML_DATA = _data(
    st.sampled_from(["status", "order_id", "transfers", "total", "0", "1"]),
    st.none() | st.booleans() | st.integers() | _XML_TEXT,
)


def _normal(value: Any) -> Any:
    """What the parser gives back for a value the builder sent."""
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value).strip()


def _read(body: bytes, target: Any, parsers: tuple[Any, ...] = PARSERS) -> list[BadReply]:
    """Each parser over one body: a value, or BadReply with one readable line; the BadReplies."""
    refusals = []
    for parse in parsers:
        try:
            value = parse(body)
        except BadReply as error:
            target.readable(error)
            refusals.append(error)
        else:
            assert value is not None
    return refusals


# the bodies the parsers are given: what they are -> their strategy
BODIES: dict[str, st.SearchStrategy[bytes]] = {
    "random bytes": st.binary(max_size=3000),
    "xml from the envelope vocabulary": _xmlish(),
}


@pytest.mark.parametrize("bodies", list(BODIES))
def test_any_body_is_a_bad_reply_or_a_value(fuzz, bodies):
    target = fuzz(TARGET)

    @target.given(BODIES[bodies])
    def one(body: bytes) -> None:
        _read(body, target)

    one()


def test_near_valid_envelopes_carrying_a_secret_never_echo_it(fuzz, shapes, planted):
    target = fuzz(TARGET)
    secret_items = st.fixed_dictionaries(
        {"reg_password": st.just(planted), "auth_info": st.just(planted)}
    )
    replies = st.builds(
        lambda code, text, attributes, secrets: build_reply(
            "DOMAIN", code, text, {**attributes, **secrets}
        ),
        st.integers(min_value=0, max_value=999),
        _XML_TEXT,
        _XML_DATA,
        secret_items,
    )

    @target.given(shapes.mutated(replies))
    def one(body: bytes) -> None:
        for error in _read(body, target):
            target.clean(error.message, error.detail, repr(error))

    one()


def test_envelopes_with_odd_numbers_where_numbers_belong_are_bad_replies_or_values(fuzz, shapes):
    target = fuzz(TARGET)
    lists = st.builds(
        lambda code, rows: build_reply("DOMAIN", code, "ok", {"transfers": rows}),
        st.integers(min_value=0, max_value=999),
        st.lists(_XML_TEXT, min_size=1, max_size=3),
    )

    def renumber(body: bytes, index: str, code: str) -> bytes:
        body = body.replace(b'key="0"', f'key="{index}"'.encode())
        start = body.index(b'"response_code">') + len(b'"response_code">')
        return body[:start] + code.encode() + body[body.index(b"<", start) :]

    @target.given(st.builds(renumber, lists, shapes.odd_digits(), shapes.odd_digits()))
    def one(body: bytes) -> None:
        _read(body, target, (parse_envelope, parse_reply))

    one()


def test_an_envelope_built_from_any_data_parses_back_to_it(fuzz):
    target = fuzz(TARGET)

    @target.given(_ANY_DATA)
    def one(data: dict[str, Any]) -> None:
        try:
            body = build_envelope(data)
        except InvalidInput as error:  # documented: characters XML cannot carry
            target.readable(error)
            return
        assert parse_envelope(body) == _normal(data)

    one()


def test_replies_and_requests_round_trip(fuzz):
    target = fuzz(TARGET)

    @target.given(
        _XML_TEXT.filter(str.strip), st.integers(min_value=0, max_value=999), _XML_TEXT, _ANY_DATA
    )
    def one(word: str, code: int, text: str, attributes: dict[str, Any]) -> None:
        try:
            reply_body = build_reply(word, code, text, attributes)
            request_body = build_request(word, word, attributes)
        except InvalidInput as error:
            target.readable(error)
            return
        reply = parse_reply(reply_body)
        assert (reply.is_success, reply.response_code) == (code == 200, code)
        assert (reply.object, reply.response_text) == (word.strip(), text.strip())
        assert reply.attributes == _normal(attributes)
        request = parse_request(request_body)
        assert (request.action, request.object) == (word.strip().upper(), word.strip().upper())
        assert request.attributes == _normal(attributes)

    one()


def test_order_listings_of_any_shape_are_orders_or_bad_replies(fuzz, shapes):
    target = fuzz(MAPPER)
    row = shapes.shaped(
        {
            "order_id": shapes.odd_digits() | shapes.json_values(2),
            "domain": st.text(max_size=20) | shapes.json_values(2),
            "status": shapes.noisy(["pending_owner", "pending_registry", "cancelled", "completed"]),
            "order_date_epoch": shapes.odd_digits() | shapes.json_values(1),
            "order_date": st.text(max_size=20),
            "completed_date_epoch": shapes.odd_digits(),
            "completed_date": st.sampled_from(["2024-02-30 10:00:00", "9999-12-31 23:59:59"]),
        }
    )
    listing = shapes.shaped(
        {
            "transfers": st.lists(row, max_size=4) | shapes.json_values(3),
            "total": shapes.odd_digits() | shapes.json_values(1),
        }
    )

    @target.given(listing, shapes.shaped({"status": st.text(max_size=10)}))
    def one(attributes: dict[str, Any], check: dict[str, Any]) -> None:
        try:
            orders, total = orders_from_listing(attributes)
        except BadReply as error:
            target.readable(error)
        else:
            assert total >= 0 and all(order.order_id.isdigit() for order in orders)
        try:
            live_from_check(check | {"unixtime": attributes.get("total", "")})
        except BadReply as error:
            target.readable(error)
        rows = attributes.get("transfers")
        for item in rows if isinstance(rows, list) else []:
            try:
                order_from_row(item)
            except BadReply as error:
                target.readable(error)

    one()
