"""OpenSRS XCP on the wire: envelopes built, parsed safely and signed; response codes as errors."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from providers._common import ascii_digits, one_line
from providers.errors import (
    AuthenticationFailed,
    BadReply,
    InvalidInput,
    NotAllowedNow,
    ProviderError,
    RateLimited,
    TransferNotFound,
    Unavailable,
)
from providers.xmlsafe import parse_untrusted_xml

__all__ = [
    "CODE_ERRORS",
    "DOCTYPE",
    "Reply",
    "Request",
    "build_envelope",
    "build_reply",
    "build_request",
    "clean_text",
    "error_from_reply",
    "parse_envelope",
    "parse_reply",
    "parse_request",
    "sign",
]

logger = logging.getLogger(__name__)

DOCTYPE = "<!DOCTYPE OPS_envelope SYSTEM 'ops.dtd'>"
VERSION = "0.9"
# the only document types an envelope may declare: OpenSRS's, by name, never fetched
_DOCTYPE_DECL = re.compile(rb"<!doctype[^>]*>?", re.IGNORECASE)
_ALLOWED_DOCTYPES = {
    b"<!doctype ops_envelope>",
    b"<!doctype ops_envelope system 'ops.dtd'>",
    b'<!doctype ops_envelope system "ops.dtd">',
}


def sign(body: bytes, key: str) -> str:
    """``md5hex(md5hex(body + key) + key)``: the X-Signature of a request body."""
    inner = hashlib.md5(body + key.encode(), usedforsecurity=False).hexdigest()
    return hashlib.md5((inner + key).encode(), usedforsecurity=False).hexdigest()


# -- building ---------------------------------------------------------------------------------


def build_envelope(data: Mapping[str, Any]) -> bytes:
    """The OPS_envelope carrying ``data`` (a mapping) as its data_block."""
    root = etree.Element("OPS_envelope")
    etree.SubElement(etree.SubElement(root, "header"), "version").text = VERSION
    block = etree.SubElement(etree.SubElement(root, "body"), "data_block")
    try:
        _append_value(block, data)
    except ValueError:  # lxml refuses control characters and the like
        raise InvalidInput("A value contains characters that cannot be sent to OpenSRS.") from None
    document: bytes = etree.tostring(
        root, xml_declaration=True, encoding="UTF-8", standalone=False, doctype=DOCTYPE
    )
    return document


def build_request(action: str, object_: str, attributes: Mapping[str, Any]) -> bytes:
    """An XCP request, in the shape and key order of seed 001."""
    return build_envelope(
        {"protocol": "XCP", "action": action, "object": object_, "attributes": attributes}
    )


def build_reply(
    object_: str, code: int, text: str, attributes: Mapping[str, Any] | None = None
) -> bytes:
    """An XCP reply (``is_success`` follows from ``code == 200``), in seed 001's key order."""
    data: dict[str, Any] = {
        "protocol": "XCP",
        "action": "REPLY",
        "object": object_,
        "is_success": "1" if code == 200 else "0",
        "response_text": text,
        "response_code": str(code),
    }
    if attributes is not None:
        data["attributes"] = attributes
    return build_envelope(data)


def _append_value(parent: etree._Element, value: Any) -> None:
    if isinstance(value, Mapping):
        assoc = etree.SubElement(parent, "dt_assoc")
        for key, item in value.items():
            _append_value(etree.SubElement(assoc, "item", key=str(key)), item)
    elif isinstance(value, list | tuple):
        array = etree.SubElement(parent, "dt_array")
        for index, item in enumerate(value):
            _append_value(etree.SubElement(array, "item", key=str(index)), item)
    elif value is None or value == "":
        return  # <item key="x"/>
    elif isinstance(value, bool):
        parent.text = "1" if value else "0"
    else:
        parent.text = str(value)


# -- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """An XCP reply: whether it worked, OpenSRS's code and words, and its attributes."""

    object: str
    is_success: bool
    response_code: int
    response_text: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Request:
    """An XCP request as a server reads it; action and object upper-cased."""

    action: str
    object: str
    protocol: str
    attributes: dict[str, Any] = field(default_factory=dict)


def parse_envelope(body: bytes, *, what: str = "The OpenSRS reply") -> dict[str, Any]:
    """The data_block of an OPS_envelope as plain dicts, lists and strings.

    Parses only through :func:`providers.xmlsafe.parse_untrusted_xml`; anything that is
    not a well-formed envelope raises BadReply.
    """
    _screen(body, what)
    root = parse_untrusted_xml(body, what=what)
    if root.tag != "OPS_envelope":
        raise BadReply(f"{what} is not an OpenSRS envelope.")
    blocks = root.findall("body/data_block")
    if len(blocks) != 1:
        raise BadReply(f"{what} has no data block.")
    data = _value_of(blocks[0], what)
    if not isinstance(data, dict):
        raise BadReply(f"{what} does not hold a map of values.")
    return data


def parse_reply(body: bytes, *, what: str = "The OpenSRS reply") -> Reply:
    """Read an XCP reply; BadReply unless it is a REPLY with a success flag and a code."""
    data = parse_envelope(body, what=what)
    if str(data.get("action", "")).upper() != "REPLY":
        raise BadReply(f"{what} is not a REPLY.")
    flag = data.get("is_success")
    if flag not in ("0", "1"):
        raise BadReply(f"{what} does not say whether the command succeeded.")
    code = data.get("response_code")
    if not isinstance(code, str) or not ascii_digits(code):
        raise BadReply(f"{what} has no response code.")
    text = data.get("response_text", "")
    attributes = data.get("attributes", {})
    if attributes == "":
        attributes = {}
    if not isinstance(text, str) or not isinstance(attributes, dict):
        raise BadReply(f"{what} has a response text or attributes of the wrong shape.")
    return Reply(
        object=str(data.get("object", "")),
        is_success=flag == "1",
        response_code=int(code),
        response_text=text,
        attributes=attributes,
    )


def parse_request(body: bytes) -> Request:
    """Read an XCP request (for the simulator); BadReply if it is not one."""
    what = "The request"
    data = parse_envelope(body, what=what)
    action, object_ = data.get("action"), data.get("object")
    attributes = data.get("attributes", {})
    if attributes == "":
        attributes = {}
    if not isinstance(action, str) or not isinstance(object_, str) or not action:
        raise BadReply(f"{what} names no action or object.")
    if not isinstance(attributes, dict):
        raise BadReply(f"{what} has attributes that are not a map.")
    return Request(
        action=action.upper(),
        object=object_.upper(),
        protocol=str(data.get("protocol", "")),
        attributes=attributes,
    )


def _screen(body: bytes, what: str) -> None:
    """Refuse, before any parser sees it, a body that is not UTF-8 XML or that declares
    any document type but ``OPS_envelope SYSTEM 'ops.dtd'`` (a DTD path or URL of the
    sender's choosing is a file or connection we would otherwise open)."""
    if not body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise BadReply(f"{what} is not XML we can read.")
    for declaration in _DOCTYPE_DECL.findall(body):
        words = declaration.lower().rstrip(b">").split()
        if b" ".join(words) + b">" not in _ALLOWED_DOCTYPES:
            raise BadReply(f"{what} declares a document type we do not accept; it was not read.")


def _value_of(node: etree._Element, what: str) -> Any:
    children = [child for child in node if isinstance(child.tag, str)]
    if not children:
        return (node.text or "").strip()
    if len(children) > 1:
        raise BadReply(f"{what} has an item holding more than one value.")
    child = children[0]
    if child.tag == "dt_assoc":
        return _assoc_of(child, what)
    if child.tag == "dt_array":
        return _array_of(child, what)
    if child.tag in ("dt_scalar", "dt_scalarref"):
        return (child.text or "").strip()
    raise BadReply(f"{what} has an element <{child.tag}> where a value belongs.")


def _items_of(node: etree._Element, what: str) -> list[tuple[str, Any]]:
    items = []
    for child in node:
        if not isinstance(child.tag, str):
            continue
        key = child.get("key")
        if child.tag != "item" or key is None:
            raise BadReply(f"{what} has an entry that is not a keyed item.")
        items.append((key, _value_of(child, what)))
    return items


def _assoc_of(node: etree._Element, what: str) -> dict[str, Any]:
    items = _items_of(node, what)
    result = dict(items)
    if len(result) != len(items):
        raise BadReply(f"{what} repeats a key in a map.")
    return result


def _array_of(node: etree._Element, what: str) -> list[Any]:
    items = _items_of(node, what)
    if not all(ascii_digits(key) for key, _ in items):
        raise BadReply(f"{what} has a list item whose key is not a number.")
    indexed = {int(key): value for key, value in items}
    if len(indexed) != len(items):
        raise BadReply(f"{what} repeats an index in a list.")
    return [indexed[index] for index in sorted(indexed)]


# -- response codes ---------------------------------------------------------------------------

RATE_LIMIT_WAIT = 60.0

# response code -> (error type, what the user can do)
CODE_ERRORS: dict[int, tuple[type[ProviderError], str]] = {
    300: (RateLimited, "try again in a minute"),
    310: (RateLimited, "try again in a minute"),
    350: (RateLimited, "try again in a minute"),
    400: (Unavailable, "try again in a few minutes, and check that our IP address is allowed"),
    404: (Unavailable, "try again in a few minutes"),
    405: (Unavailable, "the registry had a problem; try again later"),
    410: (AuthenticationFailed, "check the account's reseller username and API key"),
    415: (InvalidInput, "the registrant's authorization was refused; check the auth code"),
    430: (NotAllowedNow, "OpenSRS does not accept that command for this transfer"),
    435: (NotAllowedNow, "the order's state or the reseller's rights do not allow it"),
    436: (InvalidInput, "OpenSRS found the request invalid"),
    437: (NotAllowedNow, "another request is pending on this domain; try again later"),
    460: (InvalidInput, "a value OpenSRS needs is missing"),
    465: (InvalidInput, "a value sent to OpenSRS is not valid"),
    480: (TransferNotFound, "check the order id or domain and the account"),
    485: (NotAllowedNow, "it already exists at OpenSRS"),
    486: (Unavailable, "the domain is being processed; try again in a few minutes"),
    487: (NotAllowedNow, "the domain cannot be transferred now"),
}

_INVALID_COMMAND = (NotAllowedNow, "OpenSRS does not accept that command here")
_UNKNOWN = (ProviderError, "check the transfer at OpenSRS")


def clean_text(text: str, *, limit: int = 200) -> str:
    """Provider words made safe for one sentence: one line, bounded, no trailing stop."""
    return one_line(text, limit).rstrip(".") or "no reason given"


def error_from_reply(reply: Reply, *, account: str, operation: str) -> ProviderError:
    """The error for a reply whose ``is_success`` is 0, naming the account and OpenSRS's words.

    Args:
        reply: the parsed, unsuccessful reply.
        account: our name for the provider account.
        operation: the XCP action that was sent, e.g. ``CANCEL_TRANSFER``.
    """
    code = reply.response_code
    text = clean_text(reply.response_text)
    kind, advice = CODE_ERRORS.get(code, _UNKNOWN)
    if code == 400 and "invalid command" in text.lower():
        kind, advice = _INVALID_COMMAND
    message = f"opensrs account '{account}' answered {operation} with {code} “{text}”; {advice}."
    detail = f"{code} {text}"
    logger.info("opensrs %s on %s refused: %s", operation, account, detail)
    if kind is RateLimited:
        return RateLimited(message, retry_after=RATE_LIMIT_WAIT, account=account, detail=detail)
    return kind(message, account=account, detail=detail)
