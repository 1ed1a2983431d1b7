"""Configuration values: the error, the defaults, the base of every section, and the value
types keys are read as (durations, Slack ids, URLs, time zones), each refusing a bad value
in one phrase."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from providers.registry import PROVIDER_TYPES
from providers.settings import checked_http_url

logger = logging.getLogger(__name__)

CONFIG_PATH_ENV = "TRANSFERBOT_CONFIG"
DEFAULT_CONFIG_PATH = Path("transferbot.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./transferbot.sqlite3"
MIN_SECRET_KEY_LENGTH = 16  # storage accepts a Fernet key or a passphrase this long

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ConfigError(Exception):
    """The configuration can't be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# -- value types ---------------------------------------------------------------------------


def matching(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


EnvName = Annotated[str, matching(r"^[A-Za-z_][A-Za-z0-9_]*$", "an environment variable name")]
UserId = Annotated[str, matching(r"^[UW][A-Z0-9]{2,}$", "a Slack user id (U… or W…)")]
GroupId = Annotated[str, matching(r"^S[A-Z0-9]{2,}$", "a Slack user-group id (S…)")]
ChannelId = Annotated[str, matching(r"^[CG][A-Z0-9]{2,}$", "a Slack channel id (C… or G…)")]


MAX_DURATION = timedelta(days=3650)  # ten years: longer is a typo, and overflows timedelta


def parse_duration(value: object) -> timedelta:
    """'90s', '15m', '2h', '3d', '1w', '1h30m' or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        parts = _DURATION_PART.findall(text)
        if not parts or _DURATION_PART.sub("", text).strip():
            raise ValueError(f"{value!r} is not a duration like '90s', '15m', '2h' or '3d'")
        seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts)
    else:
        raise ValueError("must be a duration like '90s', '15m', '2h' or '3d'")
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    if not seconds <= MAX_DURATION.total_seconds():  # also refuses NaN and infinity
        raise ValueError(f"must be at most {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _stall_key(key: str) -> str:
    provider, sep, status = key.partition(":")
    if key != "default" and (not sep or not status.strip()):
        raise ValueError("must be 'default' or 'provider:status'")
    if sep and provider not in PROVIDER_TYPES:
        raise ValueError(f"{provider!r} is not a provider type ({', '.join(PROVIDER_TYPES)})")
    return key if key == "default" else f"{provider}:{status.strip()}"


StallKey = Annotated[str, AfterValidator(_stall_key)]


def _time_zone(name: str) -> str:
    """An IANA zone name zoneinfo knows (the system's database, else the tzdata package)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name!r} is not an IANA time zone; use a name like 'Europe/Paris' or "
            "'America/New_York'"
        ) from None
    return name


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]


def off_or_duration(value: object) -> timedelta | None:
    if isinstance(value, str) and value.strip().lower() == "off":
        return None
    return parse_duration(value)


def slack_api_url(value: str) -> str:
    checked = checked_http_url(
        value, credentials="Slack's Web API takes none: give its address alone"
    )
    return checked.rstrip("/") + "/"


def checked_database_url(value: str) -> str:
    """Storage's reading of the URL (``storage.database.database_url``), host and port checked.

    Never echoes the URL: it may hold a password.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from storage.database import database_url  # lazy: storage loads alembic (0.2 s)
    from storage.errors import DatabaseUnavailable  # lazy: as above

    scheme, sep, _ = value.partition("://")
    if not sep or not scheme:
        raise ValueError(f"is not a database URL; use {_DATABASE_URL_FORMS}")
    try:
        parsed = make_url(value)
    except ValueError:  # int() of the port
        raise ValueError(_BAD_PORT) from None
    except ArgumentError:
        raise ValueError(f"is not a valid database URL; use {_DATABASE_URL_FORMS}") from None
    try:
        url = database_url(parsed)
    except DatabaseUnavailable:  # it parsed, so storage refuses the driver
        raise ValueError(
            f"uses driver {scheme!r}, which is not supported; use sqlite+aiosqlite or "
            "postgresql+psycopg"
        ) from None
    if url.get_backend_name() != "sqlite":
        if url.host and "@" in url.host:  # the password's own '@' ended it early
            raise ValueError(
                "has an '@' after the one before the host; write an '@' in the user name or "
                "password as %40"
            )
        if url.port is not None and not 1 <= url.port <= 65535:
            raise ValueError(_BAD_PORT)
        if not url.host and "host" not in url.query:
            raise ValueError(
                "has no host; use postgresql+psycopg://USER:PASSWORD@HOST/DB (or ?host=/socket/dir)"
            )
    return f"{url.drivername}://{value.partition('://')[2]}"  # as written, but the driver


_DATABASE_URL_FORMS = "sqlite+aiosqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB"
_BAD_PORT = "has a bad port; use a number from 1 to 65535"


def mask_database_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.partition("://")[0] + "://***"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def secret_field(description: str) -> Any:
    return Field(default=None, exclude=True, repr=False, description=description)
