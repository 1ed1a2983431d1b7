"""Logging for the bot's processes: one handler on the root logger, text or JSON, secrets masked."""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from providers.base import mask_secret

__all__ = ["LOG_LEVELS", "SecretMasker", "configure_logging", "installed_masker"]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MIN_MASKED = 4  # shorter values would mask ordinary words


class SecretMasker(logging.Filter):
    """Replaces every registered secret value in log records with a mask.

    The configuration's secrets (tokens, API keys) are registered for the life of the
    process (:meth:`register`); a secret typed into a form (a new authInfo) only while the
    work that holds it runs (:meth:`masking`), and only once the input is known to be a
    secret one and its sender allowed to send it: a masker that kept every value ever
    typed would hide ordinary words from every log line and slow each one down. The
    filter sits on the handler that :func:`configure_logging` installs, so it sees records
    from every logger.
    """

    def __init__(self) -> None:
        super().__init__()
        self._kept: set[str] = set()
        self._scoped: Counter[str] = Counter()
        self._values: tuple[str, ...] = ()

    def register(self, *values: str | None) -> None:
        """Mask these values for the life of the process; values under 4 characters are ignored."""
        self._kept |= {v for v in values if v and len(v) >= MIN_MASKED}
        self._refresh()

    @contextmanager
    def masking(self, *values: str | None) -> Iterator[None]:
        """Mask these values while the block runs (nested and concurrent uses are counted)."""
        held = [v for v in values if v and len(v) >= MIN_MASKED]
        self._scoped.update(held)
        self._refresh()
        try:
            yield
        finally:
            self._scoped.subtract(held)
            self._scoped += Counter()  # drop the values no block holds any more
            self._refresh()

    @property
    def size(self) -> int:
        """How many values are masked now."""
        return len(self._values)

    def _refresh(self) -> None:
        known = self._kept | set(self._scoped)
        self._values = tuple(sorted(known, key=len, reverse=True))  # longest first

    def mask(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, mask_secret(value))
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._values:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it
            return True
        record.msg, record.args = self.mask(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def installed_masker() -> SecretMasker:
    """The masker on the handler :func:`configure_logging` installed (logging's own state,
    which is the process's); a fresh one, on no handler, before logging is configured."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_transferbot", False):
            for found in handler.filters:
                if isinstance(found, SecretMasker):
                    return found
    return SecretMasker()


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str = "info",
    fmt: str = "text",
    *,
    masker: SecretMasker | None = None,
    stream: TextIO | None = None,
) -> None:
    """Send every logger's records to stderr as text or JSON, with secrets masked.

    Args:
        level: debug, info, warning, error or critical.
        fmt: "text" or "json".
        masker: the SecretMasker to apply; by default the one installed before, if any.
        stream: where to write; sys.stderr by default.
    """
    masker = masker if masker is not None else installed_masker()  # keep what it knows
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_transferbot", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._transferbot = True  # type: ignore[attr-defined]
    handler.addFilter(masker)
    handler.setFormatter(
        _JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for noisy in (
        "httpx",  # one line per HTTP call
        "httpcore",
        "uvicorn.access",
        "apscheduler.executors",  # two lines per watcher tick; failed jobs are still logged
        "apscheduler.scheduler",  # "Adding job tentatively", once per job at start
        "alembic.runtime.plugins",  # one line per alembic plugin at every migration
    ):
        logging.getLogger(noisy).setLevel(quiet)
