"""Parse XML from the network as untrusted: no entities, DTDs or network; size and depth caps."""

from __future__ import annotations

import threading
from functools import lru_cache

from lxml import etree

from providers.errors import BadReply

__all__ = ["MAX_XML_BYTES", "MAX_XML_DEPTH", "parse_untrusted_xml"]

MAX_XML_BYTES = 1024 * 1024
MAX_XML_DEPTH = 64


class _NothingResolver(etree.Resolver):  # type: ignore[misc]
    """Answers every external lookup (a DTD named in a DOCTYPE) with nothing, unread."""

    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        return self.resolve_string("", context)


_local = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's parser: made once (lxml parsers may be reused, one thread each)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _new_parser()
    return parser


def _new_parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    parser.resolvers.add(_NothingResolver())
    return parser


def parse_untrusted_xml(
    body: bytes,
    *,
    what: str = "The provider's reply",
    max_bytes: int = MAX_XML_BYTES,
    max_depth: int = MAX_XML_DEPTH,
) -> etree._Element:
    """Return the root element, or raise BadReply with a sentence a user can read.

    A DOCTYPE that only names an external DTD (OpenSRS's ``ops.dtd``) is accepted and
    never fetched; a document that declares anything in an internal subset (entities,
    the stuff of billion-laughs and external-entity attacks) is refused outright.
    """
    if len(body) > max_bytes:
        raise BadReply(f"{what} is larger than {max_bytes // 1024} KiB; it was not read.")
    head = body[:4096].lower()
    if b"<!entity" in head or (b"<!doctype" in head and b"[" in _doctype(head)):
        raise BadReply(f"{what} declares XML entities, which we never accept.")
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError:
        raise BadReply(f"{what} is not well-formed XML.") from None
    except ValueError:
        raise BadReply(f"{what} is not XML we can read.") from None
    if root is None:
        raise BadReply(f"{what} is empty.")
    docinfo = root.getroottree().docinfo
    internal = docinfo.internalDTD
    if internal is not None and (list(internal.iterentities()) or list(internal.elements())):
        raise BadReply(f"{what} declares XML entities, which we never accept.")
    if _deeper_than(max_depth)(root):
        raise BadReply(f"{what} is nested more than {max_depth} levels deep; it was not read.")
    if next(root.iter(etree.Entity), None) is not None:
        raise BadReply(f"{what} uses XML entities, which we never accept.")
    return root


def _doctype(head: bytes) -> bytes:
    start = head.find(b"<!doctype")
    end = head.find(b">", start)
    return head[start : end if end != -1 else len(head)]


@lru_cache(maxsize=8)
def _deeper_than(limit: int) -> etree.XPath:
    """Whether an element sits more than ``limit`` levels deep (the root is level 1),
    asked of libxml2 in one XPath instead of a walk in Python."""
    return etree.XPath("boolean(" + "/".join(["*"] * limit) + ")")
