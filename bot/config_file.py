"""Reading the configuration file: a regular file of at most 1 MiB of TOML, nested a few levels."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

__all__ = ["MAX_CONFIG_BYTES", "MAX_NESTING", "ConfigFileError", "read_config_file"]

MAX_CONFIG_BYTES = 1024 * 1024  # a real configuration is a few kilobytes
MAX_NESTING = 10  # tables and arrays inside one another; the deepest key needs two
_TOO_DEEP = (
    f"nests tables or arrays more than {MAX_NESTING} levels deep; "
    "a configuration needs only two or three"
)


class ConfigFileError(Exception):
    """The file can't be read as a configuration; the message says why, without the path."""


def read_config_file(file: Path, *, missing_hint: str) -> dict[str, Any]:
    """The file's TOML as plain data.

    Args:
        file: the configuration file.
        missing_hint: what to tell a person whose file does not exist.

    Raises:
        ConfigFileError: one line saying what is wrong with the file.
    """
    data = _parse(_read_capped(file, missing_hint))
    if _nesting(data) > MAX_NESTING:
        raise ConfigFileError(_TOO_DEEP)
    return data


def _read_capped(file: Path, missing_hint: str) -> bytes:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(file, flags)
    except FileNotFoundError:
        raise ConfigFileError(f"no such configuration file ({missing_hint})") from None
    except IsADirectoryError:
        raise ConfigFileError("is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigFileError(f"cannot read: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigFileError("is a directory, not a TOML file")
        if not stat.S_ISREG(mode):
            raise ConfigFileError("is not a regular file; give the path of a TOML file")
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with stream:
        try:
            raw = stream.read(MAX_CONFIG_BYTES + 1)  # a file still growing stops here too
        except OSError as exc:
            raise ConfigFileError(f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigFileError(
            "is larger than 1 MiB, too large for a configuration file; "
            "check that --config names the right file"
        )
    return raw


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigFileError("is not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(_toml_problem(str(exc))) from None
    except RecursionError:  # arrays or inline tables nested hundreds deep
        raise ConfigFileError(_TOO_DEEP) from None
    except ValueError as exc:  # int() refusing thousands of digits
        reason = "an integer has too many digits" if "digits" in str(exc) else "unreadable value"
        raise ConfigFileError(f"malformed TOML: {reason}") from None


def _nesting(data: dict[str, Any]) -> int:
    """How deep tables and arrays sit inside the file's top table, counted without recursion."""
    deepest, stack = 0, [(value, 1) for value in data.values()]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                break
            stack.extend((item, depth + 1) for item in _children(value))
    return deepest


def _children(value: dict[str, Any] | list[Any]) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else value


def _toml_problem(text: str) -> str:
    match = re.search(r"\(at line (\d+), column (\d+)\)\s*$", text)
    if not match:
        return f"malformed TOML: {text}"
    reason = text[: match.start()].strip().rstrip(".")
    return f"line {match[1]}, column {match[2]}: malformed TOML: {reason[:1].lower()}{reason[1:]}"
