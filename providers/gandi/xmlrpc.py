"""XML-RPC over ProviderHTTP: build method calls, read replies and faults from untrusted XML."""

from __future__ import annotations

import base64
import binascii
import logging
import math
import re
import xmlrpc.client
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import httpx
from lxml import etree

from providers.errors import BadReply, ProviderError
from providers.http import ProviderHTTP, unknown_outcome
from providers.xmlsafe import parse_untrusted_xml

__all__ = [
    "MAX_NESTING",
    "MAX_REPLY_BYTES",
    "MAX_VALUES",
    "XmlRpcEndpoint",
    "XmlRpcFault",
    "build_call",
    "parse_call",
    "parse_response",
]

logger = logging.getLogger(__name__)

MAX_REPLY_BYTES = 1024 * 1024  # a page of 100 operations is a few hundred KiB at most
MAX_NESTING = 16  # structs and arrays inside each other; Gandi's replies use four
MAX_VALUES = 100_000
_I8 = 2**63
_METHOD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:]{0,99}$")
_INT = re.compile(r"^[+-]?\d{1,20}$")
_DOUBLE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?$")
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_ENCODINGS = {b"utf-8", b"utf8", b"us-ascii", b"ascii", b"iso-8859-1", b"latin1", b"latin-1"}
_DATETIME = re.compile(
    r"^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(\.\d{1,9})?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


class XmlRpcFault(Exception):
    """A fault the server answered with. ``string`` may echo what we sent: scrub it before use."""

    def __init__(self, code: int, string: str) -> None:
        self.code = code
        self.string = string
        super().__init__(f"XML-RPC fault {code}")

    def __repr__(self) -> str:
        return f"XmlRpcFault({self.code})"


# -- building ---------------------------------------------------------------------------
def build_call(method: str, params: Sequence[object]) -> bytes:
    """A methodCall document; the standard library's marshaller is fine for building."""
    if not _METHOD.match(method):
        raise ValueError(f"{method!r} is not an XML-RPC method name")
    values: tuple[Any, ...] = tuple(params)
    text = xmlrpc.client.dumps(values, methodname=method, encoding="utf-8", allow_none=True)
    return text.encode("utf-8")


# -- reading ----------------------------------------------------------------------------
def parse_response(body: bytes, *, what: str = "The reply") -> object:
    """The value of a methodResponse; raises XmlRpcFault for a fault, BadReply for anything else."""
    root = _root(body, what)
    if _local(root) != "methodResponse":
        raise _bad(what, "it is not an XML-RPC methodResponse")
    children = list(root)
    if len(children) != 1:
        raise _bad(what, "it holds neither exactly one result nor a fault")
    decoder = _Decoder(what)
    part = children[0]
    if _local(part) == "fault":
        raise _fault(decoder, part, what)
    if _local(part) != "params":
        raise _bad(what, f"it holds an unexpected <{_local(part)}>")
    params = decoder.params(part)
    if len(params) != 1:
        raise _bad(what, f"it holds {len(params)} results instead of one")
    return params[0]


def parse_call(body: bytes, *, what: str = "The call") -> tuple[str, list[object]]:
    """The method name and parameters of a methodCall (the simulator's side of the wire)."""
    root = _root(body, what)
    if _local(root) != "methodCall":
        raise _bad(what, "it is not an XML-RPC methodCall")
    name = next((n for n in root if _local(n) == "methodName"), None)
    method = (name.text or "").strip() if name is not None else ""
    if not _METHOD.match(method):
        raise _bad(what, "it names no valid method")
    params = next((n for n in root if _local(n) == "params"), None)
    return method, (_Decoder(what).params(params) if params is not None else [])


def _root(body: bytes, what: str) -> etree._Element:
    _screen(body, what)
    return parse_untrusted_xml(body, what=what, max_bytes=MAX_REPLY_BYTES)


def _screen(body: bytes, what: str) -> None:
    """Refuse before lxml sees it: any DOCTYPE, and encodings a byte scan could be fooled by.

    XML-RPC never carries a DOCTYPE, and libxml2 opens a local file named as an external
    DTD even with DTD loading off (a FIFO there would block the event loop for good).
    """
    head = body.removeprefix(b"\xef\xbb\xbf")
    if b"\x00" in head or not head.lstrip().startswith(b"<"):
        raise BadReply(f"{what} is not XML we can read.")
    declared = _ENCODING.match(head)
    if declared and declared.group(1).lower() not in _ENCODINGS:
        raise BadReply(f"{what} uses an encoding we do not read; it was not read.")
    if b"<!doctype" in head.lower():
        raise BadReply(f"{what} carries a DOCTYPE, which XML-RPC never does; it was not read.")


def _fault(decoder: _Decoder, part: etree._Element, what: str) -> Exception:
    values = [n for n in part if _local(n) == "value"]
    if len(values) != 1:
        return _bad(what, "its fault holds no value")
    fault = decoder.value(values[0], 0)
    if not isinstance(fault, dict):
        return _bad(what, "its fault is not a struct")
    code, string = fault.get("faultCode"), fault.get("faultString", "")
    if isinstance(code, bool) or not isinstance(code, int) or not isinstance(string, str):
        return _bad(what, "its fault has no numeric faultCode and text faultString")
    return XmlRpcFault(code, string)


def _local(node: etree._Element) -> str:
    tag = node.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1] if "}" in tag else tag


def _bad(what: str, reason: str) -> BadReply:
    return BadReply(f"{what} is not XML-RPC we can read: {reason}.")


def _tag(node: etree._Element) -> str:
    """``_local`` for the common case: a plain tag is used as it is."""
    tag = node.tag
    return tag if tag.__class__ is str and "}" not in tag else _local(node)


class _Decoder:
    """Turns <value> elements into Python values, counting them and bounding their nesting.

    Every Gandi poll's reply passes through here (about a hundred elements), so the
    usual shapes (a member of exactly <name> and <value>, an array of one <data>) are
    read without building lists; anything else takes the general path.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0

    def params(self, node: etree._Element) -> list[object]:
        result = []
        for param in node:
            if _tag(param) != "param":
                raise _bad(self.what, f"its params hold an unexpected <{_local(param)}>")
            values = [n for n in param if _tag(n) == "value"]
            if len(values) != 1:
                raise _bad(self.what, "a param holds no single value")
            result.append(self.value(values[0], 0))
        return result

    def value(self, node: etree._Element, depth: int) -> object:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _bad(self.what, f"it holds more than {MAX_VALUES} values")
        if depth > MAX_NESTING:
            raise _bad(self.what, f"it nests structs and arrays more than {MAX_NESTING} deep")
        size = len(node)
        if not size:
            return node.text or ""  # an untyped value is a string
        text = node.text
        if size > 1 or (text and not text.isspace()):
            raise _bad(self.what, "a value holds more than one thing")
        typed = node[0]
        kind = _tag(typed)
        if kind == "struct":
            return self.struct(typed, depth + 1)
        if kind == "array":
            return self.array(typed, depth + 1)
        if kind == "nil":
            return None
        reader = _SCALARS.get(kind)
        if reader is None:
            raise _bad(self.what, f"a value has the unknown type <{kind}>")
        if len(typed):
            raise _bad(self.what, f"a <{kind}> holds elements")
        try:
            return reader(typed.text or "")
        except ValueError:
            raise _bad(self.what, f"a <{kind}> holds something that is not one") from None

    def struct(self, node: etree._Element, depth: int) -> dict[str, object]:
        result: dict[str, object] = {}
        for member in node:
            if _tag(member) != "member":
                raise _bad(self.what, f"a struct holds an unexpected <{_local(member)}>")
            if len(member) == 2:
                name, value = member[0], member[1]
                if _tag(name) == "name" and _tag(value) == "value":
                    result[name.text or ""] = self.value(value, depth)
                    continue
            names = [n for n in member if _tag(n) == "name"]
            values = [n for n in member if _tag(n) == "value"]
            if len(names) != 1 or len(values) != 1:
                raise _bad(self.what, "a struct member lacks its name or value")
            result[names[0].text or ""] = self.value(values[0], depth)
        return result

    def array(self, node: etree._Element, depth: int) -> list[object]:
        if len(node) == 1 and _tag(node[0]) == "data":
            items = node[0]
        else:
            data = [n for n in node if _tag(n) == "data"]
            if len(data) != 1:
                raise _bad(self.what, "an array has no <data>")
            items = data[0]
        values = []
        for item in items:
            if _tag(item) != "value":
                raise _bad(self.what, f"an array holds an unexpected <{_local(item)}>")
            values.append(self.value(item, depth))
        return values


def _read_int(text: str) -> int:
    text = text.strip()
    if not _INT.match(text):
        raise ValueError(text)
    number = int(text)
    if not -_I8 <= number < _I8:
        raise ValueError(text)
    return number


def _read_boolean(text: str) -> bool:
    text = text.strip().lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise ValueError(text)


def _read_double(text: str) -> float:
    text = text.strip()
    if not _DOUBLE.match(text):
        raise ValueError(text)
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def _read_datetime(text: str) -> datetime:
    """dateTime.iso8601, compact (Gandi: 20240301T10:00:00) or extended; no zone means UTC."""
    match = _DATETIME.match(text.strip())
    if not match:
        raise ValueError(text)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    tz: timezone = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01 east of UTC: before the calendar's first day
        raise ValueError(text) from None


def _read_base64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error:
        raise ValueError("base64") from None


_SCALARS: dict[str, Callable[[str], object]] = {
    "int": _read_int,
    "i4": _read_int,
    "i8": _read_int,
    "boolean": _read_boolean,
    "string": str,
    "double": _read_double,
    "dateTime.iso8601": _read_datetime,
    "base64": _read_base64,
}


# -- the transport ----------------------------------------------------------------------
class XmlRpcEndpoint:
    """One XML-RPC endpoint reached through a ProviderHTTP (limits, timeouts, body cap).

    ProviderHTTP retries reads on a transient problem (HTTP 500 without a fault, an
    unreadable body) as on a transport failure; calls that change something are sent
    once, and an unreadable answer to one is flagged ``maybe_applied``.
    """

    def __init__(self, http: ProviderHTTP, url: str) -> None:
        self.http = http
        self.url = url
        self.who = http.who

    async def call(self, method: str, params: Sequence[object], *, idempotent: bool) -> object:
        """Send one call; return its value or raise XmlRpcFault / a ProviderError."""
        return await self.http.call(
            "POST",
            self.url,
            idempotent=idempotent,
            operation=method,
            read=partial(self._interpret, method, idempotent=idempotent),
            content=build_call(method, params),
            headers={"Content-Type": "text/xml", "Accept": "text/xml"},
        )

    def _interpret(
        self, method: str, response: httpx.Response, raw: bytes, *, idempotent: bool
    ) -> object:
        name = self.http.account.name
        status = response.status_code
        content_type = response.headers.get("content-type", "").lower()
        if status >= 500:  # ProviderHTTP leaves these to us: a fault may come with them
            self._raise_fault_in(raw, content_type)
            raise self.http.server_error(status, operation=method, idempotent=idempotent)
        if status in (301, 302, 303, 307, 308):
            where = response.headers.get("location", "").split("?")[0][:200]
            raise ProviderError(
                f"{self.who} redirected the call to {where or 'another address'}; "
                "set the account's base_url to the XML-RPC endpoint itself.",
                account=name,
            )
        if status != 200:
            raise ProviderError(
                f"{self.who} answered HTTP {status} to {method}; check the account's base_url.",
                account=name,
            )
        try:
            if "html" in content_type:
                raise BadReply(
                    f"{self.who} answered {method} with a web page instead of XML-RPC "
                    "(a proxy or login page may be in the way)."
                )
            return parse_response(raw, what=f"The reply of {self.who} to {method}")
        except BadReply as exc:
            if idempotent:
                raise BadReply(exc.message, account=name) from None
            raise unknown_outcome(exc.message.removesuffix("."), account=name) from None

    @staticmethod
    def _raise_fault_in(raw: bytes, content_type: str) -> None:
        """Some servers send faults with HTTP 500: read one if it is there."""
        if "xml" not in content_type:
            return
        try:
            parse_response(raw)
        except BadReply:
            return
