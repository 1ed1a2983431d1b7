"""The classic attacks on an XML parser, built once for each XML client's tests.

Gandi's and OpenSRS's test modules and the reliability suite's attack table each wrap these
in their own client's reply and add the attacks that are their own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

Body = TypeVar("Body", str, bytes)


def classic_attacks(
    document: Callable[[str, str], Body], root: str, sentinel: Path | str, canary: str
) -> dict[str, Body]:
    """Each attack as a whole reply, by name.

    Args:
        document: ``document(doctype, value)`` is the client's reply with ``doctype`` before
            its root element and ``value`` where a shown value belongs.
        root: the name of that root element.
        sentinel: a file no attack may get read.
        canary: a URL no attack may get opened.
    """
    laughs = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    return {
        "external entity, local file": document(
            f'<!DOCTYPE {root} [<!ENTITY x SYSTEM "file://{sentinel}">]>', "&x;"
        ),
        "external entity, URL": document(
            f'<!DOCTYPE {root} [<!ENTITY x SYSTEM "{canary}/x">]>', "&x;"
        ),
        "parameter entity, URL": document(
            f'<!DOCTYPE {root} [<!ENTITY % p SYSTEM "{canary}/p.dtd"> %p;]>', "x"
        ),
        "external DTD, local file": document(f'<!DOCTYPE {root} SYSTEM "{sentinel}">', "x"),
        "external DTD, URL": document(f'<!DOCTYPE {root} SYSTEM "{canary}/d.dtd">', "x"),
        "billion laughs": document(f"<!DOCTYPE {root} [{laughs}]>", "&l9;"),
        "quadratic blow-up": document(
            f'<!DOCTYPE {root} [<!ENTITY a "{"a" * 50_000}">]>', "&a;" * 20_000
        ),
    }
