"""Small pieces the provider clients share: provider words made safe to show, secrets masked,
domains read from refs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from providers.base import mask_secret
from providers.errors import ProviderError

__all__ = ["ascii_digits", "normalize_domain", "one_line", "scalar_text", "scrub", "scrub_error"]

logger = logging.getLogger(__name__)

_MIN_SECRET = 4  # shorter "secrets" would mask ordinary words
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")  # one DNS label, as ASCII


def ascii_digits(text: str) -> bool:
    """Whether text is all ASCII digits (``isdigit`` also takes ``"²"``, which int() refuses)."""
    return text.isascii() and text.isdigit()


def one_line(text: object, limit: int = 300) -> str:
    """Provider words made safe for one sentence: one line, no control characters, bounded."""
    cleaned = " ".join(str(text).split())
    cleaned = "".join(ch for ch in cleaned if ch.isprintable())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def scalar_text(value: object) -> str:
    """A scalar from a reply (a string or number) as stripped text; "" for None, a boolean, a
    container or bytes, which are not words to show."""
    if value is None or isinstance(value, bool | dict | list | bytes):
        return ""
    return str(value).strip()


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Text with every secret in it masked: providers may echo back what we sent."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            text = text.replace(secret, mask_secret(secret))
    return text


def scrub_error(exc: ProviderError, secrets: Iterable[str | None]) -> ProviderError:
    """The same error with every secret masked in its message and detail."""
    secrets = list(secrets)
    exc.message = scrub(exc.message, secrets)
    exc.args = (exc.message,)
    exc.detail = scrub(exc.detail, secrets) if exc.detail else None
    return exc


def normalize_domain(ref: str) -> str | None:
    """The domain a ref names, lower-case and ASCII (IDNA), or None if it is not one."""
    name = ref.strip().rstrip(".").lower()
    if not name or len(name) > 253:
        return None
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    return name
