"""Fuzzing Gandi's XML-RPC codec, its fault mapping and its operation mapper."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import strategies as st

from providers.base import Phase, Transfer
from providers.errors import BadReply, ProviderError
from providers.gandi.parse import transfer_from_operation
from providers.gandi.statuses import ERROR_IDENTIFIERS, ERROR_PHASES, STEP_PHASES, phase_of
from providers.gandi.wire import error_for_fault
from providers.gandi.xmlrpc import XmlRpcFault, build_call, parse_call, parse_response

CODEC = "Gandi XML-RPC parser (parse_response, parse_call)"
MAPPER = "Gandi operation and fault mappers (transfer_from_operation, error_for_fault)"
_VOCABULARY = ["methodResponse", "methodCall", "methodName", "params", "param", "value"]
_VOCABULARY += ["struct", "member", "name", "array", "data", "fault", "nil", "string", "int"]
_VOCABULARY += ["i4", "i8", "boolean", "double", "dateTime.iso8601", "base64", "x:int"]
_SCALAR_TYPES = ["int", "i4", "i8", "boolean", "double", "dateTime.iso8601", "base64", "string"]
_XML_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]) | st.sampled_from("\t\n"),
    max_size=20,
)


def _read(body: bytes, target: Any) -> None:
    """Both readers over one body: a value, a fault, or BadReply with one readable line."""
    for parse in (parse_response, parse_call):
        try:
            parse(body)
        except BadReply as error:
            target.readable(error)
        except XmlRpcFault as fault:  # documented: a well-formed fault
            assert isinstance(fault.code, int) and isinstance(fault.string, str)
            target.readable(fault, sentence=False)


def _xmlish() -> st.SearchStrategy[bytes]:
    text = _XML_TEXT | st.sampled_from(["&amp;", "&x;", "&#0;", "1", "-7", "1e309", "20240301T10"])

    def element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.builds(
            lambda tag, inner, close: f"<{tag}>{''.join(inner)}" + (f"</{tag}>" if close else ""),
            st.sampled_from(_VOCABULARY),
            st.lists(children, max_size=4),
            st.booleans() | st.just(True),
        )

    return st.builds(
        lambda head, root, encoding: (head + root).encode(encoding, errors="replace"),
        st.sampled_from(["", "<?xml version='1.0'?>", "<?xml version='1.0' encoding='utf-16'?>"]),
        st.recursive(text, element, max_leaves=25),
        st.sampled_from(["utf-8", "utf-16", "latin-1"]),
    )


def _values() -> st.SearchStrategy[Any]:
    """Values the standard library's marshaller can send, as (sent, what we read back)."""
    when = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31))
    scalars = st.one_of(
        st.none().map(lambda v: (v, v)),
        st.booleans().map(lambda v: (v, v)),
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(lambda v: (v, v)),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda v: (v, v)),
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"])).map(
            lambda v: (v, v)
        ),
        st.binary(max_size=20).map(lambda v: (xmlrpc.client.Binary(v), v)),
        when.map(
            lambda v: (
                xmlrpc.client.DateTime(v.replace(microsecond=0)),
                v.replace(microsecond=0, tzinfo=UTC),
            )
        ),
    )

    def containers(kids: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        lists = st.lists(kids, max_size=3).map(
            lambda items: ([s for s, _ in items], [r for _, r in items])
        )
        keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8)
        structs = st.dictionaries(keys, kids, max_size=3).map(
            lambda d: ({k: s for k, (s, _) in d.items()}, {k: r for k, (_, r) in d.items()})
        )
        return lists | structs

    return st.recursive(scalars, containers, max_leaves=15)


def _scalar_text() -> st.SearchStrategy[str]:
    """Text near what each scalar type holds: numbers of any size, dates with any offset."""
    digits = st.integers(min_value=0, max_value=9999).map(lambda n: f"{n:04d}")
    two = st.integers(min_value=0, max_value=99).map(lambda n: f"{n:02d}")
    zone = st.sampled_from(["", "Z", "+", "-"]).flatmap(
        lambda sign: (
            st.just(sign)
            if sign in ("", "Z")
            else st.builds(lambda h, m: f"{sign}{h}:{m}", two, two)
        )
    )
    dates = st.builds(
        lambda y, mo, d, h, mi, s, z: f"{y}{mo}{d}T{h}:{mi}:{s}{z}",
        digits,
        two,
        two,
        two,
        two,
        two,
        zone,
    )
    numbers = st.integers(min_value=-(2**70), max_value=2**70).map(str)
    floats = st.floats().map(repr) | st.from_regex(r"\A[+-]?\d{0,400}(\.\d*)?([eE][+-]?\d{1,4})?\Z")
    return st.one_of(
        dates, numbers, floats, _XML_TEXT, st.sampled_from(["true", "TRUE", "2", "=="])
    )


def _reply_of(value: Any) -> bytes:
    """The reply the standard library's marshaller writes for ``value``."""
    return xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()


# the bodies both readers are given: what they are -> their strategy, from the shapes fixture
BODIES: dict[str, Callable[[Any], st.SearchStrategy[bytes]]] = {
    "random bytes": lambda shapes: st.binary(max_size=3000),
    "xml from the xmlrpc vocabulary": lambda shapes: _xmlish(),
    "near-valid replies": lambda shapes: shapes.mutated(_values().map(lambda p: _reply_of(p[0]))),
}


@pytest.mark.parametrize("bodies", list(BODIES))
def test_any_body_is_a_value_a_fault_or_a_bad_reply(fuzz, shapes, bodies):
    target = fuzz(CODEC)

    @target.given(BODIES[bodies](shapes))
    def one(body: bytes) -> None:
        _read(body, target)

    one()


def test_every_scalar_type_holding_any_text_is_a_value_or_a_bad_reply(fuzz):
    target = fuzz(CODEC)
    escape = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}

    @target.given(
        st.sampled_from(_SCALAR_TYPES),
        _scalar_text(),
        examples=(
            ("dateTime.iso8601", "00010101T00:00:00+05:00"),
            ("dateTime.iso8601", "99991231T23:59:59-05:00"),
            ("i8", str(2**63)),
            ("double", "1e309"),
        ),
    )
    def one(kind: str, text: str) -> None:
        inner = "".join(escape.get(ch, ch) for ch in text)
        body = (
            f"<methodResponse><params><param><value><{kind}>{inner}</{kind}>"
            "</value></param></params></methodResponse>"
        ).encode()
        try:
            value = parse_response(body)
        except BadReply as error:
            target.readable(error)
            return
        if isinstance(value, datetime):
            assert value.tzinfo is not None
        if isinstance(value, int) and not isinstance(value, bool):
            assert -(2**63) <= value < 2**63

    one()


def test_a_reply_marshalled_by_the_standard_library_reads_back(fuzz):
    target = fuzz(CODEC)

    @target.given(_values())
    def one(pair: tuple[Any, Any]) -> None:
        sent, expected = pair
        assert parse_response(_reply_of(sent)) == expected

    one()


def test_faults_read_back_and_map_to_one_sentence_without_the_key(fuzz, planted):
    target = fuzz(MAPPER)
    gandi_words = st.sampled_from(
        [
            "Error on object : OBJECT_OPERATION (CAUSE_NOTFOUND) [no such operation]",
            "Error on object : OBJECT_ACCOUNT (CAUSE_NORIGHT) [Invalid API key]",
            "Error on object : OBJECT_STRING (CAUSE_BADPARAMETER) [%s]",
            "",
        ]
    )
    strings = st.builds(
        lambda words, noise, echo: (words.replace("%s", planted) if echo else words) + noise,
        gandi_words,
        _XML_TEXT,
        st.booleans(),
    )
    codes = st.sampled_from([510150, 530040, 581042, 510042, 500000]) | st.integers(
        min_value=-(2**31), max_value=2**31 - 1
    )

    @target.given(codes, strings)
    def one(code: int, string: str) -> None:
        body = xmlrpc.client.dumps(xmlrpc.client.Fault(code, string)).encode()
        try:
            parse_response(body)
        except XmlRpcFault as fault:
            assert (fault.code, fault.string) == (code, string)
            assert planted not in repr(fault) + str(fault)
            error = error_for_fault(
                fault,
                who="gandi account 'gandi-main'",
                account="gandi-main",
                doing="read operation 40100000",
                ref="40100000",
                secrets=[planted],
            )
            assert isinstance(error, ProviderError)
            target.readable(error)
            target.clean(error.message, error.detail, repr(error))
        else:
            raise AssertionError("a fault was read as a value")

    one()


def test_calls_round_trip_and_a_broken_call_never_echoes_the_api_key(fuzz, shapes, planted):
    target = fuzz(CODEC)
    methods = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.:]{0,30}\Z")
    params = st.lists(_values(), max_size=3)

    @target.given(methods, params, st.data())
    def one(method: str, pairs: list[tuple[Any, Any]], data: st.DataObject) -> None:
        body = build_call(method, [planted, *(sent for sent, _ in pairs)])
        assert parse_call(body) == (method, [planted, *(expected for _, expected in pairs)])
        broken = data.draw(shapes.mutated(st.just(body)))
        try:
            parse_call(broken)
        except BadReply as error:
            target.readable(error)
            target.clean(error.message, error.detail, repr(error))

    one()


def _operations(shapes: Any, planted: str) -> st.SearchStrategy[dict[str, Any]]:
    when = st.datetimes(timezones=st.just(UTC))
    anything = shapes.json_values(3)
    params = shapes.shaped(
        {
            "domain": st.text(max_size=20) | anything,
            "authinfo": st.just(planted),
            "auth_code": st.just(planted),
            "duration": anything,
        }
    )
    return shapes.shaped(
        {
            "id": st.integers(min_value=0, max_value=2**40) | shapes.odd_digits() | anything,
            "type": shapes.noisy(["domain_transfer_in", "domain_renew", "domain_create"]),
            "step": shapes.noisy([*STEP_PHASES, "ERROR"]) | anything,
            "errortype": shapes.noisy([*ERROR_PHASES, *ERROR_IDENTIFIERS])
            | shapes.shaped({"type": st.sampled_from(list(ERROR_PHASES))}),
            "last_error": st.builds(
                lambda a, b: f"{a} authinfo {planted} {b}",
                st.text(max_size=10),
                st.text(max_size=10),
            ),
            "params": params | anything,
            "eta": st.integers() | anything,
            "date_created": when | anything,
            "date_start": when,
            "date_updated": when,
            "infos": st.lists(shapes.shaped({"label": st.text(max_size=10)}), max_size=2),
            "source": st.just(planted) | st.text(max_size=10),
            "session_id": st.integers() | st.just(planted),
        }
    )


def test_operations_of_any_shape_are_cards_without_secrets_or_bad_replies(fuzz, shapes, planted):
    target = fuzz(MAPPER)

    @target.given(_operations(shapes, planted))
    def one(op: dict[str, Any]) -> None:
        try:
            transfer = transfer_from_operation(op, account="gandi-main", secrets=[planted])
        except BadReply as error:
            target.readable(error)
            target.clean(error.message, repr(error))
            return
        assert isinstance(transfer, Transfer) and transfer.phase in Phase
        assert transfer.ref == str(op["id"])
        target.clean(repr(transfer))

    one()


def test_a_well_formed_operation_maps_to_its_steps_phase(fuzz):
    target = fuzz(MAPPER)
    errortypes = st.sampled_from([*ERROR_PHASES, *ERROR_IDENTIFIERS])

    @target.given(
        st.integers(min_value=1, max_value=2**40),
        st.sampled_from([*STEP_PHASES, "ERROR"]),
        errortypes,
        st.sampled_from(["domain_transfer_in", "domain_renew"]),
    )
    def one(op_id: int, step: str, errortype: str, op_type: str) -> None:
        op = {"id": op_id, "step": step, "errortype": errortype, "type": op_type}
        transfer = transfer_from_operation(op, account="gandi-main")
        expected_type = ERROR_IDENTIFIERS.get(errortype, errortype)
        assert transfer.ref == str(op_id)
        assert transfer.phase is phase_of(step, expected_type if step == "ERROR" else None)

    one()
