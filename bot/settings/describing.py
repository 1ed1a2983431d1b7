"""Describing configuration problems in our words: key paths, "did you mean", and
pydantic's errors as one phrase each."""

from __future__ import annotations

import difflib
import logging
import re
from typing import Any

from pydantic import BaseModel

logger = logging.getLogger(__name__)


def printable(text: str) -> str:
    return text if text.isprintable() else repr(text)


def key_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            path += f".{part}"
        else:
            shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in part)
            path += f'."{shown}"'
    return path


def suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# keys other tools (and Gandi's words) use for an account's credential variable
_CREDENTIAL_KEYS = frozenset(
    {"token_env", "api_key_env", "apikey_env", "key_env", "pat_env", "password_env"}
)


def describe_error(model: type[BaseModel], error: Any) -> str:
    kind, loc, msg = error["type"], error["loc"], error["msg"]
    if kind == "extra_forbidden":
        if len(loc) == 1 and "secret_env" in model.model_fields and loc[0] in _CREDENTIAL_KEYS:
            return (
                "unknown key (did you mean 'secret_env'? every account names the variable "
                "holding its token or key there, a Gandi PAT or API key too)"
            )
        known = [n for n, f in model.model_fields.items() if not f.exclude] if len(loc) == 1 else []
        return "unknown key" + suggest(str(loc[-1]), known)
    if kind == "missing":
        return "is required"
    text = str(msg).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return text.replace("Input should be", "must be")
