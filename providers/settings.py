"""Settings of one provider account, resolved by the bot's configuration (never the environment)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from providers.registry import PROVIDER_TYPES, descriptor_of

__all__ = [
    "PROVIDER_TYPES",
    "Integer",
    "Number",
    "ProviderAccount",
    "checked_http_url",
    "mask_url",
    "within_fields",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _not_a_boolean(value: object) -> object:
    # pydantic takes true as 1 and false as 0 for a number; in a configuration that's a slip
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


Integer = Annotated[int, BeforeValidator(_not_a_boolean)]
Number = Annotated[float, BeforeValidator(_not_a_boolean)]


def within_fields(
    value: int, info: ValidationInfo, *, at_least: str | None = None, at_most: str | None = None
) -> int:
    """``value`` if it is within the fields named (those read before it, in the same model).

    Raises:
        ValueError: naming the field it is below or above, and that field's value.
    """
    low = info.data.get(at_least) if at_least else None
    if low is not None and value < low:
        raise ValueError(f"must be at least {at_least} ({low})")
    high = info.data.get(at_most) if at_most else None
    if high is not None and value > high:
        raise ValueError(f"must be at most {at_most} ({high})")
    return value


def _userinfo_end(url: str) -> int:
    """Where a user name or password ends (at the last '@' before any query), or -1.

    Not urlsplit's netloc: in ``https://u:12/pw@host`` a password holding '/' would escape it.
    """
    return url.split("?", 1)[0].split("#", 1)[0].rfind("@")


def mask_url(url: str) -> str:
    """The URL as it may be shown: any user name or password replaced by ***."""
    at = _userinfo_end(url)
    if at < 0:
        return url
    scheme, sep, _ = url[:at].partition("://")
    return f"{scheme}{sep}***{url[at:]}" if sep else f"***{url[at:]}"


def checked_http_url(value: str, *, credentials: str) -> str:
    """``value`` if it is an http(s) URL with a host, a valid port and no credentials.

    Args:
        value: the URL as configured.
        credentials: what to tell a person who wrote a user or password into it.

    Raises:
        ValueError: naming the URL with any credentials masked.
    """
    from urllib.parse import urlsplit

    shown = mask_url(value)
    if _userinfo_end(value) >= 0:
        raise ValueError(f"{shown!r} holds a user name or password; {credentials}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown!r} is not an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"{shown!r} has a bad port") from None
    return value


_CREDENTIALS_GO_ELSEWHERE = (
    "secrets don't go in the file: put the user in username and the secret in the variable "
    "named by secret_env"
)


class ProviderAccount(BaseModel):
    """One account at one provider: where it is, how we authenticate, how hard we may call it.

    ``secret`` is the resolved API token / key / password; the configuration file only
    names the environment variable that holds it (``secret_env``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Unique short name used in Slack, e.g. 'whm-east'.")
    type: str = Field(description="The provider type: one that providers.registry lists.")
    base_url: str = Field(description="The provider's API base URL.")
    username: str | None = Field(
        default=None,
        description="cPanel WHM user, OpenSRS reseller username, or Hostway basic-auth user.",
    )
    secret_env: str = Field(description="Name of the environment variable holding the secret.")
    secret: SecretStr = Field(default=SecretStr(""), exclude=True, repr=False)
    account_number: str | None = Field(default=None, description="Hostway customer account number.")
    auth_scheme: Literal["bearer", "basic"] = Field(
        default="bearer", description="Hostway only: how the Authorization header is built."
    )
    api: Literal["v3", "v5"] | None = Field(
        default=None,
        description=(
            "Gandi only: v5 (REST, Personal Access Token) or v3 (XML-RPC, API key); inferred "
            "when absent (providers/gandi/accounts.py)."
        ),
    )
    concurrency: Integer = Field(default=4, ge=1, le=200)
    rate_limit: Number = Field(default=5.0, gt=0, le=10_000, description="Calls per second.")
    timeout: Number = Field(default=10.0, gt=0, le=300, description="Seconds per call.")
    read_retries: Integer = Field(default=2, ge=0, le=10)
    events: bool = Field(
        default=False,
        description="Read the provider's change feed (OpenSRS event notifications) and "
        "poll each transfer only as a daily safety net while the feed answers.",
    )
    event_poll_seconds: Integer = Field(default=60, ge=5, le=3600)
    safety_poll_seconds: Integer = Field(default=86400, ge=60, le=30 * 86400)

    @model_validator(mode="before")
    @classmethod
    def _as_its_provider_takes_them(cls, data: object) -> object:
        """A provider may adjust its settings (Gandi's ``api`` picks gandi or gandi_v5)."""
        if isinstance(data, dict) and data.get("type") in PROVIDER_TYPES:
            adjust = descriptor_of(str(data["type"])).adjust_settings
            if adjust is not None:
                return adjust(dict(data))
        return data

    @model_validator(mode="after")
    def _api_only_where_it_means_something(self) -> ProviderAccount:
        if self.api is not None and descriptor_of(self.type).adjust_settings is None:
            raise ValueError(f"api is a Gandi setting; a {self.type} account takes none")
        return self

    @field_validator("name")
    @classmethod
    def _name_is_short_slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "must be 1-40 lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: object) -> object:
        if not isinstance(value, str) or value not in PROVIDER_TYPES:
            raise ValueError(
                f"unknown provider type {value!r}; choose from {', '.join(PROVIDER_TYPES)}"
            )
        return value

    @field_validator("account_number", mode="before")
    @classmethod
    def _number_as_text(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a number or a string, not true or false")
        return str(value) if isinstance(value, int) else value

    @field_validator("base_url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        return checked_http_url(value, credentials=_CREDENTIALS_GO_ELSEWHERE)

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @field_validator("events", mode="before")
    @classmethod
    def _a_boolean(cls, value: object) -> object:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    @field_validator("safety_poll_seconds")
    @classmethod
    def _not_below_event_poll(cls, value: int, info: ValidationInfo) -> int:
        return within_fields(value, info, at_least="event_poll_seconds")

    def __str__(self) -> str:
        return f"{self.name} ({self.type} at {self.base_url})"
