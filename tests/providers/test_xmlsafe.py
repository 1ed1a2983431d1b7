"""The untrusted-XML parser's own caps: depth, entities, size; the parser is reused safely."""

from __future__ import annotations

import pytest

from providers.errors import BadReply
from providers.xmlsafe import MAX_XML_DEPTH, parse_untrusted_xml


def nested(levels: int) -> bytes:
    return b"<a>" * levels + b"x" + b"</a>" * levels


def test_the_depth_limit_is_exact() -> None:
    root = parse_untrusted_xml(nested(MAX_XML_DEPTH))
    assert root.tag == "a"
    with pytest.raises(BadReply, match=f"more than {MAX_XML_DEPTH} levels"):
        parse_untrusted_xml(nested(MAX_XML_DEPTH + 1))
    with pytest.raises(BadReply, match="more than 3 levels"):
        parse_untrusted_xml(b"<a><b><c><d/></c></b></a>", max_depth=3)
    assert parse_untrusted_xml(b"<a><b><c/></b><b/></a>", max_depth=3).tag == "a"


def test_an_entity_left_to_an_unread_external_dtd_is_refused() -> None:
    with pytest.raises(BadReply, match="uses XML entities"):
        parse_untrusted_xml(b'<!DOCTYPE a SYSTEM "ops.dtd"><a><b>&fromdtd;</b></a>')
    assert parse_untrusted_xml(b'<!DOCTYPE a SYSTEM "ops.dtd"><a><b>ok</b></a>').tag == "a"


def test_a_bad_document_does_not_spoil_the_next_parse() -> None:
    with pytest.raises(BadReply, match="not well-formed"):
        parse_untrusted_xml(b"<a><b></a>")
    assert parse_untrusted_xml(b"<ok>1</ok>").text == "1"


def test_the_size_cap_is_checked_before_parsing() -> None:
    with pytest.raises(BadReply, match="larger than 1 KiB"):
        parse_untrusted_xml(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1024)
