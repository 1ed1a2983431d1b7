"""Read JSON from the network as untrusted: a content-type check, a size cap and a depth cap."""

from __future__ import annotations

import json

from providers.errors import BadReply

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "is_json_type", "parse_untrusted_json"]

MAX_JSON_BYTES = 256 * 1024  # a provider's JSON status is a few KiB
MAX_JSON_DEPTH = 32  # objects and arrays inside each other; provider replies use three or four


def is_json_type(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON (``application/json``, ``…+json``), parameters aside."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def parse_untrusted_json(
    body: bytes,
    *,
    what: str = "The provider's reply",
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> object:
    """The decoded value, or BadReply with a sentence a person can read.

    The size is checked before decoding; the depth after (the standard decoder refuses
    nesting deeper than the interpreter's recursion limit with RecursionError, caught
    here, and anything past ``max_depth`` is refused by an iterative walk).
    """
    if len(body) > max_bytes:
        raise BadReply(f"{what} is larger than {max_bytes // 1024} KiB; it was not read.")
    try:
        value = json.loads(body)
    except RecursionError:
        raise BadReply(
            f"{what} is nested more than {max_depth} levels deep; it was not read."
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise BadReply(f"{what} is not valid JSON.") from None
    if _deeper_than(value, max_depth):
        raise BadReply(f"{what} is nested more than {max_depth} levels deep; it was not read.")
    return value


def _deeper_than(value: object, limit: int) -> bool:
    """Whether a container sits more than ``limit`` levels deep (the top one is level 1)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
